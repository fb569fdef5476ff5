import VTA
import Wire

/// What a coordinator makes of a runner's answer before anything records it or learns from it.
/// A runner is a peer on the network: a bug, a broken board driver or a hostile process can send
/// any numbers, and one impossible "best" (0 cycles, or fewer cycles than the GEMM core needs
/// for the workload's MACs) would win every comparison and be kept for good in the records. So
/// an OK result whose cycles cannot be a measurement becomes INTERNAL with the reason
/// `implausible_cycles`, and text fields are cut to a size a record line can hold.
/// `DispatcherState` applies this to every result it accepts, the one place results enter.
public enum ResultCheck {
    /// Cycle counts at or above 2^62 are refused: no VTA run comes near it (ResNet-18's layers
    /// take about 10^6), and below it a layer count times the cycles stays far from `Int`
    /// overflow in the sums the tuners and `records best` make.
    public static let maxCycles: UInt64 = 1 << 62
    /// The reason code an implausible OK result is reported with.
    public static let implausibleReason = "implausible_cycles"
    /// Longest `error` text kept (UTF-8 bytes); the rest is replaced by a note.
    public static let maxErrorBytes = 4096
    /// Longest `runner` name kept, and longest `invalid_reason` code.
    public static let maxNameBytes = 256
    /// Backends whose cycles are made up by design (`delay`, for benchmarking the farm): their
    /// results are held to 0 < cycles < 2^62 only, not to the compute bound.
    public static let syntheticBackends: Set<String> = ["delay"]

    /// `result` as the coordinator accepts it for `request`.
    public static func checked(_ result: MeasureResult, for request: MeasureRequest) -> MeasureResult {
        var r = result
        r.error = truncated(r.error, maxErrorBytes)
        r.runner = truncated(r.runner, maxNameBytes)
        r.invalidReason = truncated(r.invalidReason, maxNameBytes)
        if !r.wallSeconds.isFinite || r.wallSeconds < 0 { r.wallSeconds = 0 }  // JSON has no NaN
        if let search = request.search {
            if let why = searchProblem(r, search, for: request) {
                r.status = .internalError
                r.invalidReason = implausibleSearchReason
                r.error = truncated("\(implausibleSearchReason): \(why) (runner \(r.runner))", maxErrorBytes)
                r.cycles = 0
                r.search = nil
                return r
            }
        } else {
            r.search = nil  // an outcome nobody asked for is not kept
        }
        if r.status == .ok, let why = implausibility(r.cycles, for: request) {
            r.status = .internalError
            r.invalidReason = implausibleReason
            r.error = truncated("\(implausibleReason): \(why) (runner \(r.runner))", maxErrorBytes)
            r.cycles = 0
        }
        return r
    }

    /// Why `cycles` cannot be what `request` took, or nil when it can.
    public static func implausibility(_ cycles: UInt64, for request: MeasureRequest) -> String? {
        if cycles == 0 { return "an OK result with 0 cycles" }
        if cycles >= maxCycles { return "\(cycles) cycles is at or above the limit of 2^62" }
        if isSynthetic(request.backend) { return nil }
        if let bound = computeBound(request.workload, request.hardware), cycles < UInt64(bound) {
            return
                "\(cycles) cycles is below the compute bound of \(bound) (\(request.workload) on \(request.hardware.shortName))"
        }
        return nil
    }

    /// The reason code of a layer search's answer whose counts or best schedule cannot be true.
    public static let implausibleSearchReason = "implausible_search"

    /// Why `r` cannot be the answer to the layer search `search` of `request`, or nil. The counts
    /// must cover the space (all of it, unless the search timed out), an OK answer's best schedule
    /// must lie in the space and pass the static VTA rules (on a real backend), and an INVALID
    /// one must have found nothing valid. Its cycles are then held to the compute bound as usual.
    static func searchProblem(_ r: MeasureResult, _ search: LayerSearch, for request: MeasureRequest) -> String? {
        guard let o = r.search else {
            return
                r.status == .ok
                ? "a layer search answered with one measurement and no outcome (a runner without layer-search?)"
                : nil  // a refusal (bad hardware, another space size, unsupported): nothing to check
        }
        let (partial, o1) = o.valid.addingReportingOverflow(o.invalid)
        let (total, o2) = partial.addingReportingOverflow(o.failed)
        guard !o1, !o2, total == o.schedules else {
            return
                "its counts (\(o.valid) valid, \(o.invalid) invalid, \(o.failed) failed) do not add up to \(o.schedules) schedules"
        }
        if r.status == .timeout {
            return o.schedules <= search.spaceSize ? nil : "it tried \(o.schedules) of \(search.spaceSize) schedules"
        }
        guard o.schedules == search.spaceSize else {
            return "it tried \(o.schedules) schedules of a space of \(search.spaceSize)"
        }
        var reasons: UInt64 = 0
        for (_, n) in o.invalidReasons {
            let (sum, overflow) = reasons.addingReportingOverflow(n)
            guard !overflow else { return "its invalid reasons overflow" }
            reasons = sum
        }
        guard reasons <= o.invalid else { return "its invalid reasons count \(reasons) of \(o.invalid) invalid" }
        switch r.status {
        case .ok:
            guard o.valid >= 1, o.failed == 0 else { return "OK with \(o.valid) valid and \(o.failed) failed" }
            let spec = HardwareSpec(request.hardware)
            guard ScheduleSpace(workload: request.workload, spec: spec).indices(of: o.best) != nil else {
                return "its best schedule \(o.best) is not in the layer's space"
            }
            if !isSynthetic(request.backend), case .failure(let reason) = TilePlan.make(request.workload, o.best, spec)
            {
                return "its best schedule \(o.best) is invalid here (\(reason.code.rawValue))"
            }
        case .invalid:
            guard o.valid == 0 else { return "INVALID although \(o.valid) schedules were valid" }
        default:
            break
        }
        return nil
    }

    /// `backend` names a synthetic backend, with or without its argument (`delay`, `delay:20`).
    /// Compares in place: this runs for every result.
    static func isSynthetic(_ backend: String) -> Bool {
        syntheticBackends.contains { name in
            backend.hasPrefix(name)
                && (backend.utf8.count == name.utf8.count
                    || backend.utf8.dropFirst(name.utf8.count).first == UInt8(ascii: ":"))
        }
    }

    /// ceil(MACs / (BATCH x BLOCK_IN x BLOCK_OUT)): no schedule runs the workload's MACs in
    /// fewer cycles on that GEMM core (padding only adds MACs). Nil when the workload or the
    /// hardware is not valid, so that nothing here can overflow or trap.
    public static func computeBound(_ workload: Workload, _ hardware: HardwareConfig) -> Int? {
        guard (try? workload.validate()) != nil, (try? hardware.validate()) != nil else { return nil }
        let perCycle = HardwareSpec(hardware).macsPerCycle
        guard perCycle > 0 else { return nil }
        return (workload.macs + perCycle - 1) / perCycle
    }

    static func truncated(_ s: String, _ maxBytes: Int) -> String {
        guard s.utf8.count > maxBytes else { return s }
        var cut = String(decoding: s.utf8.prefix(maxBytes), as: UTF8.self)
        if cut.last == "\u{FFFD}" { cut.removeLast() }  // a character split at the cut
        return cut + "… (\(s.utf8.count - maxBytes) more bytes)"
    }
}

/// Arithmetic on cycle counts that arrive from runners and record files: a sum or product that
/// would overflow `Int` saturates at `Int.max` (a latency no comparison prefers) instead of
/// trapping the coordinator, and every later `--resume` and `records best` on the same file.
public enum CycleMath {
    /// count x cycles, saturating.
    public static func product(_ a: Int, _ b: Int) -> Int {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? (a.signum() == b.signum() ? Int.max : Int.min) : p
    }

    /// a + b, saturating.
    public static func sum(_ a: Int, _ b: Int) -> Int {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? Int.max : Int.min) : s
    }

    /// Cycles from the wire as an `Int` (saturating at `Int.max`, which `Int(_:)` traps on).
    public static func int(_ cycles: UInt64) -> Int { Int(clamping: cycles) }
}
