import Foundation
import VTA

/// What the live dashboard shows, as one JSON document the tuning loop refreshes (at most every
/// quarter second, and at the end) and the dashboard's HTTP thread hands out. The loop thread
/// owns the records; the HTTP thread only ever sees a finished snapshot, under `lock`.
public final class DashboardFeed: @unchecked Sendable {
    // `@unchecked Sendable`: `json` is read and written only under `lock`; everything else is
    // touched by the tuning loop's thread alone.
    private let lock = NSLock()
    private var json = #"{"measured":0}"#
    private var lastPublished = ContinuousClock.now - .seconds(1)
    /// The best model latency each time it fell: (measurements, seconds, cycles).
    private var convergence: [(Int, Double, Int)] = []
    private var best: [String: [Int: Int]] = [:]
    private var bestModel: Int?
    private let started = Date()
    private var defaults: [String: [Int?]] = [:]

    public init() {}

    /// The latest snapshot.
    public var document: String {
        lock.lock()
        defer { lock.unlock() }
        return json
    }

    private var seeded = false

    /// Takes in what the records file held before this run (once, whatever the number of jobs).
    func seed(_ records: [Record], model: Model) {
        guard !seeded else { return }
        seeded = true
        let index = Dictionary(
            model.layers.enumerated().map { (model.task($0.element), $0.offset) }, uniquingKeysWith: { a, _ in a })
        for (n, r) in records.enumerated() {
            if let l = index[r.task] { noted(r, layer: l, model: model, measured: n + 1) }
        }
    }

    /// A measurement was recorded (the loop calls it for every result, in order).
    func noted(_ record: Record, layer: Int, model: Model, measured: Int) {
        guard let c = record.okCycles else { return }
        if let old = best[record.hardwareKey]?[layer], old <= c { return }
        best[record.hardwareKey, default: [:]][layer] = c
        let perLayer = best[record.hardwareKey]!
        if let latency = model.latency({ perLayer[$0] }), bestModel.map({ latency < $0 }) ?? true {
            bestModel = latency
            convergence.append((measured, Date().timeIntervalSince(started), latency))
        }
    }

    /// Builds a new snapshot unless one was built in the last quarter second (`force`: always).
    func publish(
        model: Model, records: RecordStore, filtered: Int, runners: [RunnerStatus], budget: Int, force: Bool = false
    ) {
        let now = ContinuousClock.now
        guard force || now - lastPublished > .milliseconds(250) else { return }
        lastPublished = now
        let configurations = records.measuredConfigurations(model)
        let hardware = configurations.first?.hardware ?? records.records.last?.hardware ?? .stock
        let spec = HardwareSpec(hardware)
        if defaults[hardware.canonicalKey] == nil {
            defaults[hardware.canonicalKey] = model.defaultScheduleCycles(on: spec)
        }
        let defaultCycles = defaults[hardware.canonicalKey]!
        let layers: [[String: Any]] = zip(records.layerOutcomes(model, on: hardware), defaultCycles).map { o, d in
            var row: [String: Any] = [
                "name": o.layer.name, "count": o.layer.count, "measured": o.measured,
                "compute_bound": (o.layer.workload.macs + spec.macsPerCycle - 1) / spec.macsPerCycle,
            ]
            if let b = o.best {
                row["best"] = b.cycles
                row["schedule"] = b.schedule.description
            }
            if let d { row["default"] = d }
            return row
        }
        var failures: [String: Int] = [:]
        var lastError: String?
        for r in records.records where r.status.isFailure {
            failures[r.status.rawValue, default: 0] += 1
            lastError = r.error ?? lastError
        }
        var doc: [String: Any] = [
            "model": model.name, "measured": records.records.count, "budget": budget, "filtered": filtered,
            "hardware": hardware.shortName,
            "convergence": convergence.map { ["measured": $0.0, "seconds": $0.1, "cycles": $0.2] },
            "layers": layers,
            "configurations": configurations.prefix(50).map {
                ["hardware": $0.hardware.shortName, "cycles": $0.latency]
            },
            "configurations_total": configurations.count, "hardware_explored": records.hardwareCount,
            "runners": runners.map { s -> [String: Any] in
                var r: [String: Any] = [
                    "name": s.runnerName ?? s.address.name, "endpoint": s.address.endpoint, "up": s.reachable,
                ]
                if let v = s.slots { r["slots"] = v }
                if let v = s.busySlots { r["busy"] = v }
                if let v = s.queueDepth { r["queue"] = v }
                if let v = s.roundTrip { r["rtt_ms"] = v.inSeconds * 1000 }
                return r
            },
            "failures": failures,
        ]
        if let bestModel { doc["best"] = bestModel }
        if let lastError { doc["last_error"] = String(lastError.prefix(300)) }
        guard let data = try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]) else { return }
        let text = String(decoding: data, as: UTF8.self)
        lock.lock()
        json = text
        lock.unlock()
    }
}
