import Foundation
import Search
import VTA

/// Runs a `Flow` stage by stage over one records file and one dispatcher; what each kind of stage
/// does is in FlowStages/. Each search or tune stage is a `TuningJob` tagged with the stage's name
/// (`2:tune`, `2:tune#2` for a repeat), so its budget counts only its own records and a resumed
/// flow continues where each stage stopped.
public final class FlowRunner {
    public struct StageReport: Sendable {
        public var name: String
        /// Why it did not run (a `when` that did not hold), or nil.
        public var skipped: String?
        public var summary: TuneSummary?
        public var verification: [(layer: String, check: LayerCheck?)] = []
        /// The flow's model latency after the stage, and its gain (percent) over before it.
        public var latency: Int?
        public var gain: Double?
    }

    /// What a verify stage found for one layer's best schedule.
    public struct LayerCheck: Sendable {
        public var passed: Bool
        public var description: String
    }

    public struct Outcome: Sendable {
        public var stages: [StageReport]
        public var hardware: HardwareConfig
        public var latency: Int?
        /// Every verify stage passed (true when there was none).
        public var verified: Bool
    }

    public struct FlowError: Error, CustomStringConvertible {
        public let description: String
    }

    let flow: Flow
    /// The model, the starting hardware, the seed, backend and timeout of every stage.
    let base: TuneSettings
    let defaultFPGA: FPGA?
    let dispatcher: Dispatcher
    let records: RecordStore
    let filteredRecords: RecordStore
    let progress: (TuneProgress) -> Void
    let log: (String) -> Void

    /// `base` holds the model, the starting hardware, the seed, backend and timeout; stages
    /// set the rest. `defaultFPGA` is the board of search stages that name none.
    public init(
        flow: Flow, base: TuneSettings, defaultFPGA: FPGA?, dispatcher: Dispatcher, records: RecordStore,
        filteredRecords: RecordStore, progress: @escaping (TuneProgress) -> Void, log: @escaping (String) -> Void
    ) {
        self.flow = flow
        self.base = base
        self.defaultFPGA = defaultFPGA
        self.dispatcher = dispatcher
        self.records = records
        self.filteredRecords = filteredRecords
        self.progress = progress
        self.log = log
    }

    /// The model latency on `hardware` from every record in the file: the sum over layers of
    /// count x best cycles, nil while a layer has no valid measurement there.
    public func latency(on hardware: HardwareConfig) -> Int? { records.latency(base.model, on: hardware) }

    /// What the stages share besides the records file.
    struct State {
        var hardware: HardwareConfig
        var latency: Int?
        var gain: Double?
        var reports: [StageReport] = []
        var verified = true
    }

    public func run() throws -> Outcome {
        var state = State(hardware: base.hardware, latency: latency(on: base.hardware))
        try run(flow.stages, prefix: "", &state)
        return Outcome(
            stages: state.reports, hardware: state.hardware, latency: state.latency,
            verified: state.verified)
    }

    func values(_ state: State) -> [Flow.Predicate.Variable: Double] {
        var v: [Flow.Predicate.Variable: Double] = [.measured: Double(records.records.count)]
        if let latency = state.latency { v[.latency] = Double(latency) }
        if let gain = state.gain { v[.gain] = gain }
        return v
    }

    /// Runs `stages` in order; `prefix` names the enclosing fork branch (`3:fork/zcu104/`).
    func run(_ stages: [Flow.Stage], prefix: String, _ state: inout State) throws {
        for (index, stage) in stages.enumerated() {
            let stem = "\(prefix)\(index + 1):\(stage.kind.rawValue)"
            for k in 1...stage.repeats {
                let name = stem + (k > 1 ? "#\(k)" : "")
                if k == 1, let when = stage.when, !when.holds(values(state)) {
                    var report = StageReport(name: name)
                    report.skipped = "when \(when) does not hold"
                    log("stage \(name): skipped (\(report.skipped!))")
                    state.reports.append(report)
                    break
                }
                try run(stage, name: name, &state)
                if let until = stage.until, until.holds(values(state)) {
                    if k < stage.repeats { log("stage \(stem): until \(until) holds, no more repeats") }
                    break
                }
            }
        }
    }

    func run(_ stage: Flow.Stage, name: String, _ state: inout State) throws {
        state.reports.append(try stage.kind.stage.run(stage, name: name, state: &state, flow: self))
    }

    /// A search or tune stage's job settings: the flow's, with the stage's budget, plan size,
    /// seed and name, on the flow's hardware.
    func settings(for stage: Flow.Stage, name: String, state: State) -> TuneSettings {
        var settings = base
        settings.hardware = state.hardware
        settings.budget = stage.budget
        settings.planSize = stage.planSize ?? base.planSize
        settings.seed = base.seed &+ (stage.seed ?? Self.stableHash(name))
        settings.stage = name
        return settings
    }

    /// Runs a tuning job as a stage: the flow's hardware follows a hardware search, and the
    /// model latency (from every record in the file) is updated.
    func runJob(
        _ settings: TuneSettings, stage: Flow.Stage, name: String, what: String, _ state: inout State
    ) throws -> StageReport {
        var report = StageReport(name: name)
        let job = TuningJob(
            settings: settings, dispatcher: dispatcher, records: records, filteredRecords: filteredRecords,
            progress: progress)
        let summary = try job.run()
        report.summary = summary
        let before = state.latency
        if settings.hardwareSpace != nil { state.hardware = summary.hardware }
        state.update(latency: latency(on: state.hardware), before: before)
        report.latency = state.latency
        report.gain = state.gain
        log(
            "stage \(name) (\(what)): \(summary.measured) measured, \(summary.filtered) filtered; hardware \(state.hardware.shortName); model latency \(state.latency.map(formatCycles) ?? "incomplete")\(state.gain.map { String(format: ", gain %.2f%%", $0) } ?? "")"
        )
        return report
    }

    /// FNV-1a of a stage's name: each stage (and repeat, and branch) gets its own seed, the
    /// same in every run of the flow.
    static func stableHash(_ name: String) -> UInt64 {
        name.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}
