import VTA

/// The questions every reader asks of a records file, answered once: the CLI (`records best`,
/// `tune`'s summary), flows and tuning jobs all call these.
extension Model {
    /// A layer's task name in the records: `model/layer`.
    public func task(_ layer: Layer) -> String { "\(name)/\(layer.name)" }
}

/// One layer's result on one hardware configuration.
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

/// Which records a layer's `measured` counts: all of them, or those one stage made (a flow stage,
/// or nil: outside any flow), as a stage's budget does.
public enum StageFilter: Sendable, Equatable {
    case any
    case only(String?)

    func admits(_ record: Record) -> Bool {
        switch self {
        case .any: return true
        case .only(let stage): return record.stage == stage
        }
    }
}

extension RecordStore {
    /// Every record in a fixed order, by (task, hardware, schedule). The file is in arrival
    /// order, which differs from run to run; learning from a replay in this order makes later
    /// jobs on the same file (a flow's next stage, a resumed run) repeat exactly.
    public func replayOrder() -> [Record] {
        records.sorted {
            ($0.task, $0.hardwareKey, $0.schedule.description) < ($1.task, $1.hardwareKey, $1.schedule.description)
        }
    }

    /// The records on one hardware configuration, in file order.
    public func records(on hardware: HardwareConfig) -> [Record] {
        let key = hardware.canonicalKey
        return records.filter { $0.hardwareKey == key }
    }

    /// How many distinct hardware configurations the file has a record on.
    public var hardwareCount: Int { Set(records.map(\.hardwareKey)).count }

    /// Each layer of `model` on `hardware`: its records (those `counting` admits), failures, and
    /// the fastest valid measurement (the first in the file, on a tie).
    public func layerOutcomes(
        _ model: Model, on hardware: HardwareConfig, counting: StageFilter = .any
    ) -> [LayerOutcome] {
        var byTask: [String: LayerOutcome] = [:]
        let index = Dictionary(model.layers.map { (model.task($0), $0) }, uniquingKeysWith: { a, _ in a })
        for r in records(on: hardware) {
            guard let layer = index[r.task] else { continue }
            var o = byTask[r.task] ?? LayerOutcome(layer: layer, best: nil, measured: 0)
            if counting.admits(r) { o.measured += 1 }
            if r.status.isFailure { o.failed += 1 }
            if let c = r.okCycles, o.best == nil || c < o.best!.cycles { o.best = (r.schedule, c) }
            byTask[r.task] = o
        }
        return model.layers.map { byTask[model.task($0)] ?? LayerOutcome(layer: $0, best: nil, measured: 0) }
    }

    /// The model latency on `hardware` (sum over layers of count x best cycles), nil while a
    /// layer has no valid measurement there.
    public func latency(_ model: Model, on hardware: HardwareConfig) -> Int? {
        let outcomes = layerOutcomes(model, on: hardware)
        return model.latency { outcomes[$0].best?.cycles }
    }

    /// Every hardware configuration on which each layer of `model` has a valid measurement, with
    /// the model latency there, fastest first (ties: by canonical key, so the answer is stable).
    public func measuredConfigurations(_ model: Model) -> [(hardware: HardwareConfig, latency: Int)] {
        measuredDesigns(model).map { ($0.hardware, $0.latency) }
    }

    /// `measuredConfigurations`, with each layer's fastest valid schedule there (the first in the
    /// file, on a tie): what a design must hold when its buffers are shrunk.
    public func measuredDesigns(_ model: Model) -> [(hardware: HardwareConfig, latency: Int, schedules: [Schedule])] {
        let layerIndex = Dictionary(
            model.layers.enumerated().map { (model.task($0.element), $0.offset) }, uniquingKeysWith: { a, _ in a })
        var best: [String: [Int: (cycles: Int, schedule: Schedule)]] = [:]
        var configs: [String: HardwareConfig] = [:]
        for r in records {
            guard let l = layerIndex[r.task], let c = r.okCycles else { continue }
            configs[r.hardwareKey] = r.hardware
            if let old = best[r.hardwareKey]?[l], old.cycles <= c { continue }
            best[r.hardwareKey, default: [:]][l] = (c, r.schedule)
        }
        return best.compactMap { key, perLayer in
            model.latency { perLayer[$0]?.cycles }.map {
                (configs[key]!, $0, model.layers.indices.map { perLayer[$0]!.schedule })
            }
        }.sorted { a, b in
            a.latency != b.latency ? a.latency < b.latency : a.hardware.canonicalKey < b.hardware.canonicalKey
        }
    }

    /// The models the file holds, rebuilt from their records: one layer per task, in the order
    /// the tasks first appear, with the workload and count recorded for it.
    public func models() -> [Model] {
        var order: [String] = []
        var layers: [String: [Model.Layer]] = [:]
        var seen = Set<String>()
        for r in records where seen.insert(r.task).inserted {
            if layers[r.model] == nil { order.append(r.model) }
            let prefix = r.model + "/"
            let name = r.task.hasPrefix(prefix) ? String(r.task.dropFirst(prefix.count)) : r.task
            layers[r.model, default: []].append(Model.Layer(name: name, workload: r.workload, count: r.count))
        }
        return order.map { Model(name: $0, layers: layers[$0]!) }
    }
}
