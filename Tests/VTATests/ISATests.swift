import Testing

@testable import VTA

@Suite struct ISATests {
    let spec = HardwareSpec(.stock)

    @Test func stockLayoutIsExactlyVTAs() {
        let isa = spec.isa
        func f(_ fields: [ISALayout.Field], _ name: String) -> (Int, Int) {
            let x = isa.field(fields, name)
            return (x.offset, x.width)
        }
        // Memory: memory_type [9:7], sram_base 16, dram_base 32, high word from bit 64.
        #expect(f(isa.memory, "memory_type") == (7, 3))
        #expect(f(isa.memory, "sram_base") == (10, 16))
        #expect(f(isa.memory, "dram_base") == (26, 32))
        #expect(f(isa.memory, "y_size") == (64, 16))
        #expect(f(isa.memory, "x_pad_1") == (124, 4))
        // GEMM: reset [7], uop_bgn 13, uop_end 14, iters 14 each; high word exactly full.
        #expect(f(isa.gemm, "reset_reg") == (7, 1))
        #expect(f(isa.gemm, "uop_bgn") == (8, 13))
        #expect(f(isa.gemm, "uop_end") == (21, 14))
        #expect(f(isa.gemm, "iter_out") == (35, 14))
        #expect(f(isa.gemm, "iter_in") == (49, 14))
        #expect(f(isa.gemm, "dst_factor_out") == (64, 11))
        #expect(f(isa.gemm, "wgt_factor_in") == (118, 10))
        #expect(f(isa.alu, "alu_opcode") == (108, 3))
        #expect(f(isa.alu, "imm") == (112, 16))
        #expect(
            f(isa.uop, "dst_idx") == (0, 11) && f(isa.uop, "src_idx") == (11, 11) && f(isa.uop, "wgt_idx") == (22, 10))
        #expect(isa.fits && isa.loopIterWidth == 14)
    }

    @Test func knownEncoding() throws {
        // FINISH with pop_prev: opcode 3 | bit 3.
        #expect(try spec.encode(.finish(.popPrev)) == EncodedInstruction(low: 3 | 8, high: 0))
        let load = MemoryInsn(
            deps: [.pushNext], memoryType: .inp, sramBase: 5, dramBase: 0x1234,
            ySize: 2, xSize: 3, xStride: 4, yPad0: 1, yPad1: 2, xPad0: 3, xPad1: 15)
        let e = try spec.encode(.load(load))
        #expect(e.low == 0 | (1 << 6) | (2 << 7) | (5 << 10) | (0x1234 << 26))
        let high: UInt64 = 2 | (3 << 16) | (4 << 32) | (1 << 48) | (2 << 52) | (3 << 56) | (15 << 60)
        #expect(e.high == high)
        #expect(e.bytes.count == 16 && EncodedInstruction(bytes: e.bytes) == e)
    }

    @Test func overflowingFieldsAreErrorsNotTruncation() {
        let load = MemoryInsn(memoryType: .inp, sramBase: 0, dramBase: 0, ySize: 1, xSize: 70_000, xStride: 1)
        #expect(throws: ISAError.self) { try spec.encode(.load(load)) }
        let pad = MemoryInsn(memoryType: .inp, sramBase: 0, dramBase: 0, ySize: 1, xSize: 1, xStride: 1, yPad0: 16)
        #expect(throws: ISAError.self) { try spec.encode(.load(pad)) }
        let loop = UopLoop(
            uopBegin: 0, uopEnd: 1, iterOut: 1 << 14, iterIn: 1, dstFactorOut: 0, dstFactorIn: 0, srcFactorOut: 0,
            srcFactorIn: 0)
        #expect(throws: ISAError.self) { try spec.encode(.gemm(GemmInsn(loop: loop))) }
        let alu = AluInsn(
            loop: UopLoop(
                uopBegin: 0, uopEnd: 1, iterOut: 1, iterIn: 1, dstFactorOut: 0, dstFactorIn: 0, srcFactorOut: 0,
                srcFactorIn: 0),
            op: .add, useImm: true, imm: 40_000)
        #expect(throws: ISAError.self) { try spec.encode(.alu(alu)) }
        #expect(throws: ISAError.self) { try spec.encode(Uop(dst: 2048, src: 0, wgt: 0)) }
    }

    @Test(arguments: [
        "", "LOG_BLOCK=3,LOG_INP_BUFF_SIZE=14,LOG_WGT_BUFF_SIZE=16,LOG_ACC_BUFF_SIZE=16",
        "LOG_BLOCK_IN=5,LOG_BLOCK_OUT=3,LOG_BATCH=1", "LOG_UOP_BUFF_SIZE=13,LOG_ACC_BUFF_SIZE=15",
    ])
    func randomRoundTrip(_ hw: String) throws {
        var c = HardwareConfig.stock
        try c.apply(assignments: hw)
        let spec = HardwareSpec(c)
        var rng = SplitMix64(seed: 42)
        func r(_ field: ISALayout.Field) -> Int { Int(rng.next() & field.maxValue) }
        func deps() -> DepFlags { DepFlags(rawValue: UInt8(rng.next() & 15)) }
        let isa = spec.isa
        for _ in 0..<500 {
            let m = isa.memory
            let g = isa.gemm
            let a = isa.alu
            let mem = MemoryInsn(
                deps: deps(), memoryType: MemoryType(rawValue: UInt8(rng.next() % 6))!, sramBase: r(m[6]),
                dramBase: r(m[7]), ySize: r(m[8]), xSize: r(m[9]), xStride: r(m[10]),
                yPad0: r(m[11]), yPad1: r(m[12]), xPad0: r(m[13]), xPad1: r(m[14]))
            let loop = UopLoop(
                uopBegin: r(g[6]), uopEnd: r(g[7]), iterOut: r(g[8]), iterIn: r(g[9]),
                dstFactorOut: r(g[10]), dstFactorIn: r(g[11]), srcFactorOut: r(g[12]), srcFactorIn: r(g[13]))
            let aluLoop = UopLoop(
                uopBegin: r(a[6]), uopEnd: r(a[7]), iterOut: r(a[8]), iterIn: r(a[9]),
                dstFactorOut: r(a[10]), dstFactorIn: r(a[11]), srcFactorOut: r(a[12]), srcFactorIn: r(a[13]))
            let insns: [Instruction] = [
                .load(mem), .store(mem),
                .gemm(
                    GemmInsn(
                        deps: deps(), reset: rng.next() & 1 == 1, loop: loop, wgtFactorOut: r(g[14]),
                        wgtFactorIn: r(g[15]))),
                .alu(
                    AluInsn(
                        deps: deps(), reset: false, loop: aluLoop, op: AluOpcode(rawValue: UInt8(rng.next() % 5))!,
                        useImm: rng.next() & 1 == 1, imm: Int(Int16(truncatingIfNeeded: rng.next())))),
                .finish(deps()),
            ]
            for insn in insns {
                #expect(try spec.decode(spec.encode(insn)) == insn)
            }
            let u = Uop(dst: r(isa.uop[0]), src: r(isa.uop[1]), wgt: r(isa.uop[2]))
            #expect(spec.decode(uop: try spec.encode(u)) == u)
        }
    }

    @Test func decodeRejectsUnknownOpcode() {
        #expect(throws: ISAError.self) { try spec.decode(EncodedInstruction(low: 7, high: 0)) }
        #expect(throws: ISAError.self) { try spec.decode(EncodedInstruction(low: 0 | (7 << 7), high: 0)) }
    }
}
