import Coordinator
import Foundation
import VTA

/// A records file a report cannot be made of (no records, or not of one model).
public struct ReportError: Error, CustomStringConvertible {
    public let description: String
}

/// What a report shows of one records file, computed from its records alone (the HTML only draws
/// it): how the best model latency fell, the hardware configurations with their resources and
/// Pareto front, each layer against its bounds, why candidates were rejected, and how busy the
/// runners were.
public struct ReportData: Sendable {
    public struct Point: Sendable, Equatable {
        /// Measurements so far (1-based), and seconds since the first was sent.
        public var measured: Int
        public var seconds: Double
        public var latency: Int
    }

    public struct Configuration: Sendable, Equatable {
        /// The configuration as measured.
        public var hardware: HardwareConfig
        /// The same design with the smallest buffers that hold its layers' best schedules
        /// (`Objective.Design.shrunk`: cycles do not depend on buffer sizes); `bram36` is its BRAM.
        public var design: HardwareConfig
        public var latency: Int
        public var dsp: Int
        public var bram36: Int
        /// Not dominated: no other configuration is at least as good in latency, DSP and BRAM and
        /// better in one.
        public var onFront: Bool
    }

    public struct LayerRow: Sendable {
        public var layer: Model.Layer
        public var best: (schedule: Schedule, cycles: Int)?
        public var defaultCycles: Int?
        /// MACs over the core's MACs per cycle, and the bytes a layer must move at least (input,
        /// weights and output once) over the AXI bytes per cycle.
        public var computeBound: Int
        public var memoryBound: Int
        public var measured: Int
    }

    public var path: String
    public var model: Model
    public var records: Int
    /// The best model latency after each measurement that lowered it.
    public var convergence: [Point]
    /// Fully measured hardware configurations, fastest first.
    public var configurations: [Configuration]
    public var layers: [LayerRow]
    /// The hardware the layer rows are for (the fastest fully measured one), if any.
    public var bestHardware: HardwareConfig?
    /// Counts by status and reason: INVALID answers from runners, FILTERED by the coordinator.
    public var invalidReasons: [String: Int]
    public var filteredReasons: [String: Int]
    public var failures: [String: Int]
    /// Per runner: its busy measurements averaged over each of `bins` equal spans of the run.
    public var utilisation: [(runner: String, busy: [Double])]
    public var binSeconds: Double
    /// OK measurements' wall times.
    public var wallSeconds: [Double]

    /// Reads `path` (and `path.filtered`, when there) without changing either.
    public init(path: String, model name: String? = nil, bins: Int = 40) throws {
        let store = try RecordStore(reading: path)
        let models = store.models()
        guard !models.isEmpty else { throw ReportError(description: "\(path): no records") }
        let model: Model
        if let name {
            guard let m = models.first(where: { $0.name == name }) else {
                throw ReportError(description: "\(path): no records of model \(name)")
            }
            model = m
        } else {
            guard models.count == 1 else {
                throw ReportError(
                    description:
                        "\(path) holds records of \(models.count) models (\(models.map(\.name).joined(separator: ", "))): choose one with --model"
                )
            }
            model = models[0]
        }
        self.path = path
        self.model = model
        let mine = store.records.filter { $0.model == model.name }
        records = mine.count
        convergence = Self.convergence(mine, model)
        configurations = Self.front(
            store.designs(model).map { m, d in
                Configuration(
                    hardware: m, design: d.hardware, latency: d.cycles, dsp: d.dsp, bram36: d.bram, onFront: false)
            })
        bestHardware = configurations.first?.hardware
        let hardware = bestHardware ?? mine.first?.hardware ?? .stock
        let spec = HardwareSpec(hardware)
        let defaults = model.defaultScheduleCycles(on: spec)
        layers = zip(store.layerOutcomes(model, on: hardware), defaults).map { o, d in
            LayerRow(
                layer: o.layer, best: o.best, defaultCycles: d, computeBound: Self.computeBound(o.layer.workload, spec),
                memoryBound: Self.memoryBound(o.layer.workload, spec), measured: o.measured)
        }
        invalidReasons = Dictionary(grouping: mine.filter { $0.status == .invalid }) { $0.reason ?? "unknown" }
            .mapValues(\.count)
        failures = Dictionary(grouping: mine.filter { $0.status.isFailure }) { $0.status.rawValue }.mapValues(\.count)
        if FileManager.default.fileExists(atPath: path + ".filtered") {
            let filtered = try RecordStore(reading: path + ".filtered").records.filter { $0.model == model.name }
            filteredReasons = Dictionary(grouping: filtered) { $0.reason ?? "unknown" }.mapValues(\.count)
        } else {
            filteredReasons = [:]
        }
        (utilisation, binSeconds) = Self.utilisation(mine, bins: bins)
        wallSeconds = mine.filter { $0.status == .ok }.compactMap(\.wallSeconds)
    }

    /// Walks the records in the order they finished, keeping each configuration's best per layer;
    /// a point each time the best fully measured configuration got faster.
    static func convergence(_ records: [Record], _ model: Model) -> [Point] {
        let index = Dictionary(
            model.layers.enumerated().map { (model.task($0.element), $0.offset) }, uniquingKeysWith: { a, _ in a })
        let ordered = records.enumerated().sorted {
            ($0.element.finished, $0.offset) < ($1.element.finished, $1.offset)
        }
        let start = records.map(\.sent).min() ?? 0
        var best: [String: [Int: Int]] = [:]
        var out: [Point] = []
        for (n, (_, r)) in ordered.enumerated() {
            guard let l = index[r.task], let c = r.okCycles else { continue }
            if let old = best[r.hardwareKey]?[l], old <= c { continue }
            best[r.hardwareKey, default: [:]][l] = c
            let perLayer = best[r.hardwareKey]!
            guard let latency = model.latency({ perLayer[$0] }) else { continue }
            if out.last.map({ latency < $0.latency }) ?? true {
                out.append(Point(measured: n + 1, seconds: r.finished - start, latency: latency))
            }
        }
        return out
    }

    /// Marks the configurations no other one dominates in (latency, DSP, BRAM), one per distinct
    /// triple (the first: several measured configurations often shrink to the same design).
    static func front(_ configurations: [Configuration]) -> [Configuration] {
        configurations.enumerated().map { i, c in
            var c = c
            c.onFront =
                !configurations.enumerated().contains { j, o in
                    let dominates =
                        o.latency <= c.latency && o.dsp <= c.dsp && o.bram36 <= c.bram36
                        && (o.latency < c.latency || o.dsp < c.dsp || o.bram36 < c.bram36)
                    return dominates || (j < i && (o.latency, o.dsp, o.bram36) == (c.latency, c.dsp, c.bram36))
                }
            return c
        }
    }

    static func computeBound(_ w: Workload, _ spec: HardwareSpec) -> Int {
        (w.macs + spec.macsPerCycle - 1) / spec.macsPerCycle
    }

    /// Input, weights and output moved once each (int8), at the AXI width's bytes per cycle.
    static func memoryBound(_ w: Workload, _ spec: HardwareSpec) -> Int {
        let bytes = w.inputShape.reduce(1, *) + w.weightShape.reduce(1, *) + w.outputShape.reduce(1, *)
        let perCycle = max(1, spec.config.axiWidth / 8)
        return (bytes + perCycle - 1) / perCycle
    }

    /// Each measurement occupies its runner from `finished - wall_seconds` to `finished`.
    static func utilisation(_ records: [Record], bins: Int) -> ([(runner: String, busy: [Double])], Double) {
        let spans = records.compactMap { r -> (String, Double, Double)? in
            guard let runner = r.runner, let wall = r.wallSeconds, wall.isFinite, wall >= 0 else { return nil }
            return (runner, r.finished - wall, r.finished)
        }
        guard let start = spans.map(\.1).min(), let end = spans.map(\.2).max(), end > start, bins > 0 else {
            return ([], 0)
        }
        let width = (end - start) / Double(bins)
        var busy: [String: [Double]] = [:]
        for (runner, a, b) in spans {
            var row = busy[runner] ?? [Double](repeating: 0, count: bins)
            let first = min(bins - 1, Int((a - start) / width))
            let last = min(bins - 1, Int((b - start) / width))
            for k in first...last {
                let lo = start + Double(k) * width
                row[k] += max(0, min(b, lo + width) - max(a, lo)) / width
            }
            busy[runner] = row
        }
        return (busy.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, width)
    }
}
