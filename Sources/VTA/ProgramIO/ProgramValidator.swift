/// Static checks of a program before it runs, so that a program from elsewhere gets a clear
/// error naming the instruction and field instead of a wrong answer, a crash or a hang:
/// memory types per opcode, dependency flags per module, every DMA against its buffer depth and
/// its DRAM region, every uop index (as the uops loaded so far would compute it) against the
/// buffer depths, token balance per queue, a FINISH, and a bounded amount of work.
struct ProgramValidator {
    let program: Program
    let dram: [UInt8]

    var spec: HardwareSpec { program.spec }

    /// More uop executions than this would take minutes to simulate functionally.
    static let maxUopExecutions = 1 << 34

    func validate() throws {
        var uopSlots = [Uop?](repeating: nil, count: spec.uopDepth)
        var pushes = [0, 0, 0, 0]
        var pops = [0, 0, 0, 0]
        var executions = 0
        var sawFinish = false
        for (k, insn) in program.instructions.enumerated() {
            func fail(_ field: String, _ message: String) -> ProgramError {
                ProgramError("instruction \(k) (\(insn.kind)): \(field): \(message)")
            }
            try countTokens(insn, &pushes, &pops, fail)
            switch insn {
            case .load(let m):
                if m.memoryType == .out { throw fail("memory_type", "OUT cannot be loaded") }
                try checkDMA(m, fail)
                if m.memoryType == .uop && m.xSize > 0 && m.ySize > 0 {
                    try loadUops(m, into: &uopSlots, fail)
                }
            case .store(let m):
                if m.memoryType != .out {
                    throw fail("memory_type", "\(m.memoryType.name.uppercased()) cannot be stored (only OUT)")
                }
                if m.yPad0 + m.yPad1 + m.xPad0 + m.xPad1 > 0 { throw fail("x_pad/y_pad", "a STORE takes no padding") }
                try checkDMA(m, fail)
            case .gemm(let g):
                try checkLoop(g.loop, uopSlots, fail) { uop, o, i in
                    let dst = uop.dst + o * g.loop.dstFactorOut + i * g.loop.dstFactorIn
                    if dst >= spec.accDepth { return ("dst", dst, spec.accDepth, "accumulator") }
                    if g.reset { return nil }
                    let src = uop.src + o * g.loop.srcFactorOut + i * g.loop.srcFactorIn
                    if src >= spec.inpDepth { return ("src", src, spec.inpDepth, "input") }
                    let w = uop.wgt + o * g.wgtFactorOut + i * g.wgtFactorIn
                    if w >= spec.wgtDepth { return ("wgt", w, spec.wgtDepth, "weight") }
                    return nil
                }
                executions += g.loop.executions
            case .alu(let a):
                try checkLoop(a.loop, uopSlots, fail) { uop, o, i in
                    let dst = uop.dst + o * a.loop.dstFactorOut + i * a.loop.dstFactorIn
                    if dst >= spec.accDepth { return ("dst", dst, spec.accDepth, "accumulator") }
                    if a.useImm || a.reset { return nil }
                    let src = uop.src + o * a.loop.srcFactorOut + i * a.loop.srcFactorIn
                    if src >= spec.accDepth { return ("src", src, spec.accDepth, "accumulator") }
                    return nil
                }
                executions += a.loop.executions
            case .finish:
                sawFinish = true
            }
            if executions > Self.maxUopExecutions {
                throw ProgramError(
                    "instruction \(k): the program executes more than 2^34 uops; vtafarm will not simulate it")
            }
        }
        guard sawFinish else {
            throw ProgramError("the program has no FINISH instruction: VTA would never signal completion")
        }
        let names = ["load->compute", "compute->load", "compute->store", "store->compute"]
        for q in 0..<4 where pushes[q] != pops[q] {
            throw ProgramError("tokens do not balance on the \(names[q]) queue: \(pushes[q]) pushes, \(pops[q]) pops")
        }
    }

    private func countTokens(
        _ insn: Instruction, _ pushes: inout [Int], _ pops: inout [Int],
        _ fail: (String, String) -> ProgramError
    ) throws {
        let d = insn.deps
        switch insn.module {
        case .load:
            if d.contains(.popPrev) { throw fail("pop_prev_dep", "the load module has no previous module") }
            if d.contains(.pushPrev) { throw fail("push_prev_dep", "the load module has no previous module") }
            if d.contains(.popNext) { pops[1] += 1 }
            if d.contains(.pushNext) { pushes[0] += 1 }
        case .compute:
            if d.contains(.popPrev) { pops[0] += 1 }
            if d.contains(.pushPrev) { pushes[1] += 1 }
            if d.contains(.pushNext) { pushes[2] += 1 }
            if d.contains(.popNext) { pops[3] += 1 }
        case .store:
            if d.contains(.popNext) { throw fail("pop_next_dep", "the store module has no next module") }
            if d.contains(.pushNext) { throw fail("push_next_dep", "the store module has no next module") }
            if d.contains(.popPrev) { pops[2] += 1 }
            if d.contains(.pushPrev) { pushes[3] += 1 }
        }
    }

    /// The DRAM region a memory type lives in.
    private func region(_ type: MemoryType) -> DRAMRegion? {
        switch type {
        case .uop: return program.region(.uop)
        case .inp: return program.region(.inp)
        case .wgt: return program.region(.wgt)
        case .acc, .acc8: return program.region(.acc)
        case .out: return program.region(.out)
        }
    }

    private func checkDMA(_ m: MemoryInsn, _ fail: (String, String) -> ProgramError) throws {
        guard m.xSize > 0 && m.ySize > 0 else { return }  // a no-op that only moves tokens
        guard let r = region(m.memoryType) else {
            let name = m.memoryType == .acc8 ? "acc" : m.memoryType.name
            throw fail("memory_type", "the program has no \(name) region for this transfer")
        }
        if let (field, message) = spec.dmaProblem(
            m, dram: r.base..<(r.base + r.bytes),
            dramName: "\(r.name.rawValue) region")
        {
            throw fail(field, message)
        }
    }

    private func loadUops(_ m: MemoryInsn, into slots: inout [Uop?], _ fail: (String, String) -> ProgramError) throws {
        let width = m.xPad0 + m.xSize + m.xPad1
        for y in 0..<(m.yPad0 + m.ySize + m.yPad1) {
            for x in 0..<width {
                let slot = m.sramBase + y * width + x
                let inside = y >= m.yPad0 && y < m.yPad0 + m.ySize && x >= m.xPad0 && x < m.xPad0 + m.xSize
                guard inside else {
                    slots[slot] = Uop(dst: 0, src: 0, wgt: 0)
                    continue
                }
                let at = (m.dramBase + (y - m.yPad0) * m.xStride + (x - m.xPad0)) * 4
                let word =
                    UInt32(dram[at]) | UInt32(dram[at + 1]) << 8 | UInt32(dram[at + 2]) << 16 | UInt32(dram[at + 3])
                    << 24
                slots[slot] = spec.decode(uop: word)
            }
        }
    }

    /// Checks a GEMM/ALU loop: its uop range, that every uop was loaded, and (through `index`)
    /// every buffer index it computes at the loop extremes (factors are non-negative, so the
    /// largest index of a uop is reached at the last iteration).
    private func checkLoop(
        _ l: UopLoop, _ slots: [Uop?], _ fail: (String, String) -> ProgramError,
        index: (Uop, Int, Int) -> (String, Int, Int, String)?
    ) throws {
        if l.uopBegin > l.uopEnd { throw fail("uop_bgn", "\(l.uopBegin) is after uop_end \(l.uopEnd)") }
        if l.uopEnd > spec.uopDepth {
            throw fail("uop_end", "\(l.uopEnd) exceeds the uop buffer depth \(spec.uopDepth)")
        }
        guard l.iterOut > 0 && l.iterIn > 0 else { return }
        for u in l.uopBegin..<l.uopEnd {
            guard let uop = slots[u] else {
                throw fail("uop_bgn..uop_end", "uop \(u) was never loaded by a LOAD UOP before this instruction")
            }
            if let (field, value, depth, buffer) = index(uop, l.iterOut - 1, l.iterIn - 1) {
                throw fail(
                    field == "dst" ? "dst_factor_out/dst_factor_in" : "\(field)_factor_out/\(field)_factor_in",
                    "uop \(u) reaches \(buffer) row \(value), beyond the buffer depth \(depth)")
            }
        }
    }
}
