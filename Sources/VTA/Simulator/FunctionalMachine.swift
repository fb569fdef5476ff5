/// The data state of a VTA: DRAM image and on-chip buffers. Executes instructions bit-exactly
/// (int8 inputs and weights, int32 accumulators with wrap-around, int8 outputs by truncation).
/// Every index is checked against the buffer depths and the DRAM size: a bad program gets a
/// message naming the field, never a trap.
public final class FunctionalMachine {
    public let spec: HardwareSpec
    public var dram: [UInt8]
    var inp: [Int8]
    var wgt: [Int8]
    var acc: [Int32]
    var uops: [Uop]

    public init(spec: HardwareSpec, dram: [UInt8]) {
        self.spec = spec
        self.dram = dram
        inp = [Int8](repeating: 0, count: spec.inpDepth * spec.batch * spec.blockIn)
        wgt = [Int8](repeating: 0, count: spec.wgtDepth * spec.blockOut * spec.blockIn)
        acc = [Int32](repeating: 0, count: spec.accDepth * spec.batch * spec.blockOut)
        uops = [Uop](repeating: Uop(dst: 0, src: 0, wgt: 0), count: spec.uopDepth)
    }

    /// Executes one instruction; returns a problem description or nil.
    func execute(_ insn: Instruction) -> String? {
        switch insn {
        case .load(let m): return load(m)
        case .store(let m): return store(m)
        case .gemm(let g): return gemm(g)
        case .alu(let a): return alu(a)
        case .finish: return nil
        }
    }

    private func checkDMA(_ m: MemoryInsn) -> String? {
        spec.dmaProblem(m, dram: 0..<dram.count, dramName: "\(dram.count)-byte DRAM image")
            .map { "\($0.field) \($0.message)" }
    }

    private func load(_ m: MemoryInsn) -> String? {
        if m.xSize == 0 || m.ySize == 0 { return nil }
        let elemBytes = spec.elementBytes(m.memoryType)
        let width = m.xPad0 + m.xSize + m.xPad1
        let height = m.yPad0 + m.ySize + m.yPad1
        if m.memoryType == .out { return "memory_type OUT cannot be loaded" }
        if let problem = checkDMA(m) { return problem }
        for y in 0..<height {
            for x in 0..<width {
                let sram = m.sramBase + y * width + x
                let inside = y >= m.yPad0 && y < m.yPad0 + m.ySize && x >= m.xPad0 && x < m.xPad0 + m.xSize
                let addr = inside ? (m.dramBase + (y - m.yPad0) * m.xStride + (x - m.xPad0)) * elemBytes : -1
                switch m.memoryType {
                case .uop:
                    if inside {
                        let word =
                            UInt32(dram[addr]) | UInt32(dram[addr + 1]) << 8 | UInt32(dram[addr + 2]) << 16 | UInt32(
                                dram[addr + 3]) << 24
                        uops[sram] = spec.decode(uop: word)
                    } else {
                        uops[sram] = Uop(dst: 0, src: 0, wgt: 0)
                    }
                case .inp, .wgt:
                    let base = sram * elemBytes
                    if m.memoryType == .inp {
                        for b in 0..<elemBytes { inp[base + b] = inside ? Int8(bitPattern: dram[addr + b]) : 0 }
                    } else {
                        for b in 0..<elemBytes { wgt[base + b] = inside ? Int8(bitPattern: dram[addr + b]) : 0 }
                    }
                case .acc:
                    let lanes = spec.batch * spec.blockOut
                    for l in 0..<lanes {
                        var v: UInt32 = 0
                        if inside { for b in 0..<4 { v |= UInt32(dram[addr + 4 * l + b]) << (8 * UInt32(b)) } }
                        acc[sram * lanes + l] = Int32(bitPattern: v)
                    }
                case .acc8:
                    let lanes = spec.batch * spec.blockOut
                    for l in 0..<lanes { acc[sram * lanes + l] = inside ? Int32(Int8(bitPattern: dram[addr + l])) : 0 }
                case .out:
                    break
                }
            }
        }
        return nil
    }

    private func store(_ m: MemoryInsn) -> String? {
        if m.xSize == 0 || m.ySize == 0 { return nil }
        guard m.memoryType == .out else { return "STORE of memory_type \(m.memoryType.name): only OUT can be stored" }
        let elemBytes = spec.outElemBytes
        if let problem = checkDMA(m) { return problem }
        let lanes = spec.batch * spec.blockOut
        for y in 0..<m.ySize {
            for x in 0..<m.xSize {
                let row = m.sramBase + y * m.xSize + x
                let addr = (m.dramBase + y * m.xStride + x) * elemBytes
                for l in 0..<lanes { dram[addr + l] = UInt8(truncatingIfNeeded: acc[row * lanes + l]) }
            }
        }
        return nil
    }

    private func checkLoop(_ l: UopLoop) -> String? {
        if l.uopBegin > l.uopEnd { return "uop_bgn \(l.uopBegin) is after uop_end \(l.uopEnd)" }
        if l.uopEnd > spec.uopDepth { return "uop_end \(l.uopEnd) exceeds the uop buffer depth \(spec.uopDepth)" }
        return nil
    }

    private func gemm(_ g: GemmInsn) -> String? {
        if let problem = checkLoop(g.loop) { return problem }
        let l = g.loop
        let batch = spec.batch
        let bi = spec.blockIn
        let bo = spec.blockOut
        let accDepth = spec.accDepth
        let inpDepth = spec.inpDepth
        let wgtDepth = spec.wgtDepth
        let uops = self.uops
        var problem: String? = nil
        inp.withUnsafeBufferPointer { inp in
            wgt.withUnsafeBufferPointer { wgt in
                acc.withUnsafeMutableBufferPointer { acc in
                    outer: for o in 0..<l.iterOut {
                        for i in 0..<l.iterIn {
                            for u in l.uopBegin..<l.uopEnd {
                                let uop = uops[u]
                                let dst = uop.dst + o * l.dstFactorOut + i * l.dstFactorIn
                                guard dst < accDepth else {
                                    problem = "uop \(u) writes accumulator row \(dst), beyond depth \(accDepth)"
                                    break outer
                                }
                                if g.reset {
                                    for k in 0..<(batch * bo) { acc[dst * batch * bo + k] = 0 }
                                    continue
                                }
                                let src = uop.src + o * l.srcFactorOut + i * l.srcFactorIn
                                let w = uop.wgt + o * g.wgtFactorOut + i * g.wgtFactorIn
                                guard src < inpDepth, w < wgtDepth else {
                                    problem =
                                        "uop \(u) reads input row \(src) / weight block \(w) beyond the buffer depths \(inpDepth) / \(wgtDepth)"
                                    break outer
                                }
                                for b in 0..<batch {
                                    let x = (src * batch + b) * bi
                                    for oc in 0..<bo {
                                        let wrow = (w * bo + oc) * bi
                                        var sum: Int32 = 0
                                        for ic in 0..<bi {
                                            sum &+= Int32(inp[x + ic]) &* Int32(wgt[wrow + ic])
                                        }
                                        let a = (dst * batch + b) * bo + oc
                                        acc[a] &+= sum
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return problem
    }

    private func alu(_ a: AluInsn) -> String? {
        if let problem = checkLoop(a.loop) { return problem }
        let l = a.loop
        let lanes = spec.batch * spec.blockOut
        let accDepth = spec.accDepth
        for o in 0..<l.iterOut {
            for i in 0..<l.iterIn {
                for u in l.uopBegin..<l.uopEnd {
                    let uop = uops[u]
                    let dst = uop.dst + o * l.dstFactorOut + i * l.dstFactorIn
                    let src = uop.src + o * l.srcFactorOut + i * l.srcFactorIn
                    guard dst < accDepth, a.useImm || src < accDepth else {
                        return "uop \(u) addresses accumulator row \(max(dst, src)), beyond depth \(accDepth)"
                    }
                    for k in 0..<lanes {
                        let x = acc[dst * lanes + k]
                        if a.reset {
                            acc[dst * lanes + k] = 0
                            continue
                        }
                        let y = a.useImm ? Int32(a.imm) : acc[src * lanes + k]
                        let r: Int32
                        switch a.op {
                        case .min: r = Swift.min(x, y)
                        case .max: r = Swift.max(x, y)
                        case .add: r = x &+ y
                        case .mul: r = x &* y
                        case .shr: r = y >= 0 ? x >> Int32(Swift.min(y, 31)) : x << Int32(Swift.min(-y, 31))
                        }
                        acc[dst * lanes + k] = r
                    }
                }
            }
        }
        return nil
    }
}
