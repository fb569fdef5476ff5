import Foundation
import Metrics
import VTA

/// The coordinator's metrics (README, "Watching a farm"): swift-metrics handles, no-ops unless
/// `--metrics` bootstrapped a Prometheus registry before the tuning job was made.
final class CoordinatorMetrics {
    private var measured: [RecordStatus: Counter] = [:]
    let filteredStatic = Counter(label: "vtafarm_coordinator_filtered_total", dimensions: [("kind", "static")])
    let filteredPredicted = Counter(label: "vtafarm_coordinator_filtered_total", dimensions: [("kind", "predicted")])
    let proposals = Counter(label: "vtafarm_coordinator_proposals_total")
    let proposingSeconds = FloatingPointCounter(label: "vtafarm_coordinator_proposing_seconds_total")
    let bestLatency = Gauge(label: "vtafarm_coordinator_best_model_latency_cycles")
    let runnersUp = Gauge(label: "vtafarm_coordinator_runners_up")
    let runners = Gauge(label: "vtafarm_coordinator_runners")

    /// Per hardware configuration, each layer's best cycles: the best model latency follows from
    /// it in O(layers) per result instead of a pass over the records.
    private var best: [String: [Int: Int]] = [:]
    private var bestModel: Int?
    private let model: Model

    init(model: Model, records: [Record]) {
        self.model = model
        for status in RecordStatus.allCases where status != .filtered {
            measured[status] = Counter(
                label: "vtafarm_coordinator_measurements_total", dimensions: [("status", status.rawValue)])
        }
        let index = Dictionary(
            model.layers.enumerated().map { (model.task($0.element), $0.offset) }, uniquingKeysWith: { a, _ in a })
        for r in records { if let l = index[r.task], let c = r.okCycles { note(r.hardwareKey, layer: l, cycles: c) } }
        if let bestModel { bestLatency.record(bestModel) }
    }

    func measured(_ status: RecordStatus, hardware: String, layer: Int, cycles: Int?) {
        measured[status]?.increment()
        if let cycles {
            note(hardware, layer: layer, cycles: cycles)
            if let bestModel { bestLatency.record(bestModel) }
        }
    }

    private func note(_ hardware: String, layer: Int, cycles: Int) {
        if let old = best[hardware]?[layer], old <= cycles { return }
        best[hardware, default: [:]][layer] = cycles
        let perLayer = best[hardware]!
        if let latency = model.latency({ perLayer[$0] }), bestModel.map({ latency < $0 }) ?? true {
            bestModel = latency
        }
    }
}

/// The dispatcher's metrics. One set per process, made at first use (after `--metrics`
/// bootstrapped the registry, since the CLI does that before any dispatcher exists).
final class DispatcherMetrics: Sendable {
    static let shared = DispatcherMetrics()
    /// Requests sent again (their runner was lost, refused them, or let them go overdue).
    let redispatched = Counter(label: "vtafarm_coordinator_redispatched_total")
    let lostRunners = Counter(label: "vtafarm_coordinator_lost_runners_total")
    /// Results dropped: for a request already answered, or not in flight on the runner that sent it.
    let duplicateResults = Counter(
        label: "vtafarm_coordinator_dropped_results_total", dimensions: [("kind", "duplicate")])
    let unexpectedResults = Counter(
        label: "vtafarm_coordinator_dropped_results_total", dimensions: [("kind", "not_in_flight")])
}
