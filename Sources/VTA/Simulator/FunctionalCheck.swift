/// Runs a compiled program on the functional model and compares its output with the plain
/// reference convolution: the check behind `vtafarm sim --verify` and a flow's verify stage.
public enum FunctionalCheck {
    public enum Outcome: Sendable, Equatable {
        /// Every output element equals the reference's.
        case matches(outputs: Int)
        /// The first differing element (flat NCHW index) and both values.
        case mismatch(index: Int, reference: Int8, vta: Int8)
        /// The simulation did not finish (deadlock, cycle limit, ...).
        case notFinished(SimulationStatus)

        public var passed: Bool { if case .matches = self { true } else { false } }

        public var description: String {
            switch self {
            case .matches(let n): "matches the reference (\(n) outputs)"
            case .mismatch(let i, let r, let v): "MISMATCH at flat index \(i): reference \(r), VTA \(v)"
            case .notFinished(let s): "the simulation did not finish: \(s)"
            }
        }
    }

    /// Simulates `program`, compiled for `workload`, (timing and function together) on `input`
    /// and `weight`; returns the timing result, the machine (its final DRAM), the output tensor
    /// and the comparison with the reference.
    public static func run(
        _ program: Program, of workload: Workload, spec: HardwareSpec, timing: TimingParameters = .tsim,
        input: Int8Tensor, weight: Int8Tensor, shift: Int = 8, deadline: ContinuousClock.Instant? = nil
    ) throws
        -> (result: SimulationResult, machine: FunctionalMachine, output: Int8Tensor?, outcome: Outcome)
    {
        let machine = FunctionalMachine(spec: spec, dram: try program.dramImage(input: input, weight: weight))
        var simulator = Simulator(spec: spec, timing: timing)
        simulator.deadline = deadline
        let result = simulator.run(program, machine: machine)
        guard result.status == .ok else { return (result, machine, nil, .notFinished(result.status)) }
        let y = program.output(from: machine.dram)
        let ref = Reference.run(workload, input: input, weight: weight, shift: shift)
        if let i = ref.data.indices.first(where: { ref.data[$0] != y.data[$0] }) {
            return (result, machine, y, .mismatch(index: i, reference: ref.data[i], vta: y.data[i]))
        }
        return (result, machine, y, .matches(outputs: y.data.count))
    }
}

extension FunctionalCheck {
    /// Compiles `schedule` and checks it on seeded random data; nil when the schedule is invalid.
    public static func run(
        _ workload: Workload, _ schedule: Schedule, spec: HardwareSpec, seed: UInt64 = 1
    ) throws -> Outcome? {
        guard case .success(let program) = Compiler.compile(workload, schedule, spec) else { return nil }
        let x = Int8Tensor.random(shape: workload.inputShape, seed: seed)
        let k = Int8Tensor.random(shape: workload.weightShape, seed: seed &+ 1)
        return try run(program, of: workload, spec: spec, input: x, weight: k).outcome
    }
}
