import Foundation
import Search
import VTA
import Wire

/// The farm's exhaustive ground truth (`tune --tuner exhaustive`): every layer's whole schedule
/// space on every hardware configuration given (a space's maximal points, or one fixed
/// configuration), as coarse requests, one layer on one configuration each (a ``LayerSearch``),
/// answered with that layer's best schedule. Every answer is recorded (fsync'd) like a
/// measurement, so a resumed run sends only the searches the file lacks.
///
/// Configurations go out grouped by block shape and AXI width, fastest compute bound first, and
/// a group whose bound is not below the `top`-th best model latency found so far is cut: no
/// configuration in it can be one of the `top` best, so the top list is exact. Groups are sent
/// ahead while fewer than `window` searches wait, which keeps every runner busy across group
/// boundaries; a group sent ahead is never cut later, so a run may search a little more than a
/// strictly sequential sweep would, never less.
public final class ExhaustiveJob {
    public struct Summary: Sendable {
        /// The best configurations by the objective, best first (latency: fastest first, ties by
        /// canonical key), and beside each its design (shrunk buffers, beyond latency).
        public var top: [HardwareSpace.Optimum.Point] = []
        public var designs: [Objective.Design] = []
        /// With the pareto objective: the front over every configuration searched.
        public var front: [Objective.Design] = []
        public var configurations = 0
        public var groups = 0
        public var sweptGroups = 0
        /// Configurations of the swept groups.
        public var sweptConfigurations = 0
        /// Layer searches the swept groups needed, and how many of them earlier records held.
        public var searches = 0
        public var resumed = 0
        /// Searches answered with a failure (TIMEOUT, INTERNAL, ...): their configurations are
        /// missing from the top list.
        public var failed = 0
        /// Configurations where some layer has no valid schedule at all.
        public var unservable = 0
        /// Schedules the runners tried, over all searches of this run (resumed ones included).
        public var schedulesTried = 0
        public var seconds = 0.0
    }

    /// Progress of a run: searches answered (resumed ones included) of those sent or planned.
    public struct Progress: Sendable {
        public var answered: Int
        public var planned: Int
        public var sweptGroups: Int
        public var cutGroups: Int
        public var groups: Int
        public var best: Int?
        public var perSecond: Double
        public var runnersUp: Int
        public var runnersTotal: Int
    }

    let model: Model
    let configurations: [HardwareConfig]
    let settings: TuneSettings
    let dispatcher: Dispatcher
    let records: RecordStore
    let top: Int
    let window: Int
    let progress: (Progress) -> Void
    let objective: Objective

    public init(
        settings: TuneSettings, configurations: [HardwareConfig], top: Int = 5, window: Int = 64,
        dispatcher: Dispatcher, records: RecordStore, progress: @escaping (Progress) -> Void = { _ in }
    ) {
        self.settings = settings
        model = settings.model
        self.configurations = configurations
        self.top = max(1, top)
        self.window = max(1, window)
        self.dispatcher = dispatcher
        self.records = records
        self.progress = progress
        objective = settings.objective
    }

    /// One configuration's layers as their searches are answered.
    struct Point {
        let hardware: HardwareConfig
        var cycles: [Int?]
        var schedules: [Schedule]
        var answered = 0
        var failed = false
    }

    public func run() throws -> Summary {
        let started = ContinuousClock.now
        var summary = Summary()
        summary.configurations = configurations.count
        let groups = HardwareSpace.groupsByBound(configurations, of: model.layers)
        summary.groups = groups.count
        let tasks = model.layers.map { model.task($0) }
        var earlier: [String: Record] = [:]
        for r in records.records where r.search != nil { earlier[r.key] = r }
        var points: [Point] = []
        var waiting: [UInt64: (point: Int, layer: Int)] = [:]
        var answered = 0
        var planned = 0
        var cut = 0
        var next = 0

        var everyDesign: [Objective.Design] = []  // pareto: all of them, for the front
        /// Whether no configuration of a group (its compute bound, DSP and least possible BRAM)
        /// can enter the top list (or the front): the group is cut.
        func cannotPlace(_ members: [HardwareConfig], bound: Int) -> Bool {
            let need = ResourceEstimate(HardwareSpec(members[0]))
            switch objective {
            case .latency:
                return summary.top.count >= top && bound >= summary.top[top - 1].cycles
            case .dsp(let m), .bram(let m):
                if bound > m { return true }
                guard summary.designs.count >= top, let last = summary.designs.last, objective.admits(last) else {
                    return false
                }
                if case .dsp = objective { return need.dsp > last.dsp }
                return false
            case .pareto:
                var least = members[0]
                least.logUopBuffSize = 8
                least.logInpBuffSize = 8
                least.logWgtBuffSize = 8
                least.logAccBuffSize = 8
                let bram = ResourceEstimate(HardwareSpec(least)).bram36
                return everyDesign.contains { $0.cycles <= bound && $0.dsp <= need.dsp && $0.bram <= bram }
            }
        }
        func note(_ p: Int, _ layer: Int, _ record: Record) {
            points[p].answered += 1
            summary.schedulesTried += record.search?.schedules ?? 0
            switch record.status {
            case .ok:
                points[p].cycles[layer] = record.cycles
                points[p].schedules[layer] = record.schedule
            case .invalid: break
            default: points[p].failed = true
            }
            guard points[p].answered == model.layers.count else { return }
            if points[p].failed { summary.failed += 1 }
            let found = points[p].cycles
            guard !points[p].failed, found.allSatisfy({ $0 != nil }) else {
                if !points[p].failed { summary.unservable += 1 }
                return
            }
            guard let cycles = Model.latency(of: model.layers, { found[$0] }) else { return }
            let perLayer = model.layers.indices.map { k in (schedule: points[p].schedules[k], cycles: found[k]!) }
            let hardware = points[p].hardware
            let design =
                objective == .latency
                ? Objective.Design(hardware: hardware, cycles: cycles)
                : Objective.Design(
                    shrinking: hardware, holding: zip(model.layers.map(\.workload), perLayer.map(\.schedule)),
                    cycles: cycles)
            if objective == .pareto { everyDesign.append(design) }
            var ranked = zip(summary.top, summary.designs).map { ($0, $1) }
            ranked.append((.init(hardware: hardware, cycles: cycles, perLayer: perLayer), design))
            ranked.sort { objective.prefers($0.1, $1.1) }
            if ranked.count > top { ranked.removeLast() }
            summary.top = ranked.map(\.0)
            summary.designs = ranked.map(\.1)
        }
        func report() {
            let statuses = dispatcher.runnerStatuses
            progress(
                Progress(
                    answered: answered, planned: planned, sweptGroups: summary.sweptGroups, cutGroups: cut,
                    groups: groups.count, best: summary.top.first?.cycles,
                    perSecond: Double(answered - summary.resumed)
                        / max(1e-9, (ContinuousClock.now - started).inSeconds),
                    runnersUp: statuses.filter(\.reachable).count, runnersTotal: statuses.count))
        }

        while true {
            // Send groups ahead while few searches wait; cut what cannot reach the top list.
            while waiting.count < window && next < groups.count {
                let (members, bound) = groups[next]
                next += 1
                if cannotPlace(members, bound: bound) {
                    cut += 1
                    continue
                }
                summary.sweptGroups += 1
                summary.sweptConfigurations += members.count
                var requests: [MeasureRequest] = []
                for hardware in members {
                    let p = points.count
                    points.append(
                        Point(
                            hardware: hardware, cycles: Array(repeating: nil, count: model.layers.count),
                            schedules: Array(repeating: Schedule(), count: model.layers.count)))
                    let spec = HardwareSpec(hardware)
                    for (k, layer) in model.layers.enumerated() {
                        summary.searches += 1
                        planned += 1
                        let key = Record.searchKey(task: tasks[k], hardware: hardware.canonicalKey)
                        if let r = earlier[key] {
                            summary.resumed += 1
                            answered += 1
                            note(p, k, r)
                            continue
                        }
                        let space = ScheduleSpace(workload: layer.workload, spec: spec)
                        let request = MeasureRequest(
                            requestID: dispatcher.newRequestID(), task: tasks[k], workload: layer.workload,
                            hardware: hardware, schedule: space.schedule(at: 0), backend: settings.backend,
                            timeoutMs: settings.timeoutMs, search: LayerSearch(spaceSize: UInt64(space.size)))
                        waiting[request.requestID] = (p, k)
                        requests.append(request)
                    }
                }
                dispatcher.submit(requests)
            }
            if waiting.isEmpty && next >= groups.count { break }
            guard let result = try dispatcher.next(timeout: .seconds(1)) else {
                report()
                continue
            }
            guard let (p, k) = waiting.removeValue(forKey: result.requestID) else { continue }
            let record = try record(result, layer: k, on: points[p].hardware, task: tasks[k])
            answered += 1
            note(p, k, record)
            report()
        }
        summary.front = Objective.front(everyDesign)
        summary.seconds = (ContinuousClock.now - started).inSeconds
        report()
        return summary
    }

    /// Records (fsync'd) a search's answer: its best schedule and cycles, or its failure, with
    /// the counts of what it tried.
    func record(_ r: MeasureResult, layer k: Int, on hardware: HardwareConfig, task: String) throws -> Record {
        let layer = model.layers[k]
        let now = Date().timeIntervalSince1970
        let placeholder = ScheduleSpace(workload: layer.workload, spec: HardwareSpec(hardware)).schedule(at: 0)
        var rec = Record(
            model: model.name, task: task, count: layer.count, workload: layer.workload, hardware: hardware,
            schedule: r.status == .ok ? (r.search?.best ?? placeholder) : placeholder, status: RecordStatus(r.status),
            cycles: r.status == .ok ? CycleMath.int(r.cycles) : nil,
            reason: r.invalidReason.isEmpty ? nil : r.invalidReason, error: r.error.isEmpty ? nil : r.error,
            runner: r.runner, sent: now - r.wallSeconds, finished: now, wallSeconds: r.wallSeconds)
        rec.stage = settings.stage
        let o = r.search
        rec.search = Record.SearchCounts(
            schedules: Int(clamping: o?.schedules ?? 0), valid: Int(clamping: o?.valid ?? 0),
            invalid: Int(clamping: o?.invalid ?? 0), failed: Int(clamping: o?.failed ?? 0),
            invalidReasons: Dictionary(
                (o?.invalidReasons ?? []).map { ($0.reason, Int(clamping: $0.count)) }, uniquingKeysWith: +))
        try records.append(rec)
        return rec
    }
}
