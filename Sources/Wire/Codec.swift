import CFarmProto
import CProtobufC
import Foundation
import VTA

/// Envelope <-> bytes through protobuf-c. Every C allocation made to encode is released before
/// `encode` returns, and every unpacked message is freed before `decode` returns.
public enum Codec {
    /// Serializes a message in an Envelope carrying `version`.
    public static func encode(_ message: Message, version: UInt32 = protocolVersion) -> [UInt8] {
        let heap = CHeap()
        defer { heap.release() }
        var env = Vtafarm__V1__Envelope()
        vtafarm__v1__envelope__init(&env)
        env.protocol_version = version
        switch message {
        case .hello(let h):
            let p = heap.make(Vtafarm__V1__Hello(), vtafarm__v1__hello__init)
            p.pointee.coordinator = heap.string(h.coordinator)
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_HELLO
            env.hello = p
        case .welcome(let w):
            let p = heap.make(Vtafarm__V1__Welcome(), vtafarm__v1__welcome__init)
            p.pointee.runner = heap.string(w.runner)
            p.pointee.slots = UInt32(clamping: w.slots)
            p.pointee.simulator_version = heap.string(w.simulatorVersion)
            p.pointee.protocol_version = w.protocolVersion
            p.pointee.instance_id = w.instanceID
            let list = heap.array(w.backends.map { Optional(heap.string($0)) })
            p.pointee.n_backends = w.backends.count
            p.pointee.backends = list
            p.pointee.n_features = w.features.count
            p.pointee.features = heap.array(w.features.map { Optional(heap.string($0)) })
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_WELCOME
            env.welcome = p
        case .measureRequest(let r):
            let p = heap.make(Vtafarm__V1__MeasureRequest(), vtafarm__v1__measure_request__init)
            p.pointee.request_id = r.requestID
            p.pointee.task = heap.string(r.task)
            p.pointee.workload = encodeWorkload(r.workload, heap)
            p.pointee.hardware = encodeHardware(r.hardware, heap)
            p.pointee.schedule = encodeSchedule(r.schedule, heap)
            p.pointee.backend = heap.string(r.backend)
            p.pointee.timeout_ms = r.timeoutMs
            p.pointee.shift = Int32(clamping: r.shift)
            p.pointee.verify = r.verify ? 1 : 0
            p.pointee.data_seed = r.dataSeed
            if let search = r.search {
                let l = heap.make(Vtafarm__V1__LayerSearch(), vtafarm__v1__layer_search__init)
                l.pointee.space_size = search.spaceSize
                p.pointee.search = l
            }
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_MEASURE_REQUEST
            env.measure_request = p
        case .measureResult(let r):
            let p = heap.make(Vtafarm__V1__MeasureResult(), vtafarm__v1__measure_result__init)
            p.pointee.request_id = r.requestID
            p.pointee.status = Self.cStatus(r.status)
            p.pointee.cycles = r.cycles
            let c = heap.make(Vtafarm__V1__Counters(), vtafarm__v1__counters__init)
            c.pointee.instructions = r.counters.instructions
            c.pointee.gemm_uops = r.counters.gemmUops
            c.pointee.alu_uops = r.counters.aluUops
            c.pointee.dram_bytes_read = r.counters.dramBytesRead
            c.pointee.dram_bytes_written = r.counters.dramBytesWritten
            c.pointee.load_busy = r.counters.loadBusy
            c.pointee.compute_busy = r.counters.computeBusy
            c.pointee.store_busy = r.counters.storeBusy
            p.pointee.counters = c
            p.pointee.invalid_reason = heap.string(r.invalidReason)
            p.pointee.error = heap.string(r.error)
            p.pointee.wall_seconds = r.wallSeconds
            p.pointee.runner = heap.string(r.runner)
            if let search = r.search { p.pointee.search = encodeSearchOutcome(search, heap) }
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_MEASURE_RESULT
            env.measure_result = p
        case .ping(let nonce):
            let p = heap.make(Vtafarm__V1__Ping(), vtafarm__v1__ping__init)
            p.pointee.nonce = nonce
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_PING
            env.ping = p
        case .pong(let pong):
            let p = heap.make(Vtafarm__V1__Pong(), vtafarm__v1__pong__init)
            p.pointee.nonce = pong.nonce
            p.pointee.slots = UInt32(clamping: pong.slots)
            p.pointee.busy_slots = UInt32(clamping: pong.busySlots)
            p.pointee.queue_depth = UInt32(clamping: pong.queueDepth)
            p.pointee.instance_id = pong.instanceID
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_PONG
            env.pong = p
        case .error(let e):
            let p = heap.make(Vtafarm__V1__Error(), vtafarm__v1__error__init)
            p.pointee.code = Vtafarm__V1__Error__Code(rawValue: UInt32(e.code.rawValue))
            p.pointee.message = heap.string(e.message)
            p.pointee.request_id = e.requestID
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_ERROR
            env.error = p
        case .register(let info):
            let p = heap.make(Vtafarm__V1__Register(), vtafarm__v1__register__init)
            p.pointee.runner = encodeRunnerInfo(info, heap)
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_REGISTER
            env.register_ = p
        case .heartbeat(let h):
            let p = heap.make(Vtafarm__V1__Heartbeat(), vtafarm__v1__heartbeat__init)
            p.pointee.name = heap.string(h.name)
            p.pointee.instance_id = h.instanceID
            p.pointee.busy_slots = UInt32(clamping: h.busySlots)
            p.pointee.queue_depth = UInt32(clamping: h.queueDepth)
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_HEARTBEAT
            env.heartbeat = p
        case .deregister(let name, let instanceID):
            let p = heap.make(Vtafarm__V1__Deregister(), vtafarm__v1__deregister__init)
            p.pointee.name = heap.string(name)
            p.pointee.instance_id = instanceID
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_DEREGISTER
            env.deregister = p
        case .trackerAck(let a):
            let p = heap.make(Vtafarm__V1__TrackerAck(), vtafarm__v1__tracker_ack__init)
            p.pointee.known = a.known ? 1 : 0
            p.pointee.heartbeat_interval_ms = a.heartbeatIntervalMs
            p.pointee.expiry_intervals = a.expiryIntervals
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_TRACKER_ACK
            env.tracker_ack = p
        case .subscribe(let pool, let coordinator):
            let p = heap.make(Vtafarm__V1__Subscribe(), vtafarm__v1__subscribe__init)
            p.pointee.pool = heap.string(pool)
            p.pointee.coordinator = heap.string(coordinator)
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_SUBSCRIBE
            env.subscribe = p
        case .query(let pool):
            let p = heap.make(Vtafarm__V1__Query(), vtafarm__v1__query__init)
            p.pointee.pool = heap.string(pool)
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_QUERY
            env.query = p
        case .poolListing(let l):
            let p = heap.make(Vtafarm__V1__PoolListing(), vtafarm__v1__pool_listing__init)
            let list = heap.array(l.runners.map { Optional(encodeRunnerInfo($0, heap)) })
            p.pointee.n_runners = l.runners.count
            p.pointee.runners = list
            p.pointee.heartbeat_interval_ms = l.heartbeatIntervalMs
            p.pointee.expiry_intervals = l.expiryIntervals
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_POOL_LISTING
            env.pool_listing = p
        case .poolEvent(let ev):
            let p = heap.make(Vtafarm__V1__PoolEvent(), vtafarm__v1__pool_event__init)
            p.pointee.kind = Vtafarm__V1__PoolEvent__Kind(rawValue: UInt32(ev.kind.rawValue))
            p.pointee.runner = encodeRunnerInfo(ev.runner, heap)
            p.pointee.reason = heap.string(ev.reason?.rawValue ?? "")
            env.body_case = VTAFARM__V1__ENVELOPE__BODY_POOL_EVENT
            env.pool_event = p
        }
        let size = vtafarm__v1__envelope__get_packed_size(&env)
        var out = [UInt8](repeating: 0, count: size)
        out.withUnsafeMutableBufferPointer { _ = vtafarm__v1__envelope__pack(&env, $0.baseAddress) }
        return out
    }

    /// Parses one frame. Throws a WireError (malformed or version mismatch) that a runner can
    /// send straight back.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Message {
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let env = vtafarm__v1__envelope__unpack(nil, bytes.count, base) else {
            throw WireError(
                code: .malformed, message: "the frame (\(bytes.count) bytes) is not a serialized vtafarm.v1.Envelope")
        }
        defer { vtafarm__v1__envelope__free_unpacked(env, nil) }
        let e = env.pointee
        guard e.protocol_version == protocolVersion else {
            throw WireError(
                code: .versionMismatch,
                message:
                    "protocol_version \(e.protocol_version) is not spoken here (this side speaks \(protocolVersion))")
        }
        if let field = withUnsafePointer(to: vtafarm__v1__envelope__descriptor, { stringFieldWithNUL(bytes, $0) }) {
            throw WireError(
                code: .malformed, message: "string field \(field) holds a NUL byte",
                requestID: e.body_case == VTAFARM__V1__ENVELOPE__BODY_MEASURE_REQUEST
                    ? e.measure_request.pointee.request_id : 0)
        }
        switch e.body_case {
        case VTAFARM__V1__ENVELOPE__BODY_HELLO:
            return .hello(Hello(coordinator: str(e.hello.pointee.coordinator)))
        case VTAFARM__V1__ENVELOPE__BODY_WELCOME:
            let w = e.welcome.pointee
            let backends = (0..<w.n_backends).map { str(w.backends[$0]) }
            // A feature list is a few names; a longer one is cut, not followed into memory.
            let features = (0..<min(w.n_features, 64)).map { String(str(w.features[$0]).prefix(64)) }
            return .welcome(
                Welcome(
                    runner: str(w.runner), slots: Int(w.slots), backends: backends,
                    simulatorVersion: str(w.simulator_version), protocolVersion: w.protocol_version,
                    instanceID: w.instance_id, features: features))
        case VTAFARM__V1__ENVELOPE__BODY_MEASURE_REQUEST:
            let r = e.measure_request.pointee
            guard let w = r.workload, let h = r.hardware, let s = r.schedule else {
                throw WireError(
                    code: .malformed,
                    message: "MeasureRequest \(r.request_id) lacks its workload, hardware or schedule",
                    requestID: r.request_id)
            }
            // proto3 enums are open: any number arrives, and it must not be read as a conv2d.
            guard [VTAFARM__V1__WORKLOAD__KIND__CONV2D, VTAFARM__V1__WORKLOAD__KIND__DENSE].contains(w.pointee.kind)
            else {
                throw WireError(
                    code: .badRequest,
                    message: "MeasureRequest \(r.request_id): unknown workload kind \(w.pointee.kind.rawValue)",
                    requestID: r.request_id)
            }
            return .measureRequest(
                MeasureRequest(
                    requestID: r.request_id, task: str(r.task), workload: decodeWorkload(w.pointee),
                    hardware: decodeHardware(h.pointee),
                    schedule: decodeSchedule(s.pointee), backend: str(r.backend), timeoutMs: r.timeout_ms,
                    shift: r.shift == 0 ? 8 : Int(r.shift), verify: r.verify != 0, dataSeed: r.data_seed,
                    search: r.search.map { LayerSearch(spaceSize: $0.pointee.space_size) }))
        case VTAFARM__V1__ENVELOPE__BODY_MEASURE_RESULT:
            let r = e.measure_result.pointee
            var counters = ResultCounters()
            if let c = r.counters?.pointee {
                counters.instructions = c.instructions
                counters.gemmUops = c.gemm_uops
                counters.aluUops = c.alu_uops
                counters.dramBytesRead = c.dram_bytes_read
                counters.dramBytesWritten = c.dram_bytes_written
                counters.loadBusy = c.load_busy
                counters.computeBusy = c.compute_busy
                counters.storeBusy = c.store_busy
            }
            return .measureResult(
                MeasureResult(
                    requestID: r.request_id, status: status(r.status), cycles: r.cycles, counters: counters,
                    invalidReason: str(r.invalid_reason), error: str(r.error),
                    wallSeconds: r.wall_seconds, runner: str(r.runner),
                    search: r.search.map { decodeSearchOutcome($0.pointee) }))
        case VTAFARM__V1__ENVELOPE__BODY_PING:
            return .ping(nonce: e.ping.pointee.nonce)
        case VTAFARM__V1__ENVELOPE__BODY_PONG:
            let p = e.pong.pointee
            return .pong(
                Pong(
                    nonce: p.nonce, slots: Int(p.slots), busySlots: Int(p.busy_slots), queueDepth: Int(p.queue_depth),
                    instanceID: p.instance_id))
        case VTAFARM__V1__ENVELOPE__BODY_ERROR:
            let x = e.error.pointee
            return .error(
                WireError(
                    code: WireError.Code(rawValue: Int(x.code.rawValue)) ?? .unspecified,
                    message: str(x.message), requestID: x.request_id))
        case VTAFARM__V1__ENVELOPE__BODY_REGISTER:
            guard let r = e.register_.pointee.runner else {
                throw WireError(code: .malformed, message: "Register lacks its runner")
            }
            return .register(decodeRunnerInfo(r.pointee))
        case VTAFARM__V1__ENVELOPE__BODY_HEARTBEAT:
            let h = e.heartbeat.pointee
            return .heartbeat(
                Heartbeat(
                    name: str(h.name), instanceID: h.instance_id, busySlots: Int(h.busy_slots),
                    queueDepth: Int(h.queue_depth)))
        case VTAFARM__V1__ENVELOPE__BODY_DEREGISTER:
            return .deregister(name: str(e.deregister.pointee.name), instanceID: e.deregister.pointee.instance_id)
        case VTAFARM__V1__ENVELOPE__BODY_TRACKER_ACK:
            let a = e.tracker_ack.pointee
            return .trackerAck(
                TrackerAck(
                    known: a.known != 0, heartbeatIntervalMs: a.heartbeat_interval_ms,
                    expiryIntervals: a.expiry_intervals))
        case VTAFARM__V1__ENVELOPE__BODY_SUBSCRIBE:
            return .subscribe(pool: str(e.subscribe.pointee.pool), coordinator: str(e.subscribe.pointee.coordinator))
        case VTAFARM__V1__ENVELOPE__BODY_QUERY:
            return .query(pool: str(e.query.pointee.pool))
        case VTAFARM__V1__ENVELOPE__BODY_POOL_LISTING:
            let l = e.pool_listing.pointee
            var runners: [RunnerInfo] = []
            for i in 0..<l.n_runners {
                guard let r = l.runners[i] else { continue }
                runners.append(decodeRunnerInfo(r.pointee))
            }
            return .poolListing(
                PoolListing(
                    runners: runners, heartbeatIntervalMs: l.heartbeat_interval_ms,
                    expiryIntervals: l.expiry_intervals))
        case VTAFARM__V1__ENVELOPE__BODY_POOL_EVENT:
            let ev = e.pool_event.pointee
            guard let kind = PoolEvent.Kind(rawValue: Int(ev.kind.rawValue)), let r = ev.runner else {
                throw WireError(
                    code: .malformed, message: "PoolEvent of kind \(ev.kind.rawValue) without a known kind or runner")
            }
            return .poolEvent(
                PoolEvent(
                    kind: kind, runner: decodeRunnerInfo(r.pointee),
                    reason: PoolEvent.LeaveReason(rawValue: str(ev.reason))))
        default:
            throw WireError(code: .malformed, message: "the Envelope has no body")
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> Message {
        do {
            return try bytes.withUnsafeBytes { raw in try decode(raw) }
        } catch let e as WireError {
            throw e
        } catch {
            throw WireError(code: .malformed, message: "\(error)")
        }
    }

    // MARK: field groups

    static func encodeRunnerInfo(_ r: RunnerInfo, _ heap: CHeap) -> UnsafeMutablePointer<Vtafarm__V1__RunnerInfo> {
        let p = heap.make(Vtafarm__V1__RunnerInfo(), vtafarm__v1__runner_info__init)
        p.pointee.name = heap.string(r.name)
        p.pointee.endpoint = heap.string(r.endpoint)
        p.pointee.slots = UInt32(clamping: r.slots)
        let list = heap.array(r.backends.map { Optional(heap.string($0)) })
        p.pointee.n_backends = r.backends.count
        p.pointee.backends = list
        p.pointee.simulator_version = heap.string(r.simulatorVersion)
        if !r.curvePublicKey.isEmpty {
            p.pointee.curve_public_key = ProtobufCBinaryData(
                len: r.curvePublicKey.count, data: heap.array(r.curvePublicKey))
        }
        p.pointee.pool = heap.string(r.pool == RunnerInfo.defaultPool ? "" : r.pool)
        p.pointee.instance_id = r.instanceID
        p.pointee.busy_slots = UInt32(clamping: r.busySlots)
        p.pointee.queue_depth = UInt32(clamping: r.queueDepth)
        return p
    }

    /// The runner as sent; the tracker checks what it holds (lengths, counts, the key's size).
    static func decodeRunnerInfo(_ r: Vtafarm__V1__RunnerInfo) -> RunnerInfo {
        let key = r.curve_public_key
        let bytes = key.len > 0 && key.data != nil ? Array(UnsafeBufferPointer(start: key.data, count: key.len)) : []
        let pool = str(r.pool)
        return RunnerInfo(
            name: str(r.name), endpoint: str(r.endpoint), slots: Int(r.slots),
            backends: (0..<r.n_backends).map { str(r.backends[$0]) }, simulatorVersion: str(r.simulator_version),
            curvePublicKey: bytes, pool: pool.isEmpty ? RunnerInfo.defaultPool : pool, instanceID: r.instance_id,
            busySlots: Int(r.busy_slots), queueDepth: Int(r.queue_depth))
    }

    static func encodeWorkload(_ w: Workload, _ heap: CHeap) -> UnsafeMutablePointer<Vtafarm__V1__Workload> {
        let p = heap.make(Vtafarm__V1__Workload(), vtafarm__v1__workload__init)
        p.pointee.kind = w.kind == .dense ? VTAFARM__V1__WORKLOAD__KIND__DENSE : VTAFARM__V1__WORKLOAD__KIND__CONV2D
        p.pointee.batch = UInt32(clamping: w.batch)
        p.pointee.height = UInt32(clamping: w.height)
        p.pointee.width = UInt32(clamping: w.width)
        p.pointee.in_channels = UInt32(clamping: w.inChannels)
        p.pointee.out_channels = UInt32(clamping: w.outChannels)
        p.pointee.kernel_h = UInt32(clamping: w.kernelH)
        p.pointee.kernel_w = UInt32(clamping: w.kernelW)
        p.pointee.stride = UInt32(clamping: w.stride)
        p.pointee.pad = UInt32(clamping: w.pad)
        return p
    }

    static func decodeWorkload(_ w: Vtafarm__V1__Workload) -> Workload {
        Workload(
            kind: w.kind == VTAFARM__V1__WORKLOAD__KIND__DENSE ? .dense : .conv2d, batch: Int(w.batch),
            height: Int(w.height), width: Int(w.width), inChannels: Int(w.in_channels),
            outChannels: Int(w.out_channels),
            kernelH: Int(w.kernel_h), kernelW: Int(w.kernel_w), stride: Int(w.stride), pad: Int(w.pad))
    }

    static func encodeHardware(_ c: HardwareConfig, _ heap: CHeap) -> UnsafeMutablePointer<Vtafarm__V1__HardwareConfig>
    {
        let p = heap.make(Vtafarm__V1__HardwareConfig(), vtafarm__v1__hardware_config__init)
        p.pointee.log_inp_width = UInt32(clamping: c.logInpWidth)
        p.pointee.log_wgt_width = UInt32(clamping: c.logWgtWidth)
        p.pointee.log_acc_width = UInt32(clamping: c.logAccWidth)
        p.pointee.log_batch = UInt32(clamping: c.logBatch)
        p.pointee.log_block_in = UInt32(clamping: c.logBlockIn)
        p.pointee.log_block_out = UInt32(clamping: c.logBlockOut)
        p.pointee.log_uop_buff_size = UInt32(clamping: c.logUopBuffSize)
        p.pointee.log_inp_buff_size = UInt32(clamping: c.logInpBuffSize)
        p.pointee.log_wgt_buff_size = UInt32(clamping: c.logWgtBuffSize)
        p.pointee.log_acc_buff_size = UInt32(clamping: c.logAccBuffSize)
        p.pointee.axi_width = UInt32(clamping: c.axiWidth)
        p.pointee.max_burst = UInt32(clamping: c.maxBurstBeats)
        p.pointee.clock_mhz = c.clockMHz
        p.pointee.dram_latency = UInt32(clamping: c.dramLatency)
        p.pointee.target = heap.string(c.target)
        p.pointee.hw_ver = heap.string(c.hwVersion)
        return p
    }

    /// The configuration as sent; whether its values make sense is checked by the receiver
    /// (`HardwareConfig.validated`), so that a bad one gets a result, not a crash.
    static func decodeHardware(_ h: Vtafarm__V1__HardwareConfig) -> HardwareConfig {
        var c = HardwareConfig()
        c.logInpWidth = Int(h.log_inp_width)
        c.logWgtWidth = Int(h.log_wgt_width)
        c.logAccWidth = Int(h.log_acc_width)
        c.logBatch = Int(h.log_batch)
        c.logBlockIn = Int(h.log_block_in)
        c.logBlockOut = Int(h.log_block_out)
        c.logUopBuffSize = Int(h.log_uop_buff_size)
        c.logInpBuffSize = Int(h.log_inp_buff_size)
        c.logWgtBuffSize = Int(h.log_wgt_buff_size)
        c.logAccBuffSize = Int(h.log_acc_buff_size)
        c.axiWidth = Int(h.axi_width)
        c.maxBurstBeats = Int(h.max_burst)
        c.clockMHz = h.clock_mhz
        c.dramLatency = Int(h.dram_latency)
        c.target = str(h.target)
        c.hwVersion = str(h.hw_ver)
        return c
    }

    static func encodeSchedule(_ s: Schedule, _ heap: CHeap) -> UnsafeMutablePointer<Vtafarm__V1__Schedule> {
        let p = heap.make(Vtafarm__V1__Schedule(), vtafarm__v1__schedule__init)
        p.pointee.tile_b = Int64(s.tileB)
        p.pointee.tile_h = Int64(s.tileH)
        p.pointee.tile_w = Int64(s.tileW)
        p.pointee.tile_ci = Int64(s.tileCI)
        p.pointee.tile_co = Int64(s.tileCO)
        p.pointee.h_nthread = Int64(s.hThreads)
        p.pointee.oc_nthread = Int64(s.ocThreads)
        return p
    }

    static func decodeSchedule(_ s: Vtafarm__V1__Schedule) -> Schedule {
        Schedule(
            tileB: Int(s.tile_b), tileH: Int(s.tile_h), tileW: Int(s.tile_w), tileCI: Int(s.tile_ci),
            tileCO: Int(s.tile_co), hThreads: Int(s.h_nthread), ocThreads: Int(s.oc_nthread))
    }

    static func encodeSearchOutcome(
        _ o: LayerSearchOutcome, _ heap: CHeap
    ) -> UnsafeMutablePointer<Vtafarm__V1__LayerSearchOutcome> {
        let p = heap.make(Vtafarm__V1__LayerSearchOutcome(), vtafarm__v1__layer_search_outcome__init)
        p.pointee.best = encodeSchedule(o.best, heap)
        p.pointee.schedules = o.schedules
        p.pointee.valid = o.valid
        p.pointee.invalid = o.invalid
        p.pointee.failed = o.failed
        let reasons = o.invalidReasons.prefix(LayerSearchOutcome.maxReasons).map {
            r -> UnsafeMutablePointer<
                Vtafarm__V1__ReasonCount
            >? in
            let c = heap.make(Vtafarm__V1__ReasonCount(), vtafarm__v1__reason_count__init)
            c.pointee.reason = heap.string(r.reason)
            c.pointee.count = r.count
            return c
        }
        p.pointee.n_invalid_reasons = reasons.count
        p.pointee.invalid_reasons = heap.array(reasons)
        return p
    }

    /// As sent, but with at most `maxReasons` reasons of at most 64 bytes each: whether the counts
    /// add up is the coordinator's check (`ResultCheck`), on what it holds in memory.
    static func decodeSearchOutcome(_ o: Vtafarm__V1__LayerSearchOutcome) -> LayerSearchOutcome {
        let reasons = (0..<min(o.n_invalid_reasons, LayerSearchOutcome.maxReasons)).compactMap {
            k -> (reason: String, count: UInt64)? in
            guard let r = o.invalid_reasons[k] else { return nil }
            return (String(str(r.pointee.reason).prefix(64)), r.pointee.count)
        }
        return LayerSearchOutcome(
            best: o.best.map { decodeSchedule($0.pointee) } ?? Schedule(), schedules: o.schedules, valid: o.valid,
            invalid: o.invalid, failed: o.failed, invalidReasons: reasons)
    }

    static let statusMap: [(MeasureStatus, Vtafarm__V1__Status)] = [
        (.ok, VTAFARM__V1__STATUS__OK), (.invalid, VTAFARM__V1__STATUS__INVALID),
        (.runtimeError, VTAFARM__V1__STATUS__RUNTIME_ERROR), (.timeout, VTAFARM__V1__STATUS__TIMEOUT),
        (.wrongAnswer, VTAFARM__V1__STATUS__WRONG_ANSWER), (.unsupported, VTAFARM__V1__STATUS__UNSUPPORTED),
        (.internalError, VTAFARM__V1__STATUS__INTERNAL),
    ]

    static func cStatus(_ s: MeasureStatus) -> Vtafarm__V1__Status { statusMap.first { $0.0 == s }!.1 }
    static func status(_ s: Vtafarm__V1__Status) -> MeasureStatus { statusMap.first { $0.1 == s }?.0 ?? .internalError }

    static func str(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

    /// The name of a string field, anywhere in `bytes` (a message of type `descriptor`), that holds
    /// a NUL byte, or nil. protobuf-c hands strings over NUL-terminated without their length, so
    /// the backend "vta-sim\0/x" would otherwise silently read as "vta-sim". `bytes` has already
    /// been unpacked by protobuf-c, so it is well formed; the walk still checks every bound.
    static func stringFieldWithNUL(
        _ bytes: UnsafeRawBufferPointer, _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, depth: Int = 0
    ) -> String? {
        guard depth < 16 else { return nil }  // the schema nests 2 deep; unpack already refused worse
        var at = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while at < bytes.count && shift < 64 {
                let byte = bytes[at]
                at += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while at < bytes.count {
            guard let tag = varint() else { return nil }
            switch tag & 7 {
            case 0: guard varint() != nil else { return nil }
            case 1: at += 8
            case 5: at += 4
            case 2:
                guard let length = varint(), length <= UInt64(bytes.count - at) else { return nil }
                let body = UnsafeRawBufferPointer(rebasing: bytes[at..<at + Int(length)])
                at += Int(length)
                let d = descriptor.pointee
                guard let field = (0..<Int(d.n_fields)).lazy.map({ d.fields[$0] }).first(where: { $0.id == tag >> 3 })
                else { continue }  // an unknown field: kept by protobuf-c as bytes, never read as a string
                if field.type == PROTOBUF_C_TYPE_STRING && body.contains(0) {
                    return "\(String(cString: d.short_name)).\(String(cString: field.name))"
                }
                if field.type == PROTOBUF_C_TYPE_MESSAGE, let nested = field.descriptor {
                    let inner = nested.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
                    if let name = stringFieldWithNUL(body, inner, depth: depth + 1) { return name }
                }
            default: return nil  // groups: not in this schema
            }
        }
        return nil
    }
}

/// C allocations made while building a message, released together.
final class CHeap {
    private var frees: [() -> Void] = []

    func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        frees.append { free(p) }
        return p
    }

    func make<T>(_ value: T, _ initialize: (UnsafeMutablePointer<T>?) -> Void) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        p.initialize(to: value)
        initialize(p)
        frees.append {
            p.deinitialize(count: 1)
            p.deallocate()
        }
        return p
    }

    func array<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(1, values.count))
        p.initialize(from: values, count: values.count)
        frees.append {
            p.deinitialize(count: values.count)
            p.deallocate()
        }
        return p
    }

    func release() {
        for f in frees { f() }
        frees = []
    }
}
