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

/// One finished measurement, one JSON line in the records file.
public struct Record: Codable, Sendable, Equatable {
    public static let formatVersion = 1
    public var v = Record.formatVersion
    public var model: String
    public var task: String
    /// How often the layer occurs in the model.
    public var count: Int
    public var workload: String
    public var hardware: [String: JSONScalar]
    public var schedule: String
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

    enum CodingKeys: String, CodingKey {
        case v, model, task, count, workload, hardware, schedule, status, cycles, reason, error, runner, sent, finished
        case wallSeconds = "wall_seconds"
        case stage
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
        self.workload = workload.description
        self.hardware = hardware.values
        self.schedule = schedule.description
        self.status = status
        self.cycles = cycles
        self.reason = reason
        self.error = error
        self.runner = runner
        self.sent = sent
        self.finished = finished
        self.wallSeconds = wallSeconds
    }

    /// What makes two measurements the same measurement: layer, hardware and schedule.
    public var key: String { Self.key(task: task, hardwareKey: hardwareKey, schedule: schedule) }

    /// The key of a measurement not recorded yet, without building (and re-parsing) a record.
    public static func key(task: String, hardwareKey: String, schedule: String) -> String {
        "\(task)|\(hardwareKey)|\(schedule)"
    }

    /// The hardware's canonical key (JSON may spell 100.0 as 100; this does not care).
    public var hardwareKey: String {
        hardwareConfig?.canonicalKey
            ?? hardware.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    public var hardwareConfig: HardwareConfig? { try? HardwareConfig(values: hardware) }
}

/// An append-only JSON Lines file of records. Each line is written and fsync'd before `append`
/// returns, so a record counted is a record kept. A torn last line (a crash mid-write) is
/// detected on open, reported, and cut off so that new lines do not join it.
public final class RecordStore {
    public let path: String
    public private(set) var records: [Record] = []
    /// Lines that could not be read (a torn tail), with their 1-based line numbers.
    public private(set) var skipped: [(line: Int, text: String)] = []
    /// `records[i].hardwareKey`, computed once per record: the key parses the hardware
    /// dictionary, and the tuners' replays and the flows' latency queries filter by it often.
    public private(set) var hardwareKeys: [String] = []
    private let fd: Int32
    private var keys = Set<String>()

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (creating if needed) a records file. With `resume: false` an existing non-empty file
    /// is an error, so that no run silently mixes with an old one.
    public init(path: String, resume: Bool) throws {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        var keepBytes = 0
        var loaded: [Record] = []
        if exists {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw OpenError(description: "\(path): cannot read")
            }
            if !data.isEmpty && !resume {
                throw OpenError(
                    description:
                        "\(path) already holds records: pass --resume to continue that run, or choose another --records file"
                )
            }
            let decoder = JSONDecoder()
            var offset = 0
            var lineNumber = 0
            let bytes = [UInt8](data)
            while offset < bytes.count {
                lineNumber += 1
                let end = bytes[offset...].firstIndex(of: UInt8(ascii: "\n"))
                let line = Data(bytes[offset..<(end ?? bytes.count)])
                let complete = end != nil
                if complete, let record = try? decoder.decode(Record.self, from: line) {
                    loaded.append(record)
                    keepBytes = end! + 1
                } else if !line.isEmpty {
                    skipped.append((lineNumber, String(decoding: line.prefix(120), as: UTF8.self)))
                    if complete { keepBytes = end! + 1 }  // a bad line in the middle is kept (and reported), not cut
                } else if complete {
                    keepBytes = end! + 1
                }
                offset = (end ?? bytes.count) + 1
            }
        }
        fd = open(path, O_WRONLY | O_CREAT, 0o644)
        guard fd >= 0 else {
            throw OpenError(description: "\(path): cannot open for writing: \(String(cString: strerror(errno)))")
        }
        // Cut a torn tail so the next record starts on its own line.
        if exists { _ = ftruncate(fd, off_t(keepBytes)) }
        _ = lseek(fd, 0, SEEK_END)
        loaded.forEach(remember)
    }

    deinit { close(fd) }

    /// Whether this exact measurement (layer, hardware, schedule) is already recorded.
    public func contains(key: String) -> Bool { keys.contains(key) }

    /// Appends one record and fsyncs it.
    public func append(_ record: Record) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else {
            throw OpenError(description: "\(path): write failed: \(String(cString: strerror(errno)))")
        }
        guard fsync(fd) == 0 else {
            throw OpenError(description: "\(path): fsync failed: \(String(cString: strerror(errno)))")
        }
        remember(record)
    }

    private func remember(_ record: Record) {
        let hardwareKey = record.hardwareKey
        records.append(record)
        hardwareKeys.append(hardwareKey)
        keys.insert(Record.key(task: record.task, hardwareKey: hardwareKey, schedule: record.schedule))
    }

    /// Every record with its hardware key, ordered by (task, hardware, schedule). The file is in
    /// arrival order, which differs from run to run; learning from a replay in this order makes
    /// later jobs on the same file (a flow's next stage, a resumed run) repeat exactly.
    public func replayOrder() -> [(record: Record, hardwareKey: String)] {
        zip(records, hardwareKeys).map { (record: $0, hardwareKey: $1) }.sorted {
            ($0.record.task, $0.hardwareKey, $0.record.schedule) < ($1.record.task, $1.hardwareKey, $1.record.schedule)
        }
    }

    /// The records on one hardware configuration, in file order.
    public func records(onHardware key: String) -> [Record] {
        zip(records, hardwareKeys).compactMap { $0.1 == key ? $0.0 : nil }
    }

    /// Per task on one hardware configuration: how many records it has, and the fastest valid
    /// measurement (the first, on a tie).
    public func bestPerTask(
        onHardware key: String
    ) -> [String: (measured: Int, best: (schedule: Schedule, cycles: Int)?)] {
        var out: [String: (measured: Int, best: (schedule: Schedule, cycles: Int)?)] = [:]
        for r in records(onHardware: key) {
            var entry = out[r.task] ?? (0, nil)
            entry.measured += 1
            if r.status == .ok, let c = r.cycles, entry.best == nil || c < entry.best!.cycles,
                let s = try? Schedule(parsing: r.schedule)
            {
                entry.best = (s, c)
            }
            out[r.task] = entry
        }
        return out
    }
}
