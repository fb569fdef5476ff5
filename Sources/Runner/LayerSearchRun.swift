import VTA
import Wire

/// A coarse request (``LayerSearch``): every schedule of one layer's space on one hardware
/// configuration, timed on the request's backend one after another under the request's one
/// deadline, answered with the fastest valid schedule. It works on any backend, since it only
/// asks the backend what it always answers (one schedule's result); the farm's exhaustive ground
/// truth (`tune --tuner exhaustive`) sends one per layer and hardware configuration.
enum LayerSearchRun {
    /// The search's answer: OK with the best schedule's cycles and counters; INVALID
    /// (`no_valid_schedule`) when every schedule was rejected; the first failure's status when a
    /// schedule failed otherwise (the best of the rest is then not the layer's best); TIMEOUT at
    /// the deadline. Every answer but a refusal carries the outcome's counts.
    static func run(
        _ request: MeasureRequest, _ search: LayerSearch, on backend: MeasurementBackend,
        deadline: ContinuousClock.Instant
    ) -> MeasureResult {
        let started = ContinuousClock.now
        func refused(_ status: MeasureStatus, _ reason: String, _ why: String) -> MeasureResult {
            MeasureResult(
                requestID: request.requestID, status: status, invalidReason: reason, error: why,
                wallSeconds: (ContinuousClock.now - started).inSeconds)
        }
        if request.verify { return refused(.unsupported, "", "a layer search times schedules; it does not verify") }
        do { try request.hardware.validate() } catch { return refused(.invalid, "bad_hardware", "\(error)") }
        do { try request.workload.validate() } catch { return refused(.invalid, "bad_workload", "\(error)") }
        let spec = HardwareSpec(request.hardware)
        if let problem = request.workload.packingProblem(spec) { return refused(.invalid, "bad_workload", problem) }
        let space = ScheduleSpace(workload: request.workload, spec: spec)
        guard UInt64(space.size) == search.spaceSize, search.spaceSize <= LayerSearch.maxSpaceSize else {
            return refused(
                .internalError, "",
                "the coordinator counts \(search.spaceSize) schedules in this layer's space, this runner \(space.size) (at most \(LayerSearch.maxSpaceSize)): another vtafarm version?"
            )
        }
        var best: MeasureResult?
        var bestSchedule = Schedule()
        var valid: UInt64 = 0
        var invalid: UInt64 = 0
        var failed: UInt64 = 0
        var firstFailure: MeasureResult?
        var reasons: [String: UInt64] = [:]
        for i in 0..<space.size {
            if ContinuousClock.now >= deadline {
                var r = refused(
                    .timeout, "", "the layer search reached its timeout after \(i) of \(space.size) schedules")
                r.search = LayerSearchOutcome(
                    best: bestSchedule, schedules: UInt64(i), valid: valid, invalid: invalid, failed: failed,
                    invalidReasons: sorted(reasons))
                return r
            }
            var one = request
            one.search = nil
            one.schedule = space.schedule(at: i)
            one.requestID = request.requestID
            let r = backend.measure(one, deadline: deadline)
            switch r.status {
            case .ok:
                valid += 1
                if let b = best,
                    r.cycles > b.cycles
                        || (r.cycles == b.cycles && one.schedule.description >= bestSchedule.description)
                {
                    break
                }
                best = r
                bestSchedule = one.schedule
            case .invalid:
                invalid += 1
                reasons[r.invalidReason.isEmpty ? "unknown" : String(r.invalidReason.prefix(64)), default: 0] += 1
            case .timeout where ContinuousClock.now >= deadline:
                continue  // the next round answers TIMEOUT with the counts so far
            default:
                failed += 1
                if firstFailure == nil { firstFailure = r }
            }
        }
        let outcome = LayerSearchOutcome(
            best: bestSchedule, schedules: UInt64(space.size), valid: valid, invalid: invalid, failed: failed,
            invalidReasons: sorted(reasons))
        var result: MeasureResult
        if let f = firstFailure {
            result = refused(
                f.status, f.invalidReason,
                "\(failed) of \(space.size) schedules failed; the first (\(f.status.rawValue)): \(f.error)")
        } else if var b = best {
            b.error = ""
            result = b
        } else {
            result = refused(.invalid, "no_valid_schedule", "every one of the \(space.size) schedules is invalid here")
        }
        result.requestID = request.requestID
        result.search = outcome
        result.wallSeconds = (ContinuousClock.now - started).inSeconds
        return result
    }

    /// Most frequent first (ties by name), at most `LayerSearchOutcome.maxReasons`.
    static func sorted(_ reasons: [String: UInt64]) -> [(reason: String, count: UInt64)] {
        reasons.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(LayerSearchOutcome.maxReasons).map { ($0.key, $0.value) }
    }
}
