import Foundation
import Search
import VTA
import Wire

/// The one tuning loop every search runs through, whatever proposes (a per-layer tuner, the
/// hardware co-optimizer, a flow stage's either): it asks the proposer for a plan, skips what the
/// records hold already (nothing is measured twice), records apart what the static VTA rules or
/// the learned validity classifier reject (no runner time), dispatches the rest, records every
/// result (fsync'd) before the proposer learns from it, and reports progress.
final class TuningLoop {
    let settings: TuneSettings
    let dispatcher: Dispatcher
    let records: RecordStore
    let filteredRecords: RecordStore
    let progress: (TuneProgress) -> Void
    /// Learns what the runners' backend rejects that the static rules allowed.
    let validity = ValidityClassifier()
    /// The model latency so far for the progress line (each driver knows what that means).
    var bestSoFar: () -> Int? = { nil }
    /// Called for every result, after it was recorded.
    var onResult: (Candidate, Int?) -> Void = { _, _ in }
    var started = ContinuousClock.now
    /// Measurements of this job (on every proposer), resumed ones included.
    var measuredTotal = 0
    private(set) var filteredTotal = 0
    /// Candidates the learned classifier filtered.
    private(set) var predictedInvalid = 0
    private(set) var proposals = 0
    /// Coordinator-side time (proposing, filtering, learning).
    private(set) var coordinatorSeconds = 0.0
    let metrics: CoordinatorMetrics

    /// What one `run` did.
    struct Counts {
        var measured = 0
        var filtered = 0
        /// Dispatched, and the runner said INVALID.
        var invalidDispatched = 0
    }

    init(
        settings: TuneSettings, dispatcher: Dispatcher, records: RecordStore, filteredRecords: RecordStore,
        progress: @escaping (TuneProgress) -> Void
    ) {
        self.settings = settings
        self.dispatcher = dispatcher
        self.records = records
        self.filteredRecords = filteredRecords
        self.progress = progress
        metrics = CoordinatorMetrics(model: settings.model, records: records.records)
        settings.dashboard?.seed(records.records, model: settings.model)
    }

    func publishDashboard(force: Bool = false) {
        settings.dashboard?.publish(
            model: settings.model, records: records, filtered: filteredRecords.records.count,
            runners: dispatcher.runnerStatuses, budget: settings.budget, force: force)
    }

    /// What earlier runs in the records file taught about validity.
    func learnValidity() throws {
        for r in records.replayOrder() {
            validity.add(Features.candidate(r.hardware, r.workload, r.schedule), invalid: r.status == .invalid)
        }
        try validity.fit()
    }

    /// Drives `proposer` until `measured` (what counts towards `budget` already) reaches the
    /// budget, the proposer is exhausted, or 20 plans in a row gave nothing to dispatch.
    func run(_ proposer: Proposer, budget: Int, measured alreadyMeasured: Int) throws -> Counts {
        var counts = Counts()
        var measured = alreadyMeasured
        var stalls = 0
        while measured < budget && stalls < 20 {
            let t0 = ContinuousClock.now
            var batch: [(Candidate, MeasureRequest)] = []
            let want = min(settings.planSize, budget - measured)
            var rounds = 0
            var exhausted = false
            while batch.count < want && rounds < proposer.proposalRounds {
                rounds += 1
                let plan = try proposer.propose(want - batch.count)
                if plan.isEmpty {
                    exhausted = proposer.isExhausted
                    break
                }
                proposals += plan.count
                metrics.proposals.increment(by: Int64(plan.count))
                let (requests, filtered) = try prepare(plan)
                batch += requests
                counts.filtered += filtered.count
                if !filtered.isEmpty { try proposer.observe(filtered.map { ($0, nil) }) }
            }
            coordinatorSeconds += (ContinuousClock.now - t0).inSeconds
            metrics.proposingSeconds.increment(by: (ContinuousClock.now - t0).inSeconds)
            if batch.isEmpty {
                if exhausted { break }
                stalls += 1
                continue
            }
            stalls = 0
            let results = try measure(batch) { _, result in
                measured += 1
                counts.measured += 1
                if result.status == .invalid { counts.invalidDispatched += 1 }
            }
            let t1 = ContinuousClock.now
            try proposer.observe(results)
            coordinatorSeconds += (ContinuousClock.now - t1).inSeconds
            metrics.proposingSeconds.increment(by: (ContinuousClock.now - t1).inSeconds)
            if exhausted { break }
        }
        return counts
    }

    func record(_ c: Candidate, status: RecordStatus) -> Record {
        let layer = settings.model.layers[c.layer]
        let now = Date().timeIntervalSince1970
        var r = Record(
            model: settings.model.name, task: settings.model.task(layer), count: layer.count, workload: layer.workload,
            hardware: c.hardware, schedule: c.schedule, status: status, sent: now, finished: now)
        r.stage = settings.stage
        return r
    }

    /// Skips what is recorded already (never measure twice), records apart what the static VTA
    /// rules (unless the proposer checked them) or the learned classifier reject (returned as
    /// `filtered`), and makes requests of the rest.
    func prepare(_ candidates: [Candidate]) throws -> (requests: [(Candidate, MeasureRequest)], filtered: [Candidate]) {
        var requests: [(Candidate, MeasureRequest)] = []
        var filtered: [Candidate] = []
        for c in candidates {
            let layer = settings.model.layers[c.layer]
            let task = settings.model.task(layer)
            if records.contains(key: Record.key(task: task, hardware: c.hardware.canonicalKey, schedule: c.schedule)) {
                continue
            }
            if !c.knownValid,
                case .failure(let reason) = TilePlan.make(layer.workload, c.schedule, HardwareSpec(c.hardware))
            {
                var f = record(c, status: .filtered)
                f.reason = reason.code.rawValue
                try filteredRecords.append(f)
                filtered.append(c)
                filteredTotal += 1
                metrics.filteredStatic.increment()
                continue
            }
            if validity.isTrained,
                let p = try validity.probabilityInvalid([Features.candidate(c.hardware, layer.workload, c.schedule)])
                    .first,
                p > validity.threshold
            {
                var f = record(c, status: .filtered)
                f.reason = "predicted_invalid"
                try filteredRecords.append(f)
                filtered.append(c)
                filteredTotal += 1
                predictedInvalid += 1
                metrics.filteredPredicted.increment()
                continue
            }
            requests.append(
                (
                    c,
                    MeasureRequest(
                        requestID: dispatcher.newRequestID(), task: task, workload: layer.workload,
                        hardware: c.hardware, schedule: c.schedule, backend: settings.backend,
                        timeoutMs: settings.timeoutMs)
                ))
        }
        return (requests, filtered)
    }

    /// Dispatches a batch; records (fsync'd) and reports each result as it arrives, before
    /// `each` sees it. Returns (candidate, cycles or nil) in batch order, whatever order the
    /// runners answered in, so that what the proposers learn, and so every seeded run, repeats.
    func measure(
        _ batch: [(Candidate, MeasureRequest)], each: (Candidate, MeasureResult) -> Void
    ) throws -> [(candidate: Candidate, cycles: Int?)] {
        let sent = Date().timeIntervalSince1970
        let position = Dictionary(uniqueKeysWithValues: batch.enumerated().map { ($0.element.1.requestID, $0.offset) })
        dispatcher.submit(batch.map(\.1))
        var results = [(candidate: Candidate, cycles: Int?)?](repeating: nil, count: batch.count)
        var rejected = [Bool](repeating: false, count: batch.count)  // the runner answered INVALID
        var received = 0
        while received < batch.count {
            guard let r = try dispatcher.next(timeout: .seconds(1)) else {
                report(batch[0].0)
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
            metrics.measured(rec.status, hardware: rec.hardwareKey, layer: c.layer, cycles: rec.okCycles)
            settings.dashboard?.noted(rec, layer: c.layer, model: settings.model, measured: records.records.count)
            results[i] = (c, cycles)
            rejected[i] = r.status == .invalid
            received += 1
            measuredTotal += 1
            each(c, r)
            onResult(c, cycles)
            report(c)
        }
        let ordered = results.map { $0! }
        for (i, (c, _)) in ordered.enumerated() {
            validity.add(
                Features.candidate(c.hardware, settings.model.layers[c.layer].workload, c.schedule),
                invalid: rejected[i])
        }
        try validity.fit()
        return ordered
    }

    func report(_ c: Candidate) {
        let statuses = dispatcher.runnerStatuses
        metrics.runnersUp.record(statuses.filter(\.reachable).count)
        publishDashboard()
        metrics.runners.record(statuses.count)
        let elapsed = max(1e-9, (ContinuousClock.now - started).inSeconds)
        progress(
            TuneProgress(
                layer: settings.model.layers[c.layer].name, measured: measuredTotal, budget: settings.budget,
                filtered: filteredTotal, bestSoFar: bestSoFar(), perSecond: Double(measuredTotal) / elapsed,
                runnersUp: statuses.filter(\.reachable).count, runnersTotal: statuses.count))
    }
}
