import Foundation
import Metrics
import Wire

/// The runner's metrics (README, "Watching a farm"). They are swift-metrics handles: no-ops
/// unless `--metrics` bootstrapped a Prometheus registry before the daemon was made, so a runner
/// without it pays a lock-free call per event at most.
final class RunnerMetrics: @unchecked Sendable {
    // `@unchecked Sendable`: the handles are thread-safe (swift-metrics' contract); the cache of
    // labelled counters is guarded by `lock`.
    let received = Counter(label: "vtafarm_runner_requests_received_total")
    let queueDepth = Gauge(label: "vtafarm_runner_queue_depth")
    let busySlots = Gauge(label: "vtafarm_runner_busy_slots")
    let inFlight = Gauge(label: "vtafarm_runner_in_flight")
    let slots = Gauge(label: "vtafarm_runner_slots")
    let coordinators = Gauge(label: "vtafarm_runner_coordinators_seen")
    let wallTime = Timer(label: "vtafarm_runner_measurement_seconds")
    let cycles = Recorder(label: "vtafarm_runner_simulated_cycles", aggregate: true)
    private let lock = NSLock()
    private var finishedCounters: [String: Counter] = [:]
    private var errorCounters: [String: Counter] = [:]

    init(slots: Int) { self.slots.record(slots) }

    /// A measurement answered: by status and backend, with its wall time and (when OK) cycles.
    func finished(_ result: MeasureResult, backend: String) {
        let key = "\(result.status.rawValue)|\(backend)"
        lock.lock()
        let counter =
            finishedCounters[key]
            ?? {
                let c = Counter(
                    label: "vtafarm_runner_requests_finished_total",
                    dimensions: [("status", result.status.rawValue), ("backend", backend)])
                finishedCounters[key] = c
                return c
            }()
        lock.unlock()
        counter.increment()
        if result.wallSeconds.isFinite && result.wallSeconds >= 0 {
            wallTime.recordNanoseconds(Int64(min(result.wallSeconds, 1e9) * 1e9))
        }
        if result.status == .ok { cycles.record(Double(result.cycles)) }
    }

    /// An Error answered to a peer, by code.
    func answeredError(_ code: WireError.Code) {
        let key = "\(code)"
        lock.lock()
        let counter =
            errorCounters[key]
            ?? {
                let c = Counter(label: "vtafarm_runner_errors_total", dimensions: [("code", key)])
                errorCounters[key] = c
                return c
            }()
        lock.unlock()
        counter.increment()
    }

    func queue(depth: Int, busy: Int) {
        queueDepth.record(depth)
        busySlots.record(busy)
        inFlight.record(depth + busy)
    }
}
