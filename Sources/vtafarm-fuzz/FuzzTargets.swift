import Foundation
import VTA
import Wire

/// What the fuzzers feed untrusted bytes to: the paths a runner and `sim --program` take with
/// input from the network or from a file. Each must return (an error is fine), never trap, hang
/// or allocate without bound.
enum FuzzTargets {
    /// A frame as a runner receives it: decode, validate a request the way a runner does before
    /// it compiles, check it against the static rules, and encode the message back.
    static func envelope(_ bytes: [UInt8]) {
        guard let message = try? Codec.decode(bytes) else { return }
        if case .measureRequest(let r) = message, (try? r.workload.validate()) != nil,
            (try? r.hardware.validate()) != nil
        {
            let spec = HardwareSpec(r.hardware)
            if spec.invalidReason == nil, r.workload.packingProblem(spec) == nil {
                _ = TilePlan.make(r.workload, r.schedule, spec)
            }
        }
        _ = try? Codec.decode(Codec.encode(message))
    }

    /// A program directory from a file: the input is program.json, then a NUL byte, then the
    /// bytes of insn.bin (the manifest names the rest, which the loader must refuse or find).
    static func program(_ bytes: [UInt8]) {
        let split = bytes.firstIndex(of: 0) ?? bytes.count
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: dir.appendingPathComponent("program.json").path, contents: Data(bytes[..<split]))
        FileManager.default.createFile(
            atPath: dir.appendingPathComponent("insn.bin").path,
            contents: Data(split < bytes.count ? bytes[(split + 1)...] : []))
        guard let loaded = try? ProgramDirectory.load(dir.path) else { return }
        var simulator = Simulator(spec: loaded.spec)
        simulator.deadline = .now + .milliseconds(200)
        _ = simulator.run(loaded.program)
    }

    static func named(_ name: String) -> (([UInt8]) -> Void)? {
        switch name {
        case "envelope": return envelope
        case "program": return program
        default: return nil
        }
    }
}
