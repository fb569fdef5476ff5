import Foundation
import Synchronization
import VTA
import Wire

/// The built-in cycle-level VTA simulator, in process: compile, then simulate (timing mode; with
/// `verify`, timing and function together on seeded data, checked against the reference).
///
/// A schedule's cycles do not depend on the buffer sizes, only its validity does (VTA.md; pinned
/// by `buffersChangeValidityNotCycles`), so timings are cached by workload, schedule and the
/// hardware without its buffer sizes: a request that compiles here and was timed on a sibling
/// configuration (a layer search over a block shape's maximal points) is answered without
/// simulating again. Every request is still compiled, so validity is always this one's.
public struct VTASimBackend: MeasurementBackend {
    public let name = "vta-sim"
    public var spec: String { name }
    let timings = TimingCache()
    public init() {}

    public func measure(_ request: MeasureRequest, deadline: ContinuousClock.Instant) -> MeasureResult {
        let started = ContinuousClock.now
        var result = MeasureResult(requestID: request.requestID, status: .internalError)
        do {
            try request.hardware.validate()
        } catch {
            return MeasureResult(
                requestID: request.requestID, status: .invalid, invalidReason: "bad_hardware", error: "\(error)")
        }
        do {
            try request.workload.validate()
        } catch {
            return MeasureResult(
                requestID: request.requestID, status: .invalid, invalidReason: "bad_workload", error: "\(error)")
        }
        let spec = HardwareSpec(request.hardware)
        switch Compiler.compile(request.workload, request.schedule, spec, shift: request.shift, deadline: deadline) {
        case .failure(let reason) where reason.code == .deadlineExceeded:
            result = MeasureResult(requestID: request.requestID, status: .timeout, error: reason.message)
        case .failure(let reason):
            result = MeasureResult(
                requestID: request.requestID, status: .invalid, invalidReason: reason.code.rawValue,
                error: reason.message)
        case .success(let program):
            let run: SimulationResult
            if request.verify {
                let w = request.workload
                let checked: FunctionalCheck.Outcome
                do {
                    (run, _, _, checked) = try FunctionalCheck.run(
                        program, of: w, spec: spec, input: .random(shape: w.inputShape, seed: request.dataSeed),
                        weight: .random(shape: w.weightShape, seed: request.dataSeed &+ 1), shift: request.shift,
                        deadline: deadline)
                } catch {
                    return MeasureResult(
                        requestID: request.requestID, status: .internalError,
                        error: "cannot lay out the verification data: \(error)",
                        wallSeconds: (ContinuousClock.now - started).inSeconds)
                }
                if case .mismatch = checked {
                    return MeasureResult(
                        requestID: request.requestID, status: .wrongAnswer, cycles: UInt64(run.cycles),
                        error: checked.description, wallSeconds: (ContinuousClock.now - started).inSeconds)
                }
            } else {
                let key = TimingCache.Key(request)
                if var cached = timings[key] {
                    cached.requestID = request.requestID
                    cached.counters.instructions = UInt64(program.instructions.count)
                    cached.wallSeconds = (ContinuousClock.now - started).inSeconds
                    return cached
                }
                var simulator = Simulator(spec: spec)
                simulator.deadline = deadline
                run = simulator.run(program)
            }
            switch run.status {
            case .ok:
                let c = run.counters
                var counters = ResultCounters()
                counters.instructions = UInt64(program.instructions.count)
                counters.gemmUops = UInt64(c.gemmUops)
                counters.aluUops = UInt64(c.aluUops)
                counters.dramBytesRead = UInt64(c.dramBytesRead)
                counters.dramBytesWritten = UInt64(c.dramBytesWritten)
                counters.loadBusy = UInt64(c.busy["load"] ?? 0)
                counters.computeBusy = UInt64(c.busy["compute"] ?? 0)
                counters.storeBusy = UInt64(c.busy["store"] ?? 0)
                result = MeasureResult(
                    requestID: request.requestID, status: .ok, cycles: UInt64(run.cycles), counters: counters)
            case .stopped, .cycleLimit:
                result = MeasureResult(requestID: request.requestID, status: .timeout, error: run.status.message ?? "")
            case .deadlock, .malformed:
                result = MeasureResult(
                    requestID: request.requestID, status: .internalError,
                    error: "the compiler produced a program the simulator rejects: \(run.status.message ?? "")")
            }
        }
        result.wallSeconds = (ContinuousClock.now - started).inSeconds
        if result.status == .ok && !request.verify { timings[TimingCache.Key(request)] = result }
        return result
    }
}

/// Timings of OK runs by everything a schedule's cycles depend on. Bounded: when it holds
/// `capacity` entries it starts over (a layer search needs the entries of one block shape's
/// configurations at a time, so a simple reset loses little).
final class TimingCache: Sendable {
    struct Key: Hashable {
        let workload: Workload
        let hardware: HardwareConfig
        let schedule: Schedule
        let shift: Int

        init(_ request: MeasureRequest) {
            var h = request.hardware
            h.logUopBuffSize = 0
            h.logInpBuffSize = 0
            h.logWgtBuffSize = 0
            h.logAccBuffSize = 0
            workload = request.workload
            hardware = h
            schedule = request.schedule
            shift = request.shift
        }
    }

    static let capacity = 50_000
    private let entries = Mutex([Key: MeasureResult]())

    subscript(key: Key) -> MeasureResult? {
        get { entries.withLock { $0[key] } }
        set {
            entries.withLock { e in
                if e.count >= Self.capacity { e.removeAll(keepingCapacity: true) }
                e[key] = newValue
            }
        }
    }
}
