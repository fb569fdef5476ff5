/// Bit positions of every instruction field, derived from the buffer depths.
///
/// Fields are packed in VTA's order from bit 0 upward; a field that would straddle bit 64 starts
/// at bit 64 instead (as the C bit-fields of hw_spec.h do). At the stock configuration each
/// 64-bit word of GEMM/ALU is exactly full and so is the 32-bit uop, so any larger buffer needs a
/// wider ISA: such a configuration is invalid (``overflow`` says which field does not fit).
public struct ISALayout: Hashable, Sendable {
    public struct Field: Hashable, Sendable {
        public let name: String
        public let offset: Int
        public let width: Int
        public var maxValue: UInt64 { width >= 64 ? .max : (1 << UInt64(width)) - 1 }
    }

    /// VTA fixes the GEMM/ALU loop-iteration fields at 14 bits; they shrink if a larger uop buffer
    /// leaves less room in the low word.
    public static let maxLoopIterWidth = 14
    public static let memSramWidth = 16
    public static let memDramWidth = 32
    public static let memSizeWidth = 16
    public static let memPadWidth = 4
    /// The ALU immediate is a signed field (a SHR by a negative amount shifts left).
    public static let immWidth = 16

    /// The ranges these widths allow, so the compiler, the CLI and the encoder read one table.
    public static let immRange = -(1 << (immWidth - 1))...((1 << (immWidth - 1)) - 1)
    public static let maxPad = (1 << memPadWidth) - 1
    public static let maxSize = (1 << memSizeWidth) - 1
    /// The largest iter_out/iter_in at this layout.
    public var maxLoopIter: Int { (1 << loopIterWidth) - 1 }

    public let memory: [Field]
    public let gemm: [Field]
    public let alu: [Field]
    public let uop: [Field]
    public let loopIterWidth: Int
    /// A description of the first field that does not fit, or nil.
    public let overflow: String?

    public var fits: Bool { overflow == nil }

    init(logUopDepth: Int, logInpDepth: Int, logWgtDepth: Int, logAccDepth: Int) {
        let common: [(String, Int)] = [
            ("opcode", 3), ("pop_prev_dep", 1), ("pop_next_dep", 1),
            ("push_prev_dep", 1), ("push_next_dep", 1),
        ]
        let uopBgnWidth = logUopDepth
        let uopEndWidth = logUopDepth + 1
        let lowUsed = 7 + 1 + uopBgnWidth + uopEndWidth
        loopIterWidth = max(0, min(Self.maxLoopIterWidth, (64 - lowUsed) / 2))
        let lowWord =
            common + [
                ("reset_reg", 1), ("uop_bgn", uopBgnWidth), ("uop_end", uopEndWidth),
                ("iter_out", loopIterWidth), ("iter_in", loopIterWidth),
            ]
        var problems: [String] = []
        if loopIterWidth < 1 { problems.append("uop_bgn/uop_end leave no room for iter_out/iter_in") }
        if logUopDepth > Self.memSramWidth || logInpDepth > Self.memSramWidth || logWgtDepth > Self.memSramWidth
            || logAccDepth > Self.memSramWidth
        {
            problems.append("a buffer depth needs more than the 16-bit sram_base field")
        }
        func pack(_ fields: [(String, Int)], _ what: String, words: Int) -> [Field] {
            var out: [Field] = []
            var bit = 0
            for (name, width) in fields {
                if bit < 64 && bit + width > 64 { bit = 64 }  // never straddle bit 64
                out.append(Field(name: name, offset: bit, width: width))
                bit += width
            }
            if bit > 64 * words {
                problems.append("\(what) needs \(bit) bits, more than \(64 * words) (field \(out.last!.name))")
            }
            return out
        }
        memory = pack(
            common + [
                ("memory_type", 3), ("sram_base", Self.memSramWidth), ("dram_base", Self.memDramWidth),
                ("y_size", Self.memSizeWidth), ("x_size", Self.memSizeWidth), ("x_stride", Self.memSizeWidth),
                ("y_pad_0", Self.memPadWidth), ("y_pad_1", Self.memPadWidth),
                ("x_pad_0", Self.memPadWidth), ("x_pad_1", Self.memPadWidth),
            ], "LOAD/STORE", words: 2)
        gemm = pack(
            lowWord + [
                ("dst_factor_out", logAccDepth), ("dst_factor_in", logAccDepth),
                ("src_factor_out", logInpDepth), ("src_factor_in", logInpDepth),
                ("wgt_factor_out", logWgtDepth), ("wgt_factor_in", logWgtDepth),
            ], "GEMM", words: 2)
        alu = pack(
            lowWord + [
                ("dst_factor_out", logAccDepth), ("dst_factor_in", logAccDepth),
                ("src_factor_out", logAccDepth), ("src_factor_in", logAccDepth),
                ("alu_opcode", 3), ("use_imm", 1), ("imm", Self.immWidth),
            ], "ALU", words: 2)
        uop = pack(
            [("dst_idx", logAccDepth), ("src_idx", max(logAccDepth, logInpDepth)), ("wgt_idx", logWgtDepth)],
            "uop", words: 1)
        // A uop is 32 bits wide in VTA's uop buffer; `pack` allowed 64, so check 32 here.
        if let last = uop.last, last.offset + last.width > 32 {
            problems.append("a uop needs \(last.offset + last.width) bits, more than 32 (dst_idx/src_idx/wgt_idx)")
        }
        overflow = problems.first
    }

    public func field(_ fields: [Field], _ name: String) -> Field {
        fields.first { $0.name == name }!
    }
}
