import Foundation
import Search
import VTA
import Wire

/// What to tune and how.
public struct TuneSettings: Sendable {
    public var model: Model
    public var hardware: HardwareConfig = .stock
    public var tuner: TunerKind = .xgb
    /// Measurements dispatched to runners for the whole model (filtered ones cost nothing).
    public var budget = 512
    /// Schedules proposed, filtered and dispatched together (AutoTVM's plan size).
    public var planSize = 64
    public var seed: UInt64 = 1
    public var timeoutMs: UInt32 = 60_000
    /// Backend requested from the runners (empty: their default).
    public var backend = ""
    /// With the arco tuner: search the hardware too, in this space (nil: hardware fixed).
    public var hardwareSpace: HardwareSpace?
    /// Within a flow, the stage this job runs: its records carry the name and its budget counts
    /// only them (it still learns from, and never repeats, every record in the file).
    public var stage: String?
    public init(model: Model) { self.model = model }
}

/// A snapshot for the progress line.
public struct TuneProgress: Sendable {
    public var layer: String
    public var measured: Int
    public var budget: Int
    public var filtered: Int
    /// Sum over the layers tuned so far of count x best cycles.
    public var bestSoFar: Int?
    public var perSecond: Double
    public var runnersUp: Int
    public var runnersTotal: Int
}

public struct LayerOutcome: Sendable {
    public var layer: Model.Layer
    public var best: (schedule: Schedule, cycles: Int)?
    public var measured: Int
    public var filtered: Int
    /// Dispatched, and the runner said INVALID (the static filter should make this 0 for vta-sim).
    public var invalidDispatched: Int
    public var failed: Int

    public init(
        layer: Model.Layer, best: (schedule: Schedule, cycles: Int)?, measured: Int, filtered: Int = 0,
        invalidDispatched: Int = 0, failed: Int = 0
    ) {
        self.layer = layer
        self.best = best
        self.measured = measured
        self.filtered = filtered
        self.invalidDispatched = invalidDispatched
        self.failed = failed
    }
}

public struct TuneSummary: Sendable {
    /// The hardware the layers' results are for (the best found, when hardware was searched).
    public var hardware: HardwareConfig
    /// Hardware configurations with a measurement (1 on fixed hardware).
    public var hardwareExplored = 1
    public var layers: [LayerOutcome]
    public var seconds: Double
    /// Coordinator-side time (proposing, filtering, learning) per proposed schedule.
    public var secondsPerProposal: Double
    public var resumed: Int
    /// Sum of count x best cycles, when every layer has a valid measurement.
    public var modelCycles: Int? {
        var total = 0
        for l in layers {
            guard let b = l.best else { return nil }
            total = CycleMath.sum(total, CycleMath.product(b.cycles, l.layer.count))
        }
        return total
    }
    /// Candidates the learned validity classifier filtered.
    public var predictedInvalid = 0
    /// All measurements of the run (on every hardware configuration).
    public var totalMeasured: Int? = nil
    public var measured: Int { totalMeasured ?? layers.reduce(0) { $0 + $1.measured } }
    public var filtered: Int { layers.reduce(0) { $0 + $1.filtered } }
    public var invalidDispatched: Int { layers.reduce(0) { $0 + $1.invalidDispatched } }
}

/// A coordinator's tuning run on fixed hardware: each layer in turn gets its share of the budget;
/// the tuner proposes plans, the static VTA rules filter out what cannot work (recorded apart,
/// no runner time), the rest goes to the runners, every result is recorded (fsync'd) before the
/// tuner learns from it. With records from an earlier run the tuner is replayed first and
/// nothing already recorded is measured again.
public final class TuningJob {
    public let settings: TuneSettings
    let dispatcher: Dispatcher
    let records: RecordStore
    let filteredRecords: RecordStore
    let progress: (TuneProgress) -> Void
    private var started = ContinuousClock.now
    private var measuredTotal = 0
    private var filteredTotal = 0
    private var bestSoFar: [String: Int] = [:]
    /// Learns what the runners' backend rejects that the static rules allowed.
    let validity = ValidityClassifier()
    /// Candidates the learned classifier filtered.
    public private(set) var predictedInvalid = 0

    public init(
        settings: TuneSettings, dispatcher: Dispatcher, records: RecordStore, filteredRecords: RecordStore,
        progress: @escaping (TuneProgress) -> Void
    ) {
        self.settings = settings
        self.dispatcher = dispatcher
        self.records = records
        self.filteredRecords = filteredRecords
        self.progress = progress
    }

    public func run() throws -> TuneSummary {
        for (r, _) in records.replayOrder() {  // what earlier runs learned about validity
            guard let c = r.hardwareConfig, let w = try? Workload(parsing: r.workload),
                let s = try? Schedule(parsing: r.schedule)
            else { continue }
            validity.add(Features.candidate(c, w, s), invalid: r.status == .invalid)
        }
        try? validity.fit()
        if let space = settings.hardwareSpace, settings.tuner == .arco { return try coOptimize(space) }
        started = ContinuousClock.now
        let spec = HardwareSpec(settings.hardware)
        var outcomes: [LayerOutcome] = []
        var coordinatorSeconds = 0.0
        var proposals = 0
        var resumed = 0
        let layers = settings.model.layers
        var remaining = settings.budget
        let hwKey = settings.hardware.canonicalKey
        let recordedHere = records.replayOrder().filter { $0.hardwareKey == hwKey }.map(\.record)
        let filteredHere = filteredRecords.replayOrder().filter { $0.hardwareKey == hwKey }.map(\.record)
        for (k, layer) in layers.enumerated() {
            let share = remaining / (layers.count - k)
            let space = ScheduleSpace(workload: layer.workload, spec: spec)
            let tuner = settings.tuner.make(TuningContext(space: space, spec: spec, seed: settings.seed &+ UInt64(k)))
            var outcome = LayerOutcome(
                layer: layer, best: nil, measured: 0, filtered: 0, invalidDispatched: 0, failed: 0)
            // Replay what an earlier run recorded for this layer on this hardware.
            var replay: [(index: Int, cycles: Int?)] = []
            for r in recordedHere where r.task == task(layer) {
                guard let s = try? Schedule(parsing: r.schedule), let i = space.index(of: s) else { continue }
                replay.append((i, r.status == .ok ? r.cycles : nil))
                if r.stage == settings.stage { outcome.measured += 1 }
                note(&outcome, schedule: s, status: r.status, cycles: r.cycles)
            }
            for r in filteredHere where r.task == task(layer) {
                guard let s = try? Schedule(parsing: r.schedule), let i = space.index(of: s) else { continue }
                replay.append((i, nil))
            }
            if !replay.isEmpty { tuner.observe(replay) }
            resumed += outcome.measured
            measuredTotal += outcome.measured
            var exhausted = false
            while outcome.measured < share && !exhausted {
                let t0 = ContinuousClock.now
                var batch: [(Candidate, MeasureRequest)] = []
                let want = min(settings.planSize, share - outcome.measured)
                var rounds = 0
                while batch.count < want && rounds < 50 {
                    rounds += 1
                    let plan = tuner.propose(want - batch.count)
                    if plan.isEmpty {
                        exhausted = true
                        break
                    }
                    proposals += plan.count
                    let (requests, filtered) = try prepare(
                        plan.map { Candidate(layer: k, hardware: settings.hardware, schedule: space.schedule(at: $0)) })
                    batch += requests
                    outcome.filtered += filtered.count
                    if !filtered.isEmpty { tuner.observe(filtered.map { (space.index(of: $0.schedule)!, nil) }) }
                }
                coordinatorSeconds += (ContinuousClock.now - t0).inSeconds
                if batch.isEmpty { continue }
                let results = try measure(batch) { c, r, cycles in
                    outcome.measured += 1
                    note(&outcome, schedule: c.schedule, status: RecordStatus(r.status), cycles: cycles)
                    if r.status == .invalid { outcome.invalidDispatched += 1 }
                }
                let t1 = ContinuousClock.now
                tuner.observe(results.map { (space.index(of: $0.0.schedule)!, $0.1) })
                coordinatorSeconds += (ContinuousClock.now - t1).inSeconds
            }
            remaining -= outcome.measured
            outcomes.append(outcome)
        }
        var summary = TuneSummary(
            hardware: settings.hardware, layers: outcomes, seconds: (ContinuousClock.now - started).inSeconds,
            secondsPerProposal: proposals > 0 ? coordinatorSeconds / Double(proposals) : 0, resumed: resumed)
        summary.predictedInvalid = predictedInvalid
        return summary
    }

    func task(_ layer: Model.Layer) -> String { Self.task(settings.model, layer) }

    /// A layer's task name in the records: `model/layer`.
    static func task(_ model: Model, _ layer: Model.Layer) -> String { "\(model.name)/\(layer.name)" }

    /// Hardware and schedules together (ARCOCoOptimizer), same filtering, recording and resume.
    func coOptimize(_ space: HardwareSpace) throws -> TuneSummary {
        started = ContinuousClock.now
        let layers = settings.model.layers
        let co = ARCOCoOptimizer(space: space, layers: layers, seed: settings.seed)
        let layerIndex = Dictionary(uniqueKeysWithValues: layers.enumerated().map { (task($0.element), $0.offset) })
        var replay: [(hardware: HardwareConfig, layer: Int, schedule: Schedule, cycles: Int?)] = []
        for (r, _) in records.replayOrder() {
            guard let l = layerIndex[r.task], let c = r.hardwareConfig, let s = try? Schedule(parsing: r.schedule)
            else { continue }
            replay.append((c, l, s, r.status == .ok ? r.cycles : nil))
        }
        let resumed = records.records.filter { $0.stage == settings.stage && layerIndex[$0.task] != nil }.count
        measuredTotal = resumed
        if !replay.isEmpty { co.observe(replay) }
        var coordinatorSeconds = 0.0
        var proposals = 0
        var invalidDispatched = 0
        var filtered = 0
        var stalls = 0
        while measuredTotal < settings.budget && stalls < 20 {
            let t0 = ContinuousClock.now
            let plan = co.propose(min(settings.planSize, settings.budget - measuredTotal))
            proposals += plan.count
            if plan.isEmpty {
                stalls += 1
                continue
            }
            let (batch, rejected) = try prepare(
                plan.map { Candidate(layer: $0.layer, hardware: $0.hardware, schedule: $0.schedule) })
            filtered += rejected.count
            if !rejected.isEmpty { co.observe(rejected.map { ($0.hardware, $0.layer, $0.schedule, nil) }) }
            coordinatorSeconds += (ContinuousClock.now - t0).inSeconds
            if batch.isEmpty {
                stalls += 1
                continue
            }
            stalls = 0
            let results = try measure(batch) { c, r, _ in
                if r.status == .invalid { invalidDispatched += 1 }
                if let best = co.measuredModels.first { bestSoFar = ["model": best.cycles] }
            }
            let t1 = ContinuousClock.now
            co.observe(results.map { ($0.0.hardware, $0.0.layer, $0.0.schedule, $0.1) })
            coordinatorSeconds += (ContinuousClock.now - t1).inSeconds
        }
        // Report the best fully measured configuration, layer by layer.
        let best = co.measuredModels.first?.hardware ?? settings.hardware
        var outcomes = records.layerOutcomes(settings.model, on: best)
        if let i = outcomes.indices.first {
            outcomes[i].filtered = filtered
            outcomes[i].invalidDispatched = invalidDispatched
        }
        var summary = TuneSummary(
            hardware: best, layers: outcomes, seconds: (ContinuousClock.now - started).inSeconds,
            secondsPerProposal: proposals > 0 ? coordinatorSeconds / Double(proposals) : 0, resumed: resumed)
        summary.hardwareExplored = Set(records.hardwareKeys).count
        summary.totalMeasured = measuredTotal
        summary.predictedInvalid = predictedInvalid
        return summary
    }

    /// A schedule of one layer on one hardware configuration, as a tuner proposed it.
    struct Candidate {
        var layer: Int
        var hardware: HardwareConfig
        var schedule: Schedule
    }

    func record(_ c: Candidate, status: RecordStatus) -> Record {
        let layer = settings.model.layers[c.layer]
        let now = Date().timeIntervalSince1970
        var r = Record(
            model: settings.model.name, task: task(layer), count: layer.count, workload: layer.workload,
            hardware: c.hardware, schedule: c.schedule, status: status, sent: now, finished: now)
        r.stage = settings.stage
        return r
    }

    /// Skips what is recorded already (never measure twice), records apart what the static VTA
    /// rules reject (returned as `filtered`), and makes requests of the rest.
    func prepare(_ candidates: [Candidate]) throws -> (requests: [(Candidate, MeasureRequest)], filtered: [Candidate]) {
        var requests: [(Candidate, MeasureRequest)] = []
        var filtered: [Candidate] = []
        for c in candidates {
            let layer = settings.model.layers[c.layer]
            if records.contains(
                key: Record.key(
                    task: task(layer), hardwareKey: c.hardware.canonicalKey, schedule: c.schedule.description))
            {
                continue
            }
            if case .failure(let reason) = TilePlan.make(layer.workload, c.schedule, HardwareSpec(c.hardware)) {
                var f = record(c, status: .filtered)
                f.reason = reason.code.rawValue
                try filteredRecords.append(f)
                filtered.append(c)
                filteredTotal += 1
                continue
            }
            if validity.isTrained,
                let p = try? validity.probabilityInvalid([Features.candidate(c.hardware, layer.workload, c.schedule)])
                    .first,
                p > validity.threshold
            {
                var f = record(c, status: .filtered)
                f.reason = "predicted_invalid"
                try filteredRecords.append(f)
                filtered.append(c)
                filteredTotal += 1
                predictedInvalid += 1
                continue
            }
            requests.append(
                (
                    c,
                    MeasureRequest(
                        requestID: dispatcher.newRequestID(), task: task(layer), workload: layer.workload,
                        hardware: c.hardware,
                        schedule: c.schedule, backend: settings.backend, timeoutMs: settings.timeoutMs)
                ))
        }
        return (requests, filtered)
    }

    /// Dispatches a batch; records (fsync'd) and reports each result as it arrives, before
    /// `each` sees it. Returns (candidate, cycles or nil) in batch order, whatever order the
    /// runners answered in, so that what the tuners learn, and so every seeded run, repeats.
    func measure(
        _ batch: [(Candidate, MeasureRequest)], each: (Candidate, MeasureResult, Int?) -> Void
    ) throws -> [(Candidate, Int?)] {
        let sent = Date().timeIntervalSince1970
        let position = Dictionary(uniqueKeysWithValues: batch.enumerated().map { ($0.element.1.requestID, $0.offset) })
        dispatcher.submit(batch.map(\.1))
        var results = [(Candidate, Int?)?](repeating: nil, count: batch.count)
        var rejected = [Bool](repeating: false, count: batch.count)  // the runner answered INVALID
        var received = 0
        while received < batch.count {
            guard let r = try dispatcher.next(timeout: .seconds(1)) else {
                report(settings.model.layers[batch[0].0.layer])
                continue
            }
            guard let i = position[r.requestID], results[i] == nil else { continue }
            let c = batch[i].0
            let cycles = r.status == .ok ? CycleMath.int(r.cycles) : nil
            var rec = record(c, status: RecordStatus(r.status))
            rec.cycles = cycles
            rec.reason = r.invalidReason.isEmpty ? nil : r.invalidReason
            rec.error = r.error.isEmpty ? nil : r.error
            rec.runner = r.runner
            rec.sent = sent
            rec.wallSeconds = r.wallSeconds
            try records.append(rec)
            results[i] = (c, cycles)
            rejected[i] = r.status == .invalid
            received += 1
            measuredTotal += 1
            each(c, r, cycles)
            report(settings.model.layers[c.layer])
        }
        let ordered = results.map { $0! }
        for (i, (c, _)) in ordered.enumerated() {
            validity.add(
                Features.candidate(c.hardware, settings.model.layers[c.layer].workload, c.schedule),
                invalid: rejected[i])
        }
        try? validity.fit()
        return ordered
    }

    func note(_ outcome: inout LayerOutcome, schedule: Schedule, status: RecordStatus, cycles: Int?) {
        if status.isFailure { outcome.failed += 1 }
        guard status == .ok, let c = cycles else { return }
        if outcome.best == nil || c < outcome.best!.cycles { outcome.best = (schedule, c) }
        bestSoFar[outcome.layer.name] = CycleMath.product(c, outcome.layer.count)
    }

    func report(_ layer: Model.Layer) {
        let statuses = dispatcher.runnerStatuses
        let elapsed = max(1e-9, (ContinuousClock.now - started).inSeconds)
        progress(
            TuneProgress(
                layer: layer.name, measured: measuredTotal, budget: settings.budget, filtered: filteredTotal,
                bestSoFar: bestSoFar.isEmpty ? nil : bestSoFar.values.reduce(0, CycleMath.sum),
                perSecond: Double(measuredTotal) / elapsed, runnersUp: statuses.filter(\.reachable).count,
                runnersTotal: statuses.count))
    }

}

extension RecordStore {
    /// Each layer of `model` on `hardware`: its record count and best measurement.
    public func layerOutcomes(_ model: Model, on hardware: HardwareConfig) -> [LayerOutcome] {
        let perTask = bestPerTask(onHardware: hardware.canonicalKey)
        return model.layers.map { layer in
            let p = perTask[TuningJob.task(model, layer)]
            return LayerOutcome(layer: layer, best: p?.best, measured: p?.measured ?? 0)
        }
    }
}
