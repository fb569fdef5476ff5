import Foundation
import VTA
import Wire

/// How a measurement ended, as written in the records file (the strings are the file format).
/// The runner's statuses plus FILTERED: rejected by the coordinator's validity filter, so it is
/// in the `.filtered` file and took no runner time.
public enum RecordStatus: String, Codable, Sendable, Equatable, CaseIterable {
    case ok = "OK"
    case invalid = "INVALID"
    case runtimeError = "RUNTIME_ERROR"
    case timeout = "TIMEOUT"
    case wrongAnswer = "WRONG_ANSWER"
    case unsupported = "UNSUPPORTED"
    case internalError = "INTERNAL"
    case filtered = "FILTERED"

    public init(_ status: MeasureStatus) {
        switch status {
        case .ok: self = .ok
        case .invalid: self = .invalid
        case .runtimeError: self = .runtimeError
        case .timeout: self = .timeout
        case .wrongAnswer: self = .wrongAnswer
        case .unsupported: self = .unsupported
        case .internalError: self = .internalError
        }
    }

    /// A failure of the run itself (not a configuration VTA rejects, not one we filtered).
    public var isFailure: Bool { self != .ok && self != .invalid && self != .filtered }
}

/// One finished measurement, one JSON line in the records file. In memory it carries the parsed
/// workload, hardware and schedule (parsed once, when the line is read), so that no reader
/// re-parses strings; on disk they keep the strings and the KEY: value object the format has
/// always had. A line whose workload, hardware or schedule does not parse is not a record.
public struct Record: Sendable, Equatable {
    public static let formatVersion = 1
    public var model: String
    public var task: String
    /// How often the layer occurs in the model.
    public var count: Int
    public let workload: Workload
    public let hardware: HardwareConfig
    public let schedule: Schedule
    public var status: RecordStatus
    public var cycles: Int?
    public var reason: String?
    public var error: String?
    public var runner: String?
    /// Unix seconds when the request was sent and when its result was recorded.
    public var sent: Double
    public var finished: Double
    public var wallSeconds: Double?
    /// The flow stage that measured it (absent outside flows): each stage's budget counts only
    /// its own records, so a resumed flow picks up where each stage stopped.
    public var stage: String?
    /// Set on the answer to a layer search (`tune --tuner exhaustive`): the layer's whole schedule
    /// space was searched on this hardware, and `schedule` and `cycles` are its best.
    public var search: SearchCounts?
    /// `hardware.canonicalKey`, computed once: every query groups records by it.
    public let hardwareKey: String

    /// What a layer search tried, as the records file holds it.
    public struct SearchCounts: Codable, Sendable, Equatable {
        public var schedules: Int
        public var valid: Int
        public var invalid: Int
        public var failed: Int
        /// Invalid schedules by reason code.
        public var invalidReasons: [String: Int]

        public init(schedules: Int, valid: Int, invalid: Int, failed: Int, invalidReasons: [String: Int]) {
            self.schedules = schedules
            self.valid = valid
            self.invalid = invalid
            self.failed = failed
            self.invalidReasons = invalidReasons
        }

        enum CodingKeys: String, CodingKey {
            case schedules, valid, invalid, failed
            case invalidReasons = "invalid_reasons"
        }
    }

    public init(
        model: String, task: String, count: Int, workload: Workload, hardware: HardwareConfig, schedule: Schedule,
        status: RecordStatus, cycles: Int? = nil, reason: String? = nil, error: String? = nil,
        runner: String? = nil,
        sent: Double, finished: Double, wallSeconds: Double? = nil
    ) {
        self.model = model
        self.task = task
        self.count = count
        self.workload = workload
        self.hardware = hardware
        self.schedule = schedule
        self.status = status
        self.cycles = cycles
        self.reason = reason
        self.error = error
        self.runner = runner
        self.sent = sent
        self.finished = finished
        self.wallSeconds = wallSeconds
        hardwareKey = hardware.canonicalKey
    }

    /// What makes two measurements the same measurement: layer, hardware and schedule; for a
    /// layer search, layer and hardware (its schedule is what it found, not what it was asked).
    public var key: String {
        search == nil
            ? Self.key(task: task, hardware: hardwareKey, schedule: schedule)
            : Self.searchKey(task: task, hardware: hardwareKey)
    }

    /// The key of a layer search of `task` on the hardware with canonical key `hardwareKey`.
    public static func searchKey(task: String, hardware hardwareKey: String) -> String {
        "\(task)|\(hardwareKey)|search"
    }

    /// The key of a measurement not recorded yet, without building a record.
    public static func key(task: String, hardware hardwareKey: String, schedule: Schedule) -> String {
        "\(task)|\(hardwareKey)|\(schedule)"
    }

    /// The valid cycles of an OK measurement (nil otherwise).
    public var okCycles: Int? { status == .ok ? cycles : nil }
}

extension Record: Codable {
    enum CodingKeys: String, CodingKey {
        case v, model, task, count, workload, hardware, schedule, status, cycles, reason, error, runner, sent, finished
        case wallSeconds = "wall_seconds"
        case stage, search
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
        /// Another format version: not a damaged line but a file this vtafarm must not append to.
        public var foreignVersion = false
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .v)
        guard version == Self.formatVersion else {
            throw FormatError(
                description: "records format version \(version): this vtafarm reads version \(Self.formatVersion)",
                foreignVersion: true)
        }
        func parsed<T>(_ what: String, _ make: () throws -> T) throws -> T {
            do { return try make() } catch { throw FormatError(description: "\(what): \(error)") }
        }
        let workloadText = try c.decode(String.self, forKey: .workload)
        let hardwareValues = try c.decode([String: JSONScalar].self, forKey: .hardware)
        let scheduleText = try c.decode(String.self, forKey: .schedule)
        self.init(
            model: try c.decode(String.self, forKey: .model), task: try c.decode(String.self, forKey: .task),
            count: try c.decode(Int.self, forKey: .count),
            workload: try parsed("workload") { try Workload(parsing: workloadText) },
            hardware: try parsed("hardware") { try HardwareConfig(values: hardwareValues) },
            schedule: try parsed("schedule") { try Schedule(parsing: scheduleText) },
            status: try c.decode(RecordStatus.self, forKey: .status),
            cycles: try c.decodeIfPresent(Int.self, forKey: .cycles),
            reason: try c.decodeIfPresent(String.self, forKey: .reason),
            error: try c.decodeIfPresent(String.self, forKey: .error),
            runner: try c.decodeIfPresent(String.self, forKey: .runner), sent: try c.decode(Double.self, forKey: .sent),
            finished: try c.decode(Double.self, forKey: .finished),
            wallSeconds: try c.decodeIfPresent(Double.self, forKey: .wallSeconds))
        stage = try c.decodeIfPresent(String.self, forKey: .stage)
        search = try c.decodeIfPresent(SearchCounts.self, forKey: .search)
        if let search {
            let counts = [search.schedules, search.valid, search.invalid, search.failed]
            guard counts.allSatisfy({ $0 >= 0 && $0 <= Int(LayerSearch.maxSpaceSize) }),
                search.valid + search.invalid + search.failed <= search.schedules
            else { throw FormatError(description: "search counts \(counts) are not a layer search's") }
        }
        guard count >= 1 else { throw FormatError(description: "count \(count) must be at least 1") }
        // What ResultCheck would never have let through as a measurement is not one in a file either.
        if let cycles, cycles < 0 || cycles >= Int(ResultCheck.maxCycles) {
            throw FormatError(description: "cycles \(cycles) outside 0..<2^62")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.formatVersion, forKey: .v)
        try c.encode(model, forKey: .model)
        try c.encode(task, forKey: .task)
        try c.encode(count, forKey: .count)
        try c.encode(workload.description, forKey: .workload)
        try c.encode(hardware.values, forKey: .hardware)
        try c.encode(schedule.description, forKey: .schedule)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(cycles, forKey: .cycles)
        try c.encodeIfPresent(reason, forKey: .reason)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(runner, forKey: .runner)
        try c.encode(sent, forKey: .sent)
        try c.encode(finished, forKey: .finished)
        try c.encodeIfPresent(wallSeconds, forKey: .wallSeconds)
        try c.encodeIfPresent(stage, forKey: .stage)
        try c.encodeIfPresent(search, forKey: .search)
    }
}
