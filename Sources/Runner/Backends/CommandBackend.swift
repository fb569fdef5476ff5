import Foundation
import VTA
import Wire

/// Runs an external program per request: how a tsim binary or a real board joins the farm.
///
/// The runner compiles the request itself (an invalid configuration never reaches the program),
/// writes the compiled program as a program directory (README: "Program directories", with
/// seeded random input and the expected output in out.bin), and runs PATH with one JSON object
/// on its standard input:
///
///     {"request_id": 7, "task": "resnet18/C2", "workload": "conv2d:N=1,...", "schedule": "tile_b=1,...",
///      "hardware": {vta_config.json keys}, "timeout_ms": 60000, "program_dir": "/tmp/vtafarm-7-...",
///      "verify": false}
///
/// With `"verify": true` (a flow's verify stage) the program must check its output against the
/// program directory's out.bin and answer WRONG_ANSWER when it differs; the inputs then come from
/// the request's data seed, as on the built-in simulator.
///
/// The program prints one JSON object on its standard output:
///
///     {"status": "OK", "cycles": 123456}
///
/// with status one of OK, INVALID, RUNTIME_ERROR, TIMEOUT, WRONG_ANSWER, UNSUPPORTED, and an
/// optional "error" text. It runs in a process group of its own: at the timeout the group gets
/// SIGTERM, then SIGKILL a second later, and whatever it leaves running when it exits is killed
/// (`GroupedChild`). A non-zero exit, or output that is not such an object, is a RUNTIME_ERROR
/// carrying stderr's tail.
public struct CommandBackend: MeasurementBackend {
    public let name = "command"
    public let path: String
    public var spec: String { "\(name):\(path)" }

    public init(path: String) { self.path = path }

    public func measure(_ request: MeasureRequest, deadline: ContinuousClock.Instant) -> MeasureResult {
        let started = ContinuousClock.now
        func result(
            _ status: MeasureStatus, cycles: UInt64 = 0, reason: String = "", error: String = ""
        ) -> MeasureResult {
            MeasureResult(
                requestID: request.requestID, status: status, cycles: cycles, invalidReason: reason, error: error,
                wallSeconds: (ContinuousClock.now - started).inSeconds)
        }
        do {
            try request.hardware.validate()
            try request.workload.validate()
        } catch {
            return result(.invalid, reason: "bad_request", error: "\(error)")
        }
        let spec = HardwareSpec(request.hardware)
        let program: Program
        switch Compiler.compile(request.workload, request.schedule, spec, shift: request.shift) {
        case .failure(let reason): return result(.invalid, reason: reason.code.rawValue, error: reason.message)
        case .success(let p): program = p
        }
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("vtafarm-\(request.requestID)-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let w = request.workload
            let seed = request.verify ? request.dataSeed : request.requestID
            let dram = try program.dramImage(
                input: .random(shape: w.inputShape, seed: seed),
                weight: .random(shape: w.weightShape, seed: seed &+ 1))
            let machine = FunctionalMachine(spec: spec, dram: dram)
            var simulator = Simulator(spec: spec)
            simulator.deadline = deadline
            let run = simulator.run(program, machine: machine)
            guard run.status == .ok else {
                return result(.timeout, error: "preparing the program: \(run.status.message ?? "")")
            }
            try ProgramDirectory.write(
                program, to: dir, initial: dram, final: machine.dram, shift: request.shift, simulated: run)
        } catch {
            return result(.runtimeError, error: "cannot write the program directory: \(error)")
        }
        let input: [String: Any] = [
            "request_id": request.requestID, "task": request.task, "workload": request.workload.description,
            "schedule": request.schedule.description, "timeout_ms": Int(request.timeoutMs), "program_dir": dir,
            "verify": request.verify,
            "hardware": (try? JSONSerialization.jsonObject(with: request.hardware.jsonData())) ?? [:],
        ]
        let json = (try? JSONSerialization.data(withJSONObject: input)) ?? Data()
        let run: GroupedChild
        do { run = try GroupedChild.run(path, input: json + Data("\n".utf8), deadline: deadline) } catch {
            return result(.runtimeError, error: "\(error)")
        }
        let tail = String(decoding: run.stderr.suffix(500), as: UTF8.self)
        switch run.outcome {
        case .timedOut:
            return result(.timeout, error: "\(path) was killed at the \(request.timeoutMs) ms timeout")
        case .exited(let status) where status != 0:
            return result(.runtimeError, error: "\(path) exited with status \(status): \(tail)")
        case .exited:
            break
        }
        guard let object = try? JSONSerialization.jsonObject(with: run.stdout) as? [String: Any],
            let statusText = object["status"] as? String, let status = MeasureStatus(rawValue: statusText.uppercased())
        else {
            return result(
                .runtimeError,
                error:
                    "\(path) did not print a JSON object with a known \"status\": \(String(decoding: run.stdout.prefix(300), as: UTF8.self)) \(tail)"
            )
        }
        var cycles: UInt64 = 0
        if let number = object["cycles"] {
            // A count of cycles: a whole number from 0 to 2^62 (NSNumber's uint64Value would
            // wrap -5 to 2^64 - 5 and cut 1.5 to 1).
            guard let n = number as? NSNumber, let value = UInt64(exactly: n.doubleValue), value <= 1 << 62 else {
                return result(.runtimeError, error: "\(path) printed \"cycles\": \(number), not a cycle count")
            }
            cycles = value
        }
        return result(
            status, cycles: cycles, reason: object["invalid_reason"] as? String ?? "",
            error: object["error"] as? String ?? "")
    }
}
