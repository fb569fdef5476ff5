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
    /// The live dashboard's feed, refreshed as results arrive (nil: no dashboard).
    public var dashboard: DashboardFeed?
    /// How fixed hardware's budget is spread over the layers.
    public var allocation: BudgetAllocation = .fixed
    /// What the hardware search optimizes (arco and the exhaustive search).
    public var objective: Objective = .latency
    public init(model: Model) { self.model = model }
}

/// How a tuning job on fixed hardware spreads its budget over the layers.
public enum BudgetAllocation: String, Sendable, CaseIterable {
    /// Each layer in turn gets an even share of what is left.
    case fixed
    /// Ansor's task scheduler in spirit: after a first plan for every layer, each plan goes to the
    /// layer whose next measurements promise the largest drop in model latency (count x the
    /// layer's recent improvement per measurement, blended with an optimistic best / measured).
    case gradient
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

public struct TuneSummary: Sendable {
    /// The hardware the layers' results are for (the best found, when hardware was searched).
    public var hardware: HardwareConfig
    /// Hardware configurations with a measurement (1 on fixed hardware).
    public var hardwareExplored = 1
    /// With a hardware search: every fully measured design, best first by the objective.
    public var designs: [Objective.Design] = []
    public var layers: [LayerOutcome]
    public var seconds: Double
    /// Coordinator-side time (proposing, filtering, learning) per proposed schedule.
    public var secondsPerProposal: Double
    public var resumed: Int
    /// Sum of count x best cycles, when every layer has a valid measurement.
    public var modelCycles: Int? { Model.latency(of: layers.map(\.layer)) { layers[$0].best?.cycles } }
    /// Candidates the learned validity classifier filtered.
    public var predictedInvalid = 0
    /// All measurements of the run (on every hardware configuration).
    public var totalMeasured: Int? = nil
    public var measured: Int { totalMeasured ?? layers.reduce(0) { $0 + $1.measured } }
    public var filtered: Int { layers.reduce(0) { $0 + $1.filtered } }
    public var invalidDispatched: Int { layers.reduce(0) { $0 + $1.invalidDispatched } }
}

/// A coordinator's tuning run. On fixed hardware each layer in turn gets its share of the budget
/// through its own tuner; with a hardware space and arco, the co-optimizer proposes hardware and
/// schedules together. Either way the proposals go through the one `TuningLoop` (filter,
/// dispatch, record, learn). With records from an earlier run the proposers are replayed first
/// and nothing already recorded is measured again.
public final class TuningJob {
    public let settings: TuneSettings
    let records: RecordStore
    let loop: TuningLoop
    /// On fixed hardware, each layer's best cycles so far (for the progress line and the gradient
    /// allocation), kept by `layerProposers`' result hook.
    private var layerBest: [Int: Int] = [:]

    public init(
        settings: TuneSettings, dispatcher: Dispatcher, records: RecordStore, filteredRecords: RecordStore,
        progress: @escaping (TuneProgress) -> Void
    ) {
        self.settings = settings
        self.records = records
        loop = TuningLoop(
            settings: settings, dispatcher: dispatcher, records: records, filteredRecords: filteredRecords,
            progress: progress)
    }

    public func run() throws -> TuneSummary {
        try loop.learnValidity()
        loop.started = ContinuousClock.now
        var summary: TuneSummary
        if let space = settings.hardwareSpace, settings.tuner == .arco {
            summary = try coOptimize(space)
        } else if settings.allocation == .gradient {
            summary = try layersByGradient()
        } else {
            summary = try layerByLayer()
        }
        summary.seconds = (ContinuousClock.now - loop.started).inSeconds
        summary.secondsPerProposal = loop.proposals > 0 ? loop.coordinatorSeconds / Double(loop.proposals) : 0
        summary.predictedInvalid = loop.predictedInvalid
        loop.publishDashboard(force: true)
        return summary
    }

    /// Fixed hardware: each layer gets an even share of what is left of the budget, with its
    /// own tuner (seeded by the layer's position), replayed from what the file holds for it.
    func layerByLayer() throws -> TuneSummary {
        let model = settings.model
        let hardware = settings.hardware
        let (proposers, already) = try layerProposers()
        var outcomes: [LayerOutcome] = []
        var remaining = settings.budget
        let resumed = already.reduce(0, +)
        loop.measuredTotal += resumed
        for k in model.layers.indices {
            let share = remaining / (model.layers.count - k)
            let counts = try loop.run(proposers[k], budget: share, measured: already[k])
            var outcome = records.layerOutcomes(model, on: hardware, counting: .only(settings.stage))[k]
            outcome.filtered = counts.filtered
            outcome.invalidDispatched = counts.invalidDispatched
            remaining -= outcome.measured
            outcomes.append(outcome)
        }
        return TuneSummary(hardware: hardware, layers: outcomes, seconds: 0, secondsPerProposal: 0, resumed: resumed)
    }

    /// Every layer's tuner on the fixed hardware (seeded by the layer's position), replayed from
    /// what the file holds for that layer there (its measurements, then its filtered candidates),
    /// and how many of those records this job's stage made. Also points the progress line at the
    /// layers' best cycles.
    func layerProposers() throws -> (proposers: [LayerProposer], measured: [Int]) {
        let model = settings.model
        let hardware = settings.hardware
        let spec = HardwareSpec(hardware)
        let recorded = records.replayOrder().filter { $0.hardwareKey == hardware.canonicalKey }
        let filtered = loop.filteredRecords.replayOrder().filter { $0.hardwareKey == hardware.canonicalKey }
        layerBest = [:]
        loop.bestSoFar = { [unowned self] in
            let tuned = layerBest.keys.sorted()  // the layers with a valid measurement so far
            return tuned.isEmpty ? nil : Model.latency(of: tuned.map { model.layers[$0] }) { layerBest[tuned[$0]] }
        }
        loop.onResult = { [unowned self] c, cycles in
            if let cycles, layerBest[c.layer].map({ cycles < $0 }) ?? true { layerBest[c.layer] = cycles }
        }
        var proposers: [LayerProposer] = []
        var measured: [Int] = []
        for (k, layer) in model.layers.enumerated() {
            let space = ScheduleSpace(workload: layer.workload, spec: spec)
            let proposer = LayerProposer(
                tuner: settings.tuner.make(TuningContext(space: space, spec: spec, seed: settings.seed &+ UInt64(k))),
                space: space, hardware: hardware, layer: k)
            let task = model.task(layer)
            let mine = recorded.filter { $0.task == task }
            let replay =
                mine.map {
                    (candidate: Candidate(hardware: hardware, layer: k, schedule: $0.schedule), cycles: $0.okCycles)
                }
                + filtered.filter { $0.task == task }.map {
                    (candidate: Candidate(hardware: hardware, layer: k, schedule: $0.schedule), cycles: nil as Int?)
                }
            if !replay.isEmpty { try proposer.observe(replay) }
            for r in mine { loop.onResult(Candidate(hardware: hardware, layer: k, schedule: r.schedule), r.okCycles) }
            proposers.append(proposer)
            measured.append(mine.filter { $0.stage == settings.stage }.count)
        }
        return (proposers, measured)
    }

    /// Fixed hardware, the budget spread by expected gain (`BudgetAllocation.gradient`). The layers'
    /// tuners are the same (same seeds, same replay) as with fixed shares; only who gets the next
    /// plan differs.
    func layersByGradient() throws -> TuneSummary {
        let model = settings.model
        let hardware = settings.hardware
        let (proposers, replayed) = try layerProposers()
        var measured = replayed
        let resumed = measured.reduce(0, +)
        loop.measuredTotal = resumed
        var total = resumed
        var done = Set<Int>()
        var before = [Int?](repeating: nil, count: model.layers.count)  // best before the layer's last plan
        var lastGain = [Double](repeating: 0, count: model.layers.count)  // cycles saved per measurement then
        var counts = [TuningLoop.Counts](repeating: TuningLoop.Counts(), count: model.layers.count)
        while total < settings.budget && done.count < model.layers.count {
            // A layer without a valid measurement first (warm-up), then the largest expected gain.
            let open = model.layers.indices.filter { !done.contains($0) }
            let warmUp = open.first { layerBest[$0] == nil && measured[$0] == 0 }
            let k =
                warmUp
                ?? open.max { a, b in
                    expectedGain(a, measured, lastGain) < expectedGain(b, measured, lastGain)
                }!
            // A warm-up plan is at most an even share, so a plan size above budget / layers cannot
            // spend the whole budget before every layer has had one.
            let share = warmUp == nil ? settings.planSize : max(1, settings.budget / model.layers.count)
            let chunk = min(settings.planSize, share, settings.budget - total)
            before[k] = layerBest[k]
            let c = try loop.run(proposers[k], budget: measured[k] + chunk, measured: measured[k])
            counts[k].measured += c.measured
            counts[k].filtered += c.filtered
            counts[k].invalidDispatched += c.invalidDispatched
            if c.measured == 0 { done.insert(k) }
            measured[k] += c.measured
            total += c.measured
            if let old = before[k], let now = layerBest[k], c.measured > 0 {
                lastGain[k] = Double(old - now) / Double(c.measured)
            }
        }
        let outcomes = model.layers.indices.map { k -> LayerOutcome in
            var o = records.layerOutcomes(model, on: hardware, counting: .only(settings.stage))[k]
            o.filtered = counts[k].filtered
            o.invalidDispatched = counts[k].invalidDispatched
            return o
        }
        return TuneSummary(hardware: hardware, layers: outcomes, seconds: 0, secondsPerProposal: 0, resumed: resumed)
    }

    /// Model cycles one more measurement of layer `k` is expected to save: its count times a blend
    /// of its last plan's improvement per measurement and an optimistic best / measured (a layer
    /// that stopped improving still gets a turn now and then, one measured little gets more).
    func expectedGain(_ k: Int, _ measured: [Int], _ lastGain: [Double]) -> Double {
        guard let b = layerBest[k] else { return .infinity }
        let count = Double(settings.model.layers[k].count)
        let optimistic = Double(b) / Double(max(1, measured[k]))
        return count * (0.2 * lastGain[k] + 0.8 * optimistic)  // Ansor's alpha = 0.2
    }

    /// Hardware and schedules together (ARCOCoOptimizer), replayed from every record of the model.
    func coOptimize(_ space: HardwareSpace) throws -> TuneSummary {
        let model = settings.model
        let co = ARCOCoOptimizer(space: space, layers: model.layers, seed: settings.seed, objective: settings.objective)
        let layerIndex = Dictionary(
            model.layers.enumerated().map { (model.task($0.element), $0.offset) }, uniquingKeysWith: { a, _ in a })
        let replay = records.replayOrder().compactMap { r in
            layerIndex[r.task].map {
                (candidate: Candidate(hardware: r.hardware, layer: $0, schedule: r.schedule), cycles: r.okCycles)
            }
        }
        let resumed = records.records.filter { $0.stage == settings.stage && layerIndex[$0.task] != nil }.count
        loop.measuredTotal = resumed
        if !replay.isEmpty { try co.observe(replay) }
        loop.bestSoFar = { co.measuredModels.first?.cycles }
        let counts = try loop.run(co, budget: settings.budget, measured: resumed)
        // Report the best fully measured configuration, layer by layer.
        // The best of this search's space: the file may hold faster configurations of others.
        let ranked = co.rankedDesigns
        let best = ranked.first?.measured ?? settings.hardware
        var outcomes = records.layerOutcomes(model, on: best)
        if let i = outcomes.indices.first {
            outcomes[i].filtered = counts.filtered
            outcomes[i].invalidDispatched = counts.invalidDispatched
        }
        var summary = TuneSummary(hardware: best, layers: outcomes, seconds: 0, secondsPerProposal: 0, resumed: resumed)
        summary.hardwareExplored = records.hardwareCount
        summary.designs = ranked.map(\.design)
        summary.totalMeasured = loop.measuredTotal
        return summary
    }
}
