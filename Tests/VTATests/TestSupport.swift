@testable import VTA

func hardware(_ assignments: String) -> HardwareSpec {
    var c = HardwareConfig.stock
    try! c.apply(assignments: assignments)
    return HardwareSpec(c)
}

/// Runs a compiled program functionally on random data and returns (VTA output, reference).
func runFunctional(
    _ w: Workload, _ s: Schedule, _ spec: HardwareSpec, seed: UInt64, shift: Int = 8
)
    -> (SimulationResult, Int8Tensor, Int8Tensor)?
{
    guard case .success(let program) = Compiler.compile(w, s, spec, shift: shift) else { return nil }
    let x = Int8Tensor.random(shape: w.inputShape, seed: seed)
    let k = Int8Tensor.random(shape: w.weightShape, seed: seed &+ 1)
    let machine = FunctionalMachine(spec: spec, dram: try! program.dramImage(input: x, weight: k))
    let result = Simulator(spec: spec).run(program, machine: machine)
    return (result, program.output(from: machine.dram), Reference.run(w, input: x, weight: k, shift: shift))
}

/// Counts pushes and pops per token queue of a program (load->compute, compute->load,
/// compute->store, store->compute).
func tokenBalance(_ insns: [Instruction]) -> [(pushes: Int, pops: Int)] {
    var q = [(pushes: Int, pops: Int)](repeating: (0, 0), count: 4)
    for insn in insns {
        let d = insn.deps
        switch insn.module {
        case .load:
            if d.contains(.popNext) { q[1].pops += 1 }
            if d.contains(.pushNext) { q[0].pushes += 1 }
        case .compute:
            if d.contains(.popPrev) { q[0].pops += 1 }
            if d.contains(.popNext) { q[3].pops += 1 }
            if d.contains(.pushPrev) { q[1].pushes += 1 }
            if d.contains(.pushNext) { q[2].pushes += 1 }
        case .store:
            if d.contains(.popPrev) { q[2].pops += 1 }
            if d.contains(.pushPrev) { q[3].pushes += 1 }
        }
    }
    return q
}
