/// The four dependency-token flags every instruction carries. "prev" and "next" are relative to
/// the module executing the instruction in the load -> compute -> store pipeline.
public struct DepFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let popPrev = DepFlags(rawValue: 1)
    public static let popNext = DepFlags(rawValue: 2)
    public static let pushPrev = DepFlags(rawValue: 4)
    public static let pushNext = DepFlags(rawValue: 8)
}

public enum Opcode: UInt8, Sendable {
    case load = 0
    case store = 1
    case gemm = 2
    case finish = 3
    case alu = 4
}

public enum MemoryType: UInt8, Sendable, CaseIterable {
    case uop = 0
    case wgt = 1
    case inp = 2
    case acc = 3
    case out = 4
    case acc8 = 5
}

public enum AluOpcode: UInt8, Sendable {
    case min = 0
    case max = 1
    case add = 2
    case shr = 3
    case mul = 4
}

/// The three modules that execute instructions.
public enum Module: Int, Sendable, CaseIterable {
    case load = 0
    case compute = 1
    case store = 2
    public var name: String { ["load", "compute", "store"][rawValue] }
}

/// LOAD or STORE: a 2-D DMA between DRAM and an on-chip buffer.
public struct MemoryInsn: Hashable, Sendable {
    public var deps: DepFlags = []
    public var memoryType: MemoryType
    public var sramBase: Int
    /// In elements of `memoryType`: the DRAM byte address is `dramBase << log2(element bytes)`.
    public var dramBase: Int
    public var ySize: Int
    public var xSize: Int
    public var xStride: Int
    public var yPad0: Int = 0
    public var yPad1: Int = 0
    public var xPad0: Int = 0
    public var xPad1: Int = 0

    public init(
        deps: DepFlags = [], memoryType: MemoryType, sramBase: Int, dramBase: Int,
        ySize: Int, xSize: Int, xStride: Int,
        yPad0: Int = 0, yPad1: Int = 0, xPad0: Int = 0, xPad1: Int = 0
    ) {
        self.deps = deps
        self.memoryType = memoryType
        self.sramBase = sramBase
        self.dramBase = dramBase
        self.ySize = ySize
        self.xSize = xSize
        self.xStride = xStride
        self.yPad0 = yPad0
        self.yPad1 = yPad1
        self.xPad0 = xPad0
        self.xPad1 = xPad1
    }

    /// SRAM elements written by a load: the padded rectangle.
    public var sramElements: Int { (yPad0 + ySize + yPad1) * (xPad0 + xSize + xPad1) }
}

/// The loop structure shared by GEMM and ALU: two loops around a range of uops.
public struct UopLoop: Hashable, Sendable {
    public var uopBegin: Int
    public var uopEnd: Int
    public var iterOut: Int
    public var iterIn: Int
    public var dstFactorOut: Int
    public var dstFactorIn: Int
    public var srcFactorOut: Int
    public var srcFactorIn: Int

    public init(
        uopBegin: Int, uopEnd: Int, iterOut: Int, iterIn: Int,
        dstFactorOut: Int, dstFactorIn: Int, srcFactorOut: Int, srcFactorIn: Int
    ) {
        self.uopBegin = uopBegin
        self.uopEnd = uopEnd
        self.iterOut = iterOut
        self.iterIn = iterIn
        self.dstFactorOut = dstFactorOut
        self.dstFactorIn = dstFactorIn
        self.srcFactorOut = srcFactorOut
        self.srcFactorIn = srcFactorIn
    }

    /// Uop executions: iter_out * iter_in * (uop_end - uop_bgn).
    public var executions: Int { iterOut * iterIn * max(0, uopEnd - uopBegin) }
}

public struct GemmInsn: Hashable, Sendable {
    public var deps: DepFlags = []
    public var reset: Bool = false
    public var loop: UopLoop
    public var wgtFactorOut: Int
    public var wgtFactorIn: Int

    public init(deps: DepFlags = [], reset: Bool = false, loop: UopLoop, wgtFactorOut: Int = 0, wgtFactorIn: Int = 0) {
        self.deps = deps
        self.reset = reset
        self.loop = loop
        self.wgtFactorOut = wgtFactorOut
        self.wgtFactorIn = wgtFactorIn
    }
}

public struct AluInsn: Hashable, Sendable {
    public var deps: DepFlags = []
    public var reset: Bool = false
    public var loop: UopLoop
    public var op: AluOpcode
    public var useImm: Bool
    /// Signed 16-bit immediate. A negative SHR amount shifts left.
    public var imm: Int

    public init(deps: DepFlags = [], reset: Bool = false, loop: UopLoop, op: AluOpcode, useImm: Bool, imm: Int = 0) {
        self.deps = deps
        self.reset = reset
        self.loop = loop
        self.op = op
        self.useImm = useImm
        self.imm = imm
    }
}

public enum Instruction: Hashable, Sendable {
    case load(MemoryInsn)
    case store(MemoryInsn)
    case gemm(GemmInsn)
    case alu(AluInsn)
    case finish(DepFlags)

    public var deps: DepFlags {
        switch self {
        case .load(let m), .store(let m): return m.deps
        case .gemm(let g): return g.deps
        case .alu(let a): return a.deps
        case .finish(let d): return d
        }
    }

    /// The module that executes it: LOAD of INP/WGT runs on load, STORE on store, the rest on compute.
    public var module: Module {
        switch self {
        case .load(let m): return (m.memoryType == .inp || m.memoryType == .wgt) ? .load : .compute
        case .store: return .store
        case .gemm, .alu, .finish: return .compute
        }
    }

    /// A short kind name for counters and messages: load_inp, load_wgt, load_uop, load_acc, store, gemm, alu, finish.
    public var kind: String {
        switch self {
        case .load(let m): return "load_\(m.memoryType.name)"
        case .store: return "store"
        case .gemm: return "gemm"
        case .alu: return "alu"
        case .finish: return "finish"
        }
    }
}

extension MemoryType {
    public var name: String { ["uop", "wgt", "inp", "acc", "out", "acc8"][Int(rawValue)] }
}

/// One micro-op: buffer indices of the accumulator row written, the source row (input for GEMM,
/// accumulator for ALU) and the weight block.
public struct Uop: Hashable, Sendable {
    public var dst: Int
    public var src: Int
    public var wgt: Int
    public init(dst: Int, src: Int, wgt: Int) {
        self.dst = dst
        self.src = src
        self.wgt = wgt
    }
}
