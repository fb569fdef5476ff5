import Testing

@testable import VTA

/// The functional simulator against the plain reference, bit for bit.
@Suite struct FunctionalTests {
    @Test(arguments: [
        "", "LOG_BLOCK=3,LOG_INP_BUFF_SIZE=14,LOG_WGT_BUFF_SIZE=16,LOG_ACC_BUFF_SIZE=16",
        "LOG_BLOCK_IN=3,LOG_BLOCK_OUT=4,LOG_INP_BUFF_SIZE=14,LOG_WGT_BUFF_SIZE=17",
        "LOG_BLOCK_IN=5,LOG_BLOCK_OUT=3,LOG_ACC_BUFF_SIZE=16", "LOG_BATCH=1",
        "LOG_INP_BUFF_SIZE=13,LOG_ACC_BUFF_SIZE=14,LOG_WGT_BUFF_SIZE=15", "AXI_WIDTH=512,MAX_BURST=4",
    ])
    func randomShapesAndSchedulesMatchReference(_ hw: String) {
        let spec = hardware(hw)
        #expect(spec.invalidReason == nil)
        var rng = SplitMix64(seed: UInt64(hw.hashValue & 0xFFFF) | 1)
        var checked = 0
        var attempts = 0
        while checked < 12 && attempts < 400 {
            attempts += 1
            let dense = rng.next() % 5 == 0
            let n = spec.batch * Int(1 + rng.next() % 2)
            let ci = spec.blockIn * Int(1 + rng.next() % 3)
            let co = spec.blockOut * Int(1 + rng.next() % 3)
            let w: Workload
            if dense {
                w = .dense(n: n, ci: ci, co: co)
            } else {
                let k = [1, 3, 3, 5][Int(rng.next() % 4)]
                let h = Int(3 + rng.next() % 10)
                let width = Int(3 + rng.next() % 10)
                let s = Int(1 + rng.next() % 2)
                let p = Int(rng.next() % UInt64(k / 2 + 2))
                guard h + 2 * p >= k && width + 2 * p >= k else { continue }
                w = Workload(
                    kind: .conv2d, batch: n, height: h, width: width, inChannels: ci, outChannels: co,
                    kernelH: k, kernelW: k, stride: s, pad: p)
            }
            let space = ScheduleSpace(workload: w, spec: spec)
            let sched = space.schedule(at: Int(rng.next() % UInt64(space.size)))
            guard let (result, out, ref) = runFunctional(w, sched, spec, seed: rng.next(), shift: Int(rng.next() % 10))
            else { continue }
            #expect(result.status == .ok, "\(w) \(sched)")
            #expect(out == ref, "\(w) \(sched) on \(hw)")
            checked += 1
        }
        #expect(checked >= 12, "only \(checked) valid random cases found")
    }

    @Test func resnetLayerWithVirtualThreads() {
        // C11 at its full size with two virtual threads.
        let w = Workload.conv2d(h: 7, w: 7, ci: 512, co: 512, k: 3, s: 1, p: 1)
        let s = Schedule(tileH: 7, tileW: 7, tileCI: 1, tileCO: 8, ocThreads: 2)
        guard let (result, out, ref) = runFunctional(w, s, HardwareSpec(.stock), seed: 3) else {
            Issue.record("invalid")
            return
        }
        #expect(result.status == .ok)
        #expect(out == ref)
    }

    @Test func everyValidScheduleOfASmallSpaceMatches() {
        let spec = HardwareSpec(.stock)
        let w = Workload.conv2d(h: 6, w: 6, ci: 32, co: 32, k: 3, s: 1, p: 1)
        let space = ScheduleSpace(workload: w, spec: spec)
        var valid = 0
        for s in space.all {
            guard let (result, out, ref) = runFunctional(w, s, spec, seed: 11) else { continue }
            valid += 1
            #expect(result.status == .ok && out == ref, "\(s)")
        }
        #expect(valid >= 20)
    }

    @Test func aluOperations() {
        // A register-operand ALU program built by hand: acc[0] = acc[0] + acc[1]; then shift left via negative SHR.
        let spec = HardwareSpec(.stock)
        let lanes = spec.batch * spec.blockOut
        var dram = [UInt8](repeating: 0, count: 8192)
        // two ACC rows at byte 4096: row0 lanes = lane, row1 lanes = 100
        for l in 0..<lanes {
            let v0 = UInt32(l)
            let v1 = UInt32(100)
            for b in 0..<4 {
                dram[4096 + 4 * l + b] = UInt8((v0 >> (8 * UInt32(b))) & 0xFF)
                dram[4096 + 64 + 4 * l + b] = UInt8((v1 >> (8 * UInt32(b))) & 0xFF)
            }
        }
        // uops at byte 0: uop0 dst 0 src 1
        let word = try! spec.encode(Uop(dst: 0, src: 1, wgt: 0))
        for b in 0..<4 { dram[b] = UInt8((word >> (8 * UInt32(b))) & 0xFF) }
        let loop = UopLoop(
            uopBegin: 0, uopEnd: 1, iterOut: 1, iterIn: 1, dstFactorOut: 0, dstFactorIn: 0, srcFactorOut: 0,
            srcFactorIn: 0)
        let program = Program(
            spec: spec,
            instructions: [
                .load(MemoryInsn(memoryType: .uop, sramBase: 0, dramBase: 0, ySize: 1, xSize: 1, xStride: 1)),
                .load(MemoryInsn(memoryType: .acc, sramBase: 0, dramBase: 4096 / 64, ySize: 1, xSize: 2, xStride: 2)),
                .alu(AluInsn(loop: loop, op: .add, useImm: false)),
                .alu(AluInsn(loop: loop, op: .shr, useImm: true, imm: -2)),
                .alu(AluInsn(loop: loop, op: .min, useImm: true, imm: 420)),
                .store(
                    MemoryInsn(
                        deps: [], memoryType: .out, sramBase: 0, dramBase: 6144 / 16, ySize: 1, xSize: 1, xStride: 1)),
                .finish([]),
            ], uops: [], regions: [])
        // The STORE runs on another module; make it wait for compute with a token pair.
        var insns = program.instructions
        insns[4] = .alu(AluInsn(deps: .pushNext, loop: loop, op: .min, useImm: true, imm: 420))
        insns[5] = .store(
            MemoryInsn(
                deps: [.popPrev, .pushPrev], memoryType: .out, sramBase: 0, dramBase: 6144 / 16, ySize: 1, xSize: 1,
                xStride: 1))
        insns[6] = .finish(.popNext)
        let machine = FunctionalMachine(spec: spec, dram: dram)
        let result = Simulator(spec: spec).run(
            Program(spec: spec, instructions: insns, uops: [], regions: []), machine: machine)
        #expect(result.status == .ok)
        for l in 0..<lanes {
            let expected = Int8(truncatingIfNeeded: min((l + 100) << 2, 420))
            #expect(Int8(bitPattern: machine.dram[6144 + l]) == expected)
        }
    }

    @Test func outOfRangeProgramIsReportedNotTrapped() {
        let spec = HardwareSpec(.stock)
        let program = Program(
            spec: spec,
            instructions: [
                .load(MemoryInsn(memoryType: .inp, sramBase: 2047, dramBase: 0, ySize: 1, xSize: 2, xStride: 2)),
                .finish([]),
            ], uops: [], regions: [])
        let result = Simulator(spec: spec).run(
            program, machine: FunctionalMachine(spec: spec, dram: [UInt8](repeating: 0, count: 4096)))
        guard case .malformed(let m) = result.status else {
            Issue.record("expected malformed, got \(result.status)")
            return
        }
        #expect(m.contains("instruction 0") && m.contains("sram_base"))
    }
}
