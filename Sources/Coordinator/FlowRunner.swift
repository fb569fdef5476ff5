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
        /// The summary of the last search or tune stage that ran.
        public var lastSummary: TuneSummary?
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
    public init(flow: Flow, base: TuneSettings, defaultFPGA: FPGA?, dispatcher: Dispatcher, records: RecordStore,
                filteredRecords: RecordStore, progress: @escaping (TuneProgress) -> Void, log: @escaping (String) -> Void) {
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
        best(on: hardware).reduce(0 as Int?) { total, b in
            guard let total, let c = b.best?.cycles else { return nil }
            return total + c * b.layer.count
        }
    }

    public func best(on hardware: HardwareConfig) -> [(layer: Model.Layer, best: (schedule: Schedule, cycles: Int)?)] {
        let key = hardware.canonicalKey
        var best: [String: (Schedule, Int)] = [:]
        for r in records.records where r.status == "OK" && r.hardwareKey == key {
            guard let c = r.cycles, let s = try? Schedule(parsing: r.schedule) else { continue }
            if let b = best[r.task], b.1 <= c { continue }
            best[r.task] = (s, c)
        }
        return base.model.layers.map { l in (l, best["\(base.model.name)/\(l.name)"].map { (schedule: $0.0, cycles: $0.1) }) }
    }

    public func run() throws -> Outcome {
        var hardware = base.hardware
        var latency = self.latency(on: hardware)
        var gain: Double? = nil
        var reports: [StageReport] = []
        var lastSummary: TuneSummary? = nil
        var verified = true
        func values() -> [Flow.Predicate.Variable: Double] {
            var v: [Flow.Predicate.Variable: Double] = [.measured: Double(records.records.count)]
            if let latency { v[.latency] = Double(latency) }
            if let gain { v[.gain] = gain }
            return v
        }
        for (index, stage) in flow.stages.enumerated() {
            for k in 1...stage.repeats {
                let name = "\(index + 1):\(stage.kind.rawValue)" + (k > 1 ? "#\(k)" : "")
                var report = StageReport(name: name)
                if k == 1, let when = stage.when, !when.holds(values()) {
                    report.skipped = "when \(when) does not hold"
                    log("stage \(name): skipped (\(report.skipped!))")
                    reports.append(report)
                    break
                }
                switch stage.kind {
                case .verify:
                    report.verification = try verify(on: hardware, seed: stage.seed ?? 1)
                    let failed = report.verification.filter { !($0.outcome?.passed ?? false) }
                    if !failed.isEmpty { verified = false }
                    log("stage \(name): \(report.verification.count - failed.count) of \(report.verification.count) layers' best schedules match the reference on \(hardware.shortName)")
                    for f in failed { log("  \(f.layer): \(f.outcome?.description ?? "no valid measurement to verify")") }
                case .search, .tune:
                    var settings = base
                    settings.hardware = hardware
                    settings.budget = stage.budget
                    settings.planSize = stage.planSize ?? base.planSize
                    settings.seed = base.seed &+ (stage.seed ?? UInt64(index)) &* 7919 &+ UInt64(k - 1)
                    settings.stage = name
                    if stage.kind == .search {
                        settings.tuner = .arco
                        let board = stage.fpga.flatMap(FPGA.named) ?? defaultFPGA ?? FPGA.named("pynq-z1")!
                        do {
                            settings.hardwareSpace = try HardwareSpace(base: hardware, fpga: board, workloads: base.model.layers.map(\.workload),
                                                                       overrides: stage.space)
                        } catch let e as HardwareSpace.SpaceError {
                            throw FlowError(description: "stage \(name) (line \(stage.line ?? 0)): \(e.description)")
                        }
                    } else {
                        settings.tuner = stage.tuner
                        settings.hardwareSpace = nil
                    }
                    let job = TuningJob(settings: settings, dispatcher: dispatcher, records: records, filteredRecords: filteredRecords, progress: progress)
                    let summary = try job.run()
                    report.summary = summary
                    lastSummary = summary
                    let before = latency
                    if stage.kind == .search { hardware = summary.hardware }
                    latency = self.latency(on: hardware)
                    gain = latency.map { now in before.map { 100 * Double($0 - now) / Double($0) } ?? 100 }
                    report.latency = latency
                    report.gain = gain
                    let what = stage.kind == .search ? "arco within \(settings.hardwareSpace!.fpga?.name ?? "any FPGA")" : stage.tuner.rawValue
                    log("stage \(name) (\(what)): \(summary.measured) measured, \(summary.filtered) filtered; hardware \(hardware.shortName); model latency \(latency.map(formatCycles) ?? "incomplete")\(gain.map { String(format: ", gain %.2f%%", $0) } ?? "")")
                }
                reports.append(report)
                if let until = stage.until, until.holds(values()) {
                    if k < stage.repeats { log("stage \(index + 1):\(stage.kind.rawValue): until \(until) holds, no more repeats") }
                    break
                }
            }
        }
        return Outcome(stages: reports, hardware: hardware, latency: latency, lastSummary: lastSummary, verified: verified)
    }

    /// Each layer's best recorded schedule on `hardware`, checked on the functional model
    /// against the reference convolution (seeded random tensors). nil: nothing to verify.
    func verify(on hardware: HardwareConfig, seed: UInt64) throws -> [(layer: String, outcome: FunctionalCheck.Outcome?)] {
        let spec = HardwareSpec(hardware)
        return try best(on: hardware).map { layer, best in
            guard let best else { return (layer.name, nil) }
            return (layer.name, try FunctionalCheck.run(layer.workload, best.schedule, spec: spec, seed: seed))
        }
    }
}
