import Foundation
import Search
import VTA

/// Runs a `Flow` stage by stage over one records file and one dispatcher. Each search or tune
/// stage is a `TuningJob` tagged with the stage's name (`2:tune`, `2:tune#2` for a repeat), so
/// its budget counts only its own records and a resumed flow continues where each stage stopped.
public final class FlowRunner {
    public struct StageReport: Sendable {
        public var name: String
        /// Why it did not run (a `when` that did not hold), or nil.
        public var skipped: String?
        public var summary: TuneSummary?
        public var verification: [(layer: String, outcome: FunctionalCheck.Outcome?)] = []
        /// The flow's model latency after the stage, and its gain (percent) over before it.
        public var latency: Int?
        public var gain: Double?
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
    public func latency(on hardware: HardwareConfig) -> Int? {
        records.layerOutcomes(base.model, on: hardware).reduce(0 as Int?) { total, o in
            guard let total, let c = o.best?.cycles else { return nil }
            return CycleMath.sum(total, CycleMath.product(c, o.layer.count))
        }
    }

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
        var report = StageReport(name: name)
        switch stage.kind {
        case .fork:
            // Every branch starts from the same state; the one with the lowest model latency
            // carries on (ties: the first). All branches' records stay in the file.
            var outcomes: [(name: String, state: State)] = []
            for branch in stage.branches {
                var s = state
                s.reports = []
                try run(branch.stages, prefix: "\(name)/\(branch.name)/", &s)
                state.reports += s.reports
                if !s.verified { state.verified = false }
                outcomes.append((branch.name, s))
            }
            let best = outcomes.min { a, b in (a.state.latency ?? .max) < (b.state.latency ?? .max) }!
            let before = state.latency
            let reports = state.reports
            state = best.state
            state.reports = reports
            state.verified = state.verified && outcomes.allSatisfy(\.state.verified)
            state.gain = state.latency.map { now in before.map { 100 * Double($0 - now) / Double($0) } ?? 100 }
            report.latency = state.latency
            report.gain = state.gain
            log(
                "stage \(name): branch \(best.name) carries on (\(outcomes.map { "\($0.name) \($0.state.latency.map(formatCycles) ?? "incomplete")" }.joined(separator: ", ")) cycles); hardware \(state.hardware.shortName)"
            )
        case .verify:
            report.verification = try verify(on: state.hardware, seed: stage.seed ?? 1)
            let failed = report.verification.filter { !($0.outcome?.passed ?? false) }
            if !failed.isEmpty { state.verified = false }
            log(
                "stage \(name): \(report.verification.count - failed.count) of \(report.verification.count) layers' best schedules match the reference on \(state.hardware.shortName)"
            )
            for f in failed { log("  \(f.layer): \(f.outcome?.description ?? "no valid measurement to verify")") }
        case .search, .tune:
            var settings = base
            settings.hardware = state.hardware
            settings.budget = stage.budget
            settings.planSize = stage.planSize ?? base.planSize
            settings.seed = base.seed &+ (stage.seed ?? Self.stableHash(name))
            settings.stage = name
            if stage.kind == .search {
                settings.tuner = .arco
                let board = stage.fpga.flatMap(FPGA.named) ?? defaultFPGA ?? FPGA.defaultBoard
                do {
                    settings.hardwareSpace = try HardwareSpace(
                        base: state.hardware, fpga: board, workloads: base.model.layers.map(\.workload),
                        overrides: stage.space)
                } catch let e as HardwareSpace.SpaceError {
                    throw FlowError(description: "stage \(name) (line \(stage.line ?? 0)): \(e.description)")
                }
            } else {
                settings.tuner = stage.tuner
                settings.hardwareSpace = nil
            }
            let job = TuningJob(
                settings: settings, dispatcher: dispatcher, records: records, filteredRecords: filteredRecords,
                progress: progress)
            let summary = try job.run()
            report.summary = summary
            let before = state.latency
            if stage.kind == .search { state.hardware = summary.hardware }
            state.latency = latency(on: state.hardware)
            state.gain = state.latency.map { now in before.map { 100 * Double($0 - now) / Double($0) } ?? 100 }
            report.latency = state.latency
            report.gain = state.gain
            let what = stage.kind == .search ? "arco within \(board(settings))" : stage.tuner.rawValue
            log(
                "stage \(name) (\(what)): \(summary.measured) measured, \(summary.filtered) filtered; hardware \(state.hardware.shortName); model latency \(state.latency.map(formatCycles) ?? "incomplete")\(state.gain.map { String(format: ", gain %.2f%%", $0) } ?? "")"
            )
        }
        state.reports.append(report)
    }

    func board(_ settings: TuneSettings) -> String { settings.hardwareSpace?.fpga?.name ?? "any FPGA" }

    /// FNV-1a of a stage's name: each stage (and repeat, and branch) gets its own seed, the
    /// same in every run of the flow.
    static func stableHash(_ name: String) -> UInt64 {
        name.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    /// Each layer's best recorded schedule on `hardware`, checked on the functional model
    /// against the reference convolution (seeded random tensors). nil: nothing to verify.
    func verify(
        on hardware: HardwareConfig, seed: UInt64
    ) throws -> [(layer: String, outcome: FunctionalCheck.Outcome?)] {
        let spec = HardwareSpec(hardware)
        return try records.layerOutcomes(base.model, on: hardware).map { o in
            guard let best = o.best else { return (o.layer.name, nil) }
            return (o.layer.name, try FunctionalCheck.run(o.layer.workload, best.schedule, spec: spec, seed: seed))
        }
    }
}
