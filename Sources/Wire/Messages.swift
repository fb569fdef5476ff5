import VTA

/// The protocol version this build speaks (Envelope.protocol_version).
public let protocolVersion: UInt32 = 1

/// The largest Envelope a runner takes by default (`--max-frame-bytes`). A MeasureRequest is a
/// few hundred bytes: numbers, plus a task name and a backend (at most a program path), so 64 KiB
/// leaves a wide margin while keeping what one frame can make a runner hold small.
public let maxEnvelopeBytes = 64 << 10

/// Everything that crosses the wire, as Swift values. No protobuf-c pointer leaves this module.
public enum Message: Sendable, Equatable {
    case hello(Hello)
    case welcome(Welcome)
    case measureRequest(MeasureRequest)
    case measureResult(MeasureResult)
    case ping(nonce: UInt64)
    case pong(Pong)
    case error(WireError)
    // The tracker's messages (runners and coordinators <-> `vtafarm tracker`).
    case register(RunnerInfo)
    case heartbeat(Heartbeat)
    case deregister(name: String, instanceID: UInt64)
    case trackerAck(TrackerAck)
    case subscribe(pool: String, coordinator: String)
    case query(pool: String)
    case poolListing(PoolListing)
    case poolEvent(PoolEvent)
}

public struct Hello: Sendable, Equatable {
    public var coordinator: String
    public init(coordinator: String) { self.coordinator = coordinator }
}

public struct Welcome: Sendable, Equatable {
    public var runner: String
    public var slots: Int
    public var backends: [String]
    public var simulatorVersion: String
    public var protocolVersion: UInt32
    /// The runner process's ``InstanceID`` (0 from a runner that does not send one).
    public var instanceID: UInt64
    /// What it does beyond timing one schedule (``RunnerFeature`` raw values; unknown ones kept).
    public var features: [String]
    public init(
        runner: String, slots: Int, backends: [String], simulatorVersion: String,
        protocolVersion: UInt32 = Wire.protocolVersion, instanceID: UInt64 = 0, features: [String] = []
    ) {
        self.runner = runner
        self.slots = slots
        self.backends = backends
        self.simulatorVersion = simulatorVersion
        self.protocolVersion = protocolVersion
        self.instanceID = instanceID
        self.features = features
    }
}

/// What a runner announces it does beyond timing one schedule (Welcome.features). Requests that
/// need a feature go only to runners that list it: an older runner would skip the field that asks
/// for it and answer something else.
public enum RunnerFeature: String, Sendable, CaseIterable {
    /// Answers a ``MeasureRequest`` carrying a ``LayerSearch``.
    case layerSearch = "layer-search"
}

/// A coarse request: the layer's whole schedule space on the request's hardware, answered with
/// the best schedule and a ``LayerSearchOutcome``.
public struct LayerSearch: Sendable, Equatable {
    /// The space's size as the coordinator counts it; a runner counting another size refuses.
    public var spaceSize: UInt64
    public init(spaceSize: UInt64) { self.spaceSize = spaceSize }

    /// No runner enumerates a bigger space for one request (ResNet-18's largest is 2,304).
    public static let maxSpaceSize: UInt64 = 1 << 20
}

/// What a layer search found, beside the best schedule's cycles in the result.
public struct LayerSearchOutcome: Sendable, Equatable {
    public var best: Schedule
    public var schedules: UInt64
    public var valid: UInt64
    public var invalid: UInt64
    public var failed: UInt64
    /// Invalid counts by reason code, most frequent first (at most ``maxReasons``).
    public var invalidReasons: [(reason: String, count: UInt64)]
    public static let maxReasons = 64

    public init(
        best: Schedule, schedules: UInt64, valid: UInt64, invalid: UInt64, failed: UInt64 = 0,
        invalidReasons: [(reason: String, count: UInt64)] = []
    ) {
        self.best = best
        self.schedules = schedules
        self.valid = valid
        self.invalid = invalid
        self.failed = failed
        self.invalidReasons = invalidReasons
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.best == b.best && a.schedules == b.schedules && a.valid == b.valid && a.invalid == b.invalid
            && a.failed == b.failed && a.invalidReasons.map(\.reason) == b.invalidReasons.map(\.reason)
            && a.invalidReasons.map(\.count) == b.invalidReasons.map(\.count)
    }
}

/// One measurement: a layer, a hardware configuration and a schedule.
public struct MeasureRequest: Sendable, Equatable {
    public var requestID: UInt64
    public var task: String
    public var workload: Workload
    public var hardware: HardwareConfig
    public var schedule: Schedule
    /// Empty: the runner's default backend.
    public var backend: String
    /// 0: the runner's default.
    public var timeoutMs: UInt32
    public var shift: Int
    /// Check the output against the reference on seeded random data (input from `dataSeed`,
    /// weights from `dataSeed + 1`): WRONG_ANSWER when it differs.
    public var verify: Bool
    public var dataSeed: UInt64
    /// Set: search the layer's whole schedule space instead of timing `schedule` (a placeholder).
    public var search: LayerSearch?

    public init(
        requestID: UInt64, task: String = "", workload: Workload, hardware: HardwareConfig = .stock,
        schedule: Schedule, backend: String = "", timeoutMs: UInt32 = 0, shift: Int = 8, verify: Bool = false,
        dataSeed: UInt64 = 0, search: LayerSearch? = nil
    ) {
        self.search = search
        self.requestID = requestID
        self.task = task
        self.workload = workload
        self.hardware = hardware
        self.schedule = schedule
        self.backend = backend
        self.timeoutMs = timeoutMs
        self.shift = shift
        self.verify = verify
        self.dataSeed = dataSeed
    }
}

public enum MeasureStatus: String, Sendable, Equatable, CaseIterable, Codable {
    case ok = "OK"
    case invalid = "INVALID"
    case runtimeError = "RUNTIME_ERROR"
    case timeout = "TIMEOUT"
    case wrongAnswer = "WRONG_ANSWER"
    case unsupported = "UNSUPPORTED"
    case internalError = "INTERNAL"
}

public struct ResultCounters: Sendable, Equatable, Codable {
    public var instructions: UInt64 = 0
    public var gemmUops: UInt64 = 0
    public var aluUops: UInt64 = 0
    public var dramBytesRead: UInt64 = 0
    public var dramBytesWritten: UInt64 = 0
    public var loadBusy: UInt64 = 0
    public var computeBusy: UInt64 = 0
    public var storeBusy: UInt64 = 0
    public init() {}
}

public struct MeasureResult: Sendable, Equatable {
    public var requestID: UInt64
    public var status: MeasureStatus
    public var cycles: UInt64
    public var counters: ResultCounters
    /// A reason code (InvalidReason.Code) with `.invalid`.
    public var invalidReason: String
    public var error: String
    public var wallSeconds: Double
    public var runner: String
    /// The answer to a layer search (nil for one measurement).
    public var search: LayerSearchOutcome?

    public init(
        requestID: UInt64, status: MeasureStatus, cycles: UInt64 = 0, counters: ResultCounters = ResultCounters(),
        invalidReason: String = "", error: String = "", wallSeconds: Double = 0, runner: String = "",
        search: LayerSearchOutcome? = nil
    ) {
        self.search = search
        self.requestID = requestID
        self.status = status
        self.cycles = cycles
        self.counters = counters
        self.invalidReason = invalidReason
        self.error = error
        self.wallSeconds = wallSeconds
        self.runner = runner
    }
}

public struct Pong: Sendable, Equatable {
    public var nonce: UInt64
    public var slots: Int
    public var busySlots: Int
    public var queueDepth: Int
    /// As in ``Welcome/instanceID``.
    public var instanceID: UInt64
    public init(nonce: UInt64, slots: Int, busySlots: Int, queueDepth: Int, instanceID: UInt64 = 0) {
        self.nonce = nonce
        self.slots = slots
        self.busySlots = busySlots
        self.queueDepth = queueDepth
        self.instanceID = instanceID
    }
}

/// A runner process's identity on the wire: random and non-zero, drawn once per process, so
/// that a coordinator tells a restarted runner from one that merely answers late (an endpoint,
/// and even a name, stays the same across `stop-runners`/`launch-runners`).
public enum InstanceID {
    public static func random() -> UInt64 { UInt64.random(in: 1...UInt64.max) }
}

public struct WireError: Sendable, Equatable, Error, CustomStringConvertible {
    public enum Code: Int, Sendable {
        case unspecified = 0
        case malformed = 1
        case versionMismatch = 2
        case tooLarge = 3
        case shuttingDown = 4
        case badRequest = 5
        /// The request was not queued: the runner holds its limit of queued requests (per
        /// coordinator or in total). Not measured, so it can go to another runner.
        case queueFull = 6
    }
    public var code: Code
    public var message: String
    public var requestID: UInt64
    public init(code: Code, message: String, requestID: UInt64 = 0) {
        self.code = code
        self.message = message
        self.requestID = requestID
    }
    public var description: String { "\(code): \(message)" }
}

/// A runner as a tracker knows it: what a coordinator needs to dial it and to decide whether it
/// wants it (pool, backends, simulator version), plus its load as of its last heartbeat.
public struct RunnerInfo: Sendable, Equatable {
    public var name: String
    public var endpoint: String
    public var slots: Int
    public var backends: [String]
    public var simulatorVersion: String
    /// 32 raw bytes, or empty when the runner takes plain connections.
    public var curvePublicKey: [UInt8]
    /// Empty on the wire means ``defaultPool``.
    public var pool: String
    public var instanceID: UInt64
    public var busySlots: Int
    public var queueDepth: Int

    /// The pool of a runner that names none.
    public static let defaultPool = "default"

    public init(
        name: String, endpoint: String, slots: Int, backends: [String] = [], simulatorVersion: String = "",
        curvePublicKey: [UInt8] = [], pool: String = RunnerInfo.defaultPool, instanceID: UInt64,
        busySlots: Int = 0, queueDepth: Int = 0
    ) {
        self.name = name
        self.endpoint = endpoint
        self.slots = slots
        self.backends = backends
        self.simulatorVersion = simulatorVersion
        self.curvePublicKey = curvePublicKey
        self.pool = pool
        self.instanceID = instanceID
        self.busySlots = busySlots
        self.queueDepth = queueDepth
    }
}

public struct Heartbeat: Sendable, Equatable {
    public var name: String
    public var instanceID: UInt64
    public var busySlots: Int
    public var queueDepth: Int
    public init(name: String, instanceID: UInt64, busySlots: Int = 0, queueDepth: Int = 0) {
        self.name = name
        self.instanceID = instanceID
        self.busySlots = busySlots
        self.queueDepth = queueDepth
    }
}

/// The tracker's answer to Register and Heartbeat. `known` false tells a runner to register
/// again (the tracker restarted or expired it), which is how runners survive a tracker restart.
public struct TrackerAck: Sendable, Equatable {
    public var known: Bool
    public var heartbeatIntervalMs: UInt32
    public var expiryIntervals: UInt32
    public init(known: Bool, heartbeatIntervalMs: UInt32, expiryIntervals: UInt32) {
        self.known = known
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.expiryIntervals = expiryIntervals
    }
}

public struct PoolListing: Sendable, Equatable {
    public var runners: [RunnerInfo]
    public var heartbeatIntervalMs: UInt32
    public var expiryIntervals: UInt32
    public init(runners: [RunnerInfo], heartbeatIntervalMs: UInt32, expiryIntervals: UInt32) {
        self.runners = runners
        self.heartbeatIntervalMs = heartbeatIntervalMs
        self.expiryIntervals = expiryIntervals
    }
}

public struct PoolEvent: Sendable, Equatable {
    public enum Kind: Int, Sendable {
        case joined = 1
        case left = 2
    }
    /// Why a runner left, which tells a coordinator whether its in-flight work is still coming.
    public enum LeaveReason: String, Sendable {
        /// It drains (SIGTERM): it finishes and answers what it holds, then exits.
        case deregistered
        /// Silent for the tracker's expiry, or registered again by another process: what it
        /// held is lost.
        case expired, replaced
    }
    public var kind: Kind
    public var runner: RunnerInfo
    /// Why it left: nil for a join, or for a reason this version does not know (which a
    /// coordinator must treat as a loss, the safe reading).
    public var reason: LeaveReason?
    public init(kind: Kind, runner: RunnerInfo, reason: LeaveReason? = nil) {
        self.kind = kind
        self.runner = runner
        self.reason = reason
    }
}
