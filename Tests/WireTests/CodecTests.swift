import Testing
import VTA

@testable import Wire

@Suite struct CodecTests {
    @Test func everyMessageRoundTrips() throws {
        var hw = HardwareConfig.stock
        hw.logBlockOut = 5
        hw.axiWidth = 128
        hw.clockMHz = 333
        hw.target = "zcu104"
        var counters = ResultCounters()
        counters.gemmUops = 123
        counters.storeBusy = 9
        let messages: [Message] = [
            .hello(Hello(coordinator: "tune resnet18")),
            .welcome(
                Welcome(
                    runner: "box-1", slots: 8, backends: ["delay", "vta-sim"], simulatorVersion: "v1",
                    instanceID: 0xDEAD_BEEF_0000_0001)),
            .measureRequest(
                MeasureRequest(
                    requestID: 1 << 40, task: "resnet18/C2",
                    workload: .conv2d(h: 56, w: 56, ci: 64, co: 64, k: 3, s: 1, p: 1),
                    hardware: hw, schedule: Schedule(tileH: 28, tileW: 8, tileCO: 2, hThreads: 2, ocThreads: 2),
                    backend: "delay", timeoutMs: 1500, shift: 6, verify: true, dataSeed: 1 << 63)),
            .measureRequest(
                MeasureRequest(
                    requestID: 2, workload: .dense(n: 1, ci: 512, co: 1024),
                    schedule: Schedule(tileB: -5, tileCI: Int(Int32.max) * 4))),
            .measureResult(
                MeasureResult(
                    requestID: 7, status: .invalid, cycles: 0, counters: counters, invalidReason: "acc_write_hazard",
                    error: "a GEMM uop writes…", wallSeconds: 0.25, runner: "box-1")),
            // The layer search (coarse request) and its outcome, and a Welcome announcing it.
            .welcome(
                Welcome(
                    runner: "box-2", slots: 2, backends: ["vta-sim"], simulatorVersion: "v1", instanceID: 3,
                    features: ["layer-search", "something-newer"])),
            .measureRequest(
                MeasureRequest(
                    requestID: 3, task: "resnet18/C4",
                    workload: .conv2d(h: 28, w: 28, ci: 64, co: 128, k: 3, s: 2, p: 1),
                    hardware: hw, schedule: Schedule(), timeoutMs: 600_000, search: LayerSearch(spaceSize: 1728))),
            .measureResult(
                MeasureResult(
                    requestID: 3, status: .ok, cycles: 61_233, counters: counters, runner: "box-2",
                    search: LayerSearchOutcome(
                        best: Schedule(tileW: 28, tileCI: 4, tileCO: 8, hThreads: 2), schedules: 1728, valid: 933,
                        invalid: 795, invalidReasons: [("thread_split_uneven", 500), ("acc_write_hazard", 295)]))),
            .ping(nonce: 99), .pong(Pong(nonce: 99, slots: 4, busySlots: 3, queueDepth: 17, instanceID: UInt64.max)),
            .error(WireError(code: .tooLarge, message: "big", requestID: 5)),
        ]
        for m in messages {
            #expect(try Codec.decode(Codec.encode(m)) == m)
        }
        for s in MeasureStatus.allCases {
            let m = Message.measureResult(MeasureResult(requestID: 1, status: s))
            #expect(try Codec.decode(Codec.encode(m)) == m)
        }
    }

    @Test func trackerMessagesRoundTrip() throws {
        let a = RunnerInfo(
            name: "box-1", endpoint: "tcp://10.0.0.5:7600", slots: 8, backends: ["vta-sim", "delay"],
            simulatorVersion: "v1", curvePublicKey: Array(0..<32), pool: "zcu104", instanceID: UInt64.max,
            busySlots: 3, queueDepth: 9)
        let b = RunnerInfo(name: "box-2", endpoint: "tcp://h:1", slots: 1, instanceID: 7)
        let messages: [Message] = [
            .register(a), .register(b),
            .heartbeat(Heartbeat(name: "box-1", instanceID: 5, busySlots: 2, queueDepth: 1)),
            .deregister(name: "box-1", instanceID: 5),
            .trackerAck(TrackerAck(known: true, heartbeatIntervalMs: 1000, expiryIntervals: 3)),
            .trackerAck(TrackerAck(known: false, heartbeatIntervalMs: 250, expiryIntervals: 4)),
            .subscribe(pool: "zcu104", coordinator: "tune"), .subscribe(pool: "", coordinator: ""),
            .query(pool: "default"),
            .poolListing(PoolListing(runners: [a, b], heartbeatIntervalMs: 1000, expiryIntervals: 3)),
            .poolListing(PoolListing(runners: [], heartbeatIntervalMs: 0, expiryIntervals: 0)),
            .poolEvent(PoolEvent(kind: .joined, runner: a)),
            .poolEvent(PoolEvent(kind: .left, runner: b, reason: .expired)),
        ]
        for m in messages {
            #expect(try Codec.decode(Codec.encode(m)) == m)
        }
        // A NUL inside a nested RunnerInfo string is refused like any other.
        var bytes = Codec.encode(.register(RunnerInfo(name: "nameX", endpoint: "tcp://h:1", slots: 1, instanceID: 1)))
        let at = bytes.indices.first { Array(bytes[$0...].prefix(5)) == Array("nameX".utf8) }!
        bytes[at + 4] = 0
        #expect(throws: WireError.self) { try Codec.decode(bytes) }
    }

    @Test func badFramesAreErrorsNotCrashes() {
        func code(_ bytes: [UInt8]) -> WireError.Code? {
            do {
                _ = try Codec.decode(bytes)
                return nil
            } catch { return error.code }
        }
        #expect(code([0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) == .malformed)
        #expect(code(Array("hello runner".utf8)) == .malformed)
        let good = Codec.encode(.ping(nonce: 1))
        #expect(code(Array(good.dropLast(1))) == .malformed)
        #expect(code(Codec.encode(.ping(nonce: 1), version: 2)) == .versionMismatch)
        #expect(code([]) != nil)
        // A NUL inside a string (protobuf-c would hand over the part before it), anywhere in the
        // Envelope, and a workload kind the protocol does not define.
        let request = MeasureRequest(
            requestID: 4, task: "taskX", workload: .dense(n: 1, ci: 32, co: 32), schedule: Schedule(), backend: "simX")
        for (marker, field) in [("simX", "backend"), ("taskX", "task")] {
            var bytes = Codec.encode(.measureRequest(request))
            let at = bytes.indices.first { Array(bytes[$0...].prefix(marker.utf8.count)) == Array(marker.utf8) }!
            bytes[at + marker.utf8.count - 1] = 0
            do {
                _ = try Codec.decode(bytes)
                Issue.record("a NUL in \(field) was accepted")
            } catch {
                #expect(error.code == .malformed && error.message.contains(field) && error.requestID == 4, "\(error)")
            }
        }
        var hello = Codec.encode(.hello(Hello(coordinator: "meX")))
        hello[hello.count - 1] = 0
        #expect(code(hello) == .malformed)
        var kind = Codec.encode(.measureRequest(request))
        let k = (1..<kind.count - 1).first { kind[$0] == 0x08 && kind[$0 + 1] == 0x01 }!
        kind[k + 1] = 2
        #expect(code(kind) == .badRequest)
        var rng = SplitMix64(seed: 3)
        for _ in 0..<2000 {  // random garbage never traps
            let n = Int(rng.next() % 64)
            _ = try? Codec.decode((0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
    }
}
