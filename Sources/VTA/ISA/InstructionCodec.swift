/// A value that does not fit its field, or bits that are not a valid instruction. Never silently
/// truncated: the encoder refuses, and the compiler turns the refusal into an invalid reason.
public struct ISAError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let message: String
    public var description: String { "\(field): \(message)" }
}

/// A 128-bit VTA instruction as two little-endian 64-bit words (bits 0-63, 64-127).
public struct EncodedInstruction: Hashable, Sendable {
    public var low: UInt64
    public var high: UInt64
    public init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    /// The 16 bytes as they sit in DRAM (little-endian).
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: low >> (8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: high >> (8 * UInt64($0))) }
    }

    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 16)
        var low: UInt64 = 0
        var high: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 8 { low |= UInt64(b) << (8 * UInt64(i)) } else { high |= UInt64(b) << (8 * UInt64(i - 8)) }
        }
        self.low = low
        self.high = high
    }
}

/// Writes fields into a 128-bit word, refusing values that do not fit.
struct BitWriter {
    var words: (UInt64, UInt64) = (0, 0)

    mutating func put(_ field: ISALayout.Field, _ value: Int) throws {
        guard value >= 0, UInt64(value) <= field.maxValue else {
            throw ISAError(
                field: field.name, message: "\(value) does not fit in \(field.width) bits (max \(field.maxValue))")
        }
        put(field, raw: UInt64(value))
    }

    mutating func put(_ field: ISALayout.Field, raw: UInt64) {
        if field.offset >= 64 {
            words.1 |= raw << UInt64(field.offset - 64)
        } else {
            words.0 |= raw << UInt64(field.offset)
        }
    }
}

struct BitReader {
    let words: (UInt64, UInt64)
    func get(_ field: ISALayout.Field) -> Int {
        let word = field.offset >= 64 ? words.1 : words.0
        let shift = UInt64(field.offset % 64)
        return Int((word >> shift) & field.maxValue)
    }
}

extension HardwareSpec {
    /// Encodes an instruction bit-exactly in VTA's layout for this configuration.
    public func encode(_ insn: Instruction) throws -> EncodedInstruction {
        let layout = isa
        guard layout.fits else { throw ISAError(field: "layout", message: layout.overflow!) }
        var w = BitWriter()
        func common(_ fields: [ISALayout.Field], _ opcode: Opcode, _ deps: DepFlags) throws {
            try w.put(fields[0], Int(opcode.rawValue))
            try w.put(fields[1], deps.contains(.popPrev) ? 1 : 0)
            try w.put(fields[2], deps.contains(.popNext) ? 1 : 0)
            try w.put(fields[3], deps.contains(.pushPrev) ? 1 : 0)
            try w.put(fields[4], deps.contains(.pushNext) ? 1 : 0)
        }
        func loop(_ f: [ISALayout.Field], _ reset: Bool, _ l: UopLoop) throws {
            try w.put(f[5], reset ? 1 : 0)
            try w.put(f[6], l.uopBegin)
            try w.put(f[7], l.uopEnd)
            try w.put(f[8], l.iterOut)
            try w.put(f[9], l.iterIn)
            try w.put(f[10], l.dstFactorOut)
            try w.put(f[11], l.dstFactorIn)
            try w.put(f[12], l.srcFactorOut)
            try w.put(f[13], l.srcFactorIn)
        }
        switch insn {
        case .load(let m), .store(let m):
            let f = layout.memory
            let isStore: Bool
            if case .store = insn { isStore = true } else { isStore = false }
            try common(f, isStore ? .store : .load, m.deps)
            try w.put(f[5], Int(m.memoryType.rawValue))
            try w.put(f[6], m.sramBase)
            try w.put(f[7], m.dramBase)
            try w.put(f[8], m.ySize)
            try w.put(f[9], m.xSize)
            try w.put(f[10], m.xStride)
            try w.put(f[11], m.yPad0)
            try w.put(f[12], m.yPad1)
            try w.put(f[13], m.xPad0)
            try w.put(f[14], m.xPad1)
        case .gemm(let g):
            let f = layout.gemm
            try common(f, .gemm, g.deps)
            try loop(f, g.reset, g.loop)
            try w.put(f[14], g.wgtFactorOut)
            try w.put(f[15], g.wgtFactorIn)
        case .alu(let a):
            let f = layout.alu
            try common(f, .alu, a.deps)
            try loop(f, a.reset, a.loop)
            try w.put(f[14], Int(a.op.rawValue))
            try w.put(f[15], a.useImm ? 1 : 0)
            guard ISALayout.immRange.contains(a.imm) else {
                let field = "a signed \(ISALayout.immWidth)-bit immediate"
                throw ISAError(field: "imm", message: "\(a.imm) does not fit in \(field)")
            }
            w.put(f[16], raw: UInt64(UInt16(bitPattern: Int16(a.imm))))
        case .finish(let deps):
            try common(layout.gemm, .finish, deps)
        }
        return EncodedInstruction(low: w.words.0, high: w.words.1)
    }

    /// Decodes an instruction; an unknown opcode or memory type is an error naming the field.
    public func decode(_ e: EncodedInstruction) throws -> Instruction {
        let layout = isa
        let r = BitReader(words: (e.low, e.high))
        let f = layout.gemm
        guard let opcode = Opcode(rawValue: UInt8(r.get(f[0]))) else {
            throw ISAError(
                field: "opcode", message: "\(r.get(f[0])) is not an opcode (LOAD 0, STORE 1, GEMM 2, FINISH 3, ALU 4)")
        }
        var deps: DepFlags = []
        if r.get(f[1]) != 0 { deps.insert(.popPrev) }
        if r.get(f[2]) != 0 { deps.insert(.popNext) }
        if r.get(f[3]) != 0 { deps.insert(.pushPrev) }
        if r.get(f[4]) != 0 { deps.insert(.pushNext) }
        func loop(_ f: [ISALayout.Field]) -> UopLoop {
            UopLoop(
                uopBegin: r.get(f[6]), uopEnd: r.get(f[7]), iterOut: r.get(f[8]), iterIn: r.get(f[9]),
                dstFactorOut: r.get(f[10]), dstFactorIn: r.get(f[11]),
                srcFactorOut: r.get(f[12]), srcFactorIn: r.get(f[13]))
        }
        switch opcode {
        case .load, .store:
            let m = layout.memory
            guard let type = MemoryType(rawValue: UInt8(r.get(m[5]))) else {
                throw ISAError(
                    field: "memory_type", message: "\(r.get(m[5])) is not a memory type (UOP 0 .. ACC_8BIT 5)")
            }
            let insn = MemoryInsn(
                deps: deps, memoryType: type, sramBase: r.get(m[6]), dramBase: r.get(m[7]),
                ySize: r.get(m[8]), xSize: r.get(m[9]), xStride: r.get(m[10]),
                yPad0: r.get(m[11]), yPad1: r.get(m[12]), xPad0: r.get(m[13]), xPad1: r.get(m[14]))
            return opcode == .load ? .load(insn) : .store(insn)
        case .gemm:
            return .gemm(
                GemmInsn(
                    deps: deps, reset: r.get(f[5]) != 0, loop: loop(f),
                    wgtFactorOut: r.get(f[14]), wgtFactorIn: r.get(f[15])))
        case .alu:
            let a = layout.alu
            guard let op = AluOpcode(rawValue: UInt8(r.get(a[14]))) else {
                throw ISAError(field: "alu_opcode", message: "\(r.get(a[14])) is not an ALU opcode (MIN 0 .. MUL 4)")
            }
            let imm = Int(Int16(bitPattern: UInt16(r.get(a[16]))))
            return .alu(
                AluInsn(deps: deps, reset: r.get(a[5]) != 0, loop: loop(a), op: op, useImm: r.get(a[15]) != 0, imm: imm)
            )
        case .finish:
            return .finish(deps)
        }
    }

    /// Encodes a uop into its 32-bit word.
    public func encode(_ uop: Uop) throws -> UInt32 {
        var w = BitWriter()
        try w.put(isa.uop[0], uop.dst)
        try w.put(isa.uop[1], uop.src)
        try w.put(isa.uop[2], uop.wgt)
        guard w.words.0 <= UInt64(UInt32.max) else { throw ISAError(field: "uop", message: "needs more than 32 bits") }
        return UInt32(w.words.0)
    }

    public func decode(uop word: UInt32) -> Uop {
        let r = BitReader(words: (UInt64(word), 0))
        return Uop(dst: r.get(isa.uop[0]), src: r.get(isa.uop[1]), wgt: r.get(isa.uop[2]))
    }
}
