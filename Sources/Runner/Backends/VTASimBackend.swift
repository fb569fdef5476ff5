import Foundation
import VTA
import Wire

/// The built-in cycle-level VTA simulator, in process: compile, then simulate (timing mode; with
/// `verify`, timing and function together on seeded data, checked against the reference).
public struct VTASimBackend: MeasurementBackend {
    public let name = "vta-sim"
    public var spec: String { name }
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
        return result
    }
}
