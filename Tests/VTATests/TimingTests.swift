import Testing

@testable import VTA

/// Pins the timing facts of VTA.md with hand-written micro-programs.
@Suite struct TimingTests {
    static func loop(_ n: Int, iterOut: Int = 1, iterIn: Int = 1) -> UopLoop {
        UopLoop(
            uopBegin: 0, uopEnd: n, iterOut: iterOut, iterIn: iterIn, dstFactorOut: 0, dstFactorIn: 0, srcFactorOut: 0,
            srcFactorIn: 0)
    }
    static func load(_ type: MemoryType, _ n: Int, _ deps: DepFlags = [], rows: Int = 1, pad: Int = 0) -> Instruction {
        .load(
            MemoryInsn(
                deps: deps, memoryType: type, sramBase: 0, dramBase: 0, ySize: rows, xSize: n, xStride: n, yPad0: pad,
                yPad1: pad, xPad0: pad, xPad1: pad))
    }
    static func store(_ n: Int, _ deps: DepFlags = [], rows: Int = 1) -> Instruction {
        .store(MemoryInsn(deps: deps, memoryType: .out, sramBase: 0, dramBase: 0, ySize: rows, xSize: n, xStride: n))
    }
    static func gemm(_ n: Int, reset: Bool = false, iterOut: Int = 1, iterIn: Int = 1) -> Instruction {
        .gemm(GemmInsn(reset: reset, loop: loop(n, iterOut: iterOut, iterIn: iterIn)))
    }
    static func alu(_ n: Int, imm: Bool) -> Instruction { .alu(AluInsn(loop: loop(n), op: .add, useImm: imm, imm: 1)) }

    func cycles(_ insns: [Instruction], _ hw: String = "DRAM_LATENCY=1", timing: TimingParameters = .tsim) -> Int {
        let spec = hardware(hw)
        let r = Simulator(spec: spec, timing: timing).run(
            Program(spec: spec, instructions: insns, uops: [], regions: []))
        #expect(r.status == .ok)
        return r.cycles
    }

    // GEMM and ALU timing does not depend on the uops' contents, so these programs load none:
    // the only memory traffic is the fetch. Every extra instruction adds its 2 fetch beats (64-bit
    // AXI) before the chunk is dispatched, so programs are compared with programs of the same length.
    @Test func gemmCostsOneCyclePerUopPlusSevenBackToBack() {
        let base = cycles([.finish([])])
        let empty = cycles([Self.gemm(0), .finish([])])
        #expect(empty - base == 2 + 7, "2 fetch beats + the GEMM pipeline's 7 cycles")
        for n in [1, 16, 256, 1024] {
            #expect(cycles([Self.gemm(n), .finish([])]) - empty == n, "GEMM of \(n) uops")
            #expect(cycles([Self.gemm(n, reset: true), .finish([])]) - empty == n, "GEMM reset of \(n) uops")
        }
        // iter loops multiply executions; back-to-back GEMMs start N + 7 apart (RTL: 256 + 7).
        #expect(cycles([Self.gemm(16, iterOut: 16, iterIn: 16), .finish([])]) - empty == 4096)
        let two = cycles([Self.gemm(100), Self.gemm(100), .finish([])])
        #expect(two - cycles([Self.gemm(100), .finish([])]) == 2 + 107)
        // The pre-2021 core: about 4 cycles a uop.
        #expect(cycles([Self.gemm(256), .finish([])], timing: .legacyGemm) - empty == 4 * 256)
    }

    @Test func aluImmediateVersusRegisterOperand() {
        let empty = cycles([Self.alu(0, imm: true), .finish([])])
        #expect(cycles([Self.alu(256, imm: true), .finish([])]) - empty == 256)
        #expect(cycles([Self.alu(256, imm: false), .finish([])]) - empty == 2 * 256)
    }

    /// The front end dispatches a chunk only once all of it has arrived: instructions behind a long
    /// GEMM, even ones for another module, delay the GEMM's start by their fetch beats.
    @Test func aChunkIsDispatchedOnlyWhenItHasArrived() {
        func program(_ extra: Int) -> [Instruction] {
            [Self.gemm(1000)] + Array(repeating: Self.store(0), count: extra) + [.finish([])]
        }
        let hw = "DRAM_LATENCY=1,MAX_BURST=256"
        // 1 + k + 1 instructions of 2 beats arrive by 1 + 2(k + 2); dispatch, decode 2, GEMM 1007, FINISH 3.
        for k in [0, 1, 10, 126] {
            #expect(cycles(program(k), hw) == 1 + 2 * (k + 2) + 2 + 1007 + 3, "\(k) instructions behind the GEMM")
        }
        // At MAX_BURST 16 a chunk holds 8 instructions: the GEMM waits for the first 8 only.
        #expect(cycles(program(100), "DRAM_LATENCY=1") == cycles(program(6), "DRAM_LATENCY=1"))
    }

    @Test func loadsMoveOneBeatPerCycleAndWidthHelps() {
        // 64 INP elements of 16 bytes: 128 beats at 64-bit AXI, 64 at 128-bit.
        func inp(_ k: Int, _ hw: String) -> Int {
            cycles([Self.load(.inp, k, .pushNext), .finish(.popPrev)], hw) - cycles([.finish([])], hw)
        }
        let a64 = inp(64, "DRAM_LATENCY=1")
        let b64 = inp(128, "DRAM_LATENCY=1")
        #expect(b64 - a64 == 128)  // 64 more elements x 2 beats
        let a128 = inp(64, "DRAM_LATENCY=1,AXI_WIDTH=128")
        let b128 = inp(128, "DRAM_LATENCY=1,AXI_WIDTH=128")
        #expect(b128 - a128 == 64)
        // Weights: a 256-byte block is 32 beats at 64 bits.
        let w1 = cycles([Self.load(.wgt, 1, .pushNext), .finish(.popPrev)])
        let w2 = cycles([Self.load(.wgt, 2, .pushNext), .finish(.popPrev)])
        #expect(w2 - w1 == 32)
    }

    @Test func readLatencyAddsPerRoundTrip() {
        // FINISH alone: one round trip (fetch); a LOAD program: two.
        let f1 = cycles([.finish([])], "DRAM_LATENCY=1")
        let f100 = cycles([.finish([])], "DRAM_LATENCY=100")
        #expect(f100 - f1 == 99)
        let program: [Instruction] = [Self.load(.inp, 16, .pushNext), .finish(.popPrev)]
        #expect(cycles(program, "DRAM_LATENCY=100") - cycles(program, "DRAM_LATENCY=1") == 2 * 99)
    }

    @Test func storeCostsBeatsPlusOneReadPerElement() {
        let s1 = cycles([Self.store(16, .pushPrev), .finish(.popNext)], "DRAM_LATENCY=1,MAX_BURST=256")
        let s2 = cycles([Self.store(32, .pushPrev), .finish(.popNext)], "DRAM_LATENCY=1,MAX_BURST=256")
        // 16 more 16-byte elements in the same burst: 32 beats + 16 SRAM reads.
        #expect(s2 - s1 == 32 + 16)
        // At MAX_BURST 16 the 64 beats are 4 bursts, not 1: three more acknowledges of 2 cycles.
        let s2short = cycles([Self.store(32, .pushPrev), .finish(.popNext)], "DRAM_LATENCY=1")
        #expect(s2short - s1 == 32 + 16 + 3 * 2)
    }

    /// Each store row is its own write burst, which waits for its acknowledge: measured on the RTL
    /// (VTA.md) at read latency 1, elements x rows.
    @Test func storeRowsEachWaitForTheirAcknowledge() {
        let hw = "DRAM_LATENCY=1,MAX_BURST=256"
        for (x, rows, rtl) in [(16, 1, 61), (1, 16, 91), (7, 14, 333), (8, 16, 427)] {
            #expect(cycles([Self.store(x, .pushPrev, rows: rows), .finish(.popNext)], hw) == rtl, "\(x)x\(rows)")
        }
    }

    /// Stores have their own write channel: a 512-beat store issued right behind an 8,192-beat weight
    /// load hides under it (RTL 8,210 cycles; the load alone costs 2 fewer, its one instruction less).
    @Test func storesDoNotQueueBehindReads() {
        let hw = "DRAM_LATENCY=1,MAX_BURST=256"
        let both = cycles(
            [Self.load(.wgt, 256, .pushNext), Self.store(256, .pushPrev), .finish([.popPrev, .popNext])], hw)
        let loadAlone = cycles([Self.load(.wgt, 256, .pushNext), .finish(.popPrev)], hw)
        #expect(both == 8210)
        #expect(both - loadAlone == 2)
    }

    /// FINISH retires when compute reaches it: without tokens it does not wait for the store
    /// (RTL: 11 cycles without the flags, 16 with them).
    @Test func finishDoesNotWaitForOtherModules() {
        let hw = "DRAM_LATENCY=1,MAX_BURST=256"
        #expect(cycles([Self.store(1), .finish([])], hw) == 11)
        #expect(cycles([Self.store(1, .pushPrev), .finish(.popNext)], hw) == 16)
    }

    /// Zero padding is written only while the load waits for its first beat, not while data streams:
    /// an 8x16 input load padded by 1 on every side, RTL 321 / 336 / 399 cycles at L = 1 / 16 / 64.
    @Test func paddingOverlapsOnlyTheFirstBeatWait() {
        let padded: [Instruction] = [Self.load(.inp, 8, .pushNext, rows: 16, pad: 1), .finish(.popPrev)]
        let plain: [Instruction] = [Self.load(.inp, 8, .pushNext, rows: 16), .finish(.popPrev)]
        for (latency, rtl) in [(1, 321), (16, 336), (64, 399)] {
            let hw = "DRAM_LATENCY=\(latency),MAX_BURST=256"
            let c = cycles(padded, hw)
            #expect(abs(c - rtl) <= 3, "L=\(latency): simulated \(c), RTL \(rtl)")
            // 18 x 10 - 8 x 16 = 52 padded elements, less those written while the first beat is awaited.
            #expect(c - cycles(plain, hw) == max(0, 52 - latency), "L=\(latency)")
        }
    }

    @Test func tokenPingPongSerializesModules() {
        // load -> compute -> load -> compute ...: each waits for the other.
        var insns: [Instruction] = []
        let rounds = 10
        for r in 0..<rounds {
            insns.append(Self.load(.inp, 64, r == 0 ? .pushNext : [.popNext, .pushNext]))
            insns.append(
                .gemm(
                    GemmInsn(deps: r == rounds - 1 ? .popPrev : [.popPrev, .pushPrev], loop: Self.loop(16, iterOut: 8)))
            )
        }
        insns.append(.finish([]))
        let spec = hardware("DRAM_LATENCY=1")
        let r = Simulator(spec: spec).run(Program(spec: spec, instructions: insns, uops: [], regions: []))
        #expect(r.status == .ok)
        let busy = (r.counters.busy["load"] ?? 0) + (r.counters.busy["compute"] ?? 0)
        #expect(r.cycles >= busy, "ping-pong cannot overlap: \(r.cycles) < \(busy)")
        #expect((r.counters.stalledOnTokens["load"] ?? 0) > 0 && (r.counters.stalledOnTokens["compute"] ?? 0) > 0)
    }

    @Test func deadlockIsReportedNotAHang() {
        let spec = HardwareSpec(.stock)
        let r = Simulator(spec: spec).run(Program(spec: spec, instructions: [.finish(.popPrev)], uops: [], regions: []))
        guard case .deadlock(let m) = r.status else {
            Issue.record("expected deadlock, got \(r.status)")
            return
        }
        #expect(m.contains("compute") && m.contains("load->compute"))
    }

    @Test func malformedFlagsAndMissingFinish() {
        let spec = HardwareSpec(.stock)
        let bad = Simulator(spec: spec).run(
            Program(spec: spec, instructions: [Self.load(.inp, 1, .popPrev), .finish([])], uops: [], regions: []))
        #expect(bad.status.name == "malformed")
        let none = Simulator(spec: spec).run(
            Program(spec: spec, instructions: [Self.load(.inp, 1)], uops: [], regions: []))
        #expect(none.status.name == "malformed")
    }

    @Test func cycleLimitStopsLongRuns() {
        let spec = HardwareSpec(.stock)
        var sim = Simulator(spec: spec)
        sim.cycleLimit = 1000
        let r = sim.run(
            Program(
                spec: spec, instructions: [Self.load(.uop, 16), Self.gemm(16, iterOut: 100, iterIn: 100), .finish([])],
                uops: [], regions: []))
        #expect(r.status == .cycleLimit(1000))
    }

    @Test func fullQueuesStallDispatchWithoutDeadlock() {
        // 1500 compute instructions behind one slow load: the compute queue (512) fills.
        var insns: [Instruction] = [
            Self.load(.uop, 16), Self.load(.wgt, 64, .pushNext), .gemm(GemmInsn(deps: .popPrev, loop: Self.loop(1))),
        ]
        insns += Array(repeating: Self.gemm(1), count: 1500)
        insns.append(.finish([]))
        let spec = HardwareSpec(.stock)
        let r = Simulator(spec: spec).run(Program(spec: spec, instructions: insns, uops: [], regions: []))
        #expect(r.status == .ok)
        #expect(r.counters.instructions["gemm"] == 1501)
    }

    /// VTA.md's cycle counts measured on the VTA RTL (read latency 1, stock, 64-bit AXI, the RTL's
    /// 256-beat bursts): the model reproduces each exactly.
    @Test func rtlMicroProgramTable() {
        let table: [(String, [Instruction], Int)] = [
            ("FINISH alone", [.finish([])], 8),
            ("LOAD UOP 1; FINISH", [Self.load(.uop, 1), .finish([])], 16),
            ("LOAD UOP 1; GEMM reset 1", [Self.load(.uop, 1), Self.gemm(1, reset: true), .finish([])], 26),
            ("LOAD INP 16", [Self.load(.inp, 16, .pushNext), .finish(.popPrev)], 48),
            ("LOAD WGT 16", [Self.load(.wgt, 16, .pushNext), .finish(.popPrev)], 528),
            ("LOAD ACC 16", [Self.load(.acc, 16), .finish([])], 144),
            ("LOAD UOP 16", [Self.load(.uop, 16), .finish([])], 23),
            ("LOAD UOP 16; GEMM 16", [Self.load(.uop, 16), Self.gemm(16), .finish([])], 48),
            ("LOAD UOP 256", [Self.load(.uop, 256), .finish([])], 143),
            ("LOAD UOP 256; GEMM 256", [Self.load(.uop, 256), Self.gemm(256), .finish([])], 408),
            ("LOAD UOP 1024; GEMM 1024", [Self.load(.uop, 1024), Self.gemm(1024), .finish([])], 1560),
            ("LOAD UOP 256; GEMM reset 256", [Self.load(.uop, 256), Self.gemm(256, reset: true), .finish([])], 408),
            (
                "LOAD UOP 16; GEMM 16x16x16",
                [Self.load(.uop, 16), Self.gemm(16, iterOut: 16, iterIn: 16), .finish([])], 4128
            ),
            ("ALU imm 256", [Self.load(.uop, 256), Self.alu(256, imm: true), .finish([])], 408),
            ("ALU reg 256", [Self.load(.uop, 256), Self.alu(256, imm: false), .finish([])], 664),
            ("STORE 16", [Self.store(16, .pushPrev), .finish(.popNext)], 61),
            ("STORE 1 (push); FINISH (pop)", [Self.store(1, .pushPrev), .finish(.popNext)], 16),
        ]
        for (name, program, measured) in table {
            let c = cycles(program, "DRAM_LATENCY=1,MAX_BURST=256")
            #expect(c == measured, "\(name): simulated \(c), RTL \(measured)")
        }
        let latencyRows: [(String, [Instruction], [Int])] = [
            ("FINISH alone", [.finish([])], [8, 15, 39, 107]),
            ("LOAD INP 16", [Self.load(.inp, 16, .pushNext), .finish(.popPrev)], [48, 62, 110, 246]),
            ("GEMM 256", [Self.load(.uop, 256), Self.gemm(256), .finish([])], [408, 422, 470, 606]),
            ("STORE 16", [Self.store(16, .pushPrev), .finish(.popNext)], [61, 68, 92, 160]),
        ]
        for (name, program, measured) in latencyRows {
            for (latency, m) in zip([1, 8, 32, 100], measured) {
                let c = cycles(program, "DRAM_LATENCY=\(latency),MAX_BURST=256")
                #expect(c == m, "\(name) at read latency \(latency): simulated \(c), RTL \(m)")
            }
        }
    }
}

/// The RTL that measured Tests/Fixtures/rtl-layers was built with a 2048-uop buffer (LOG_UOP_BUFF_SIZE=13), a
/// property of that build, not of stock VTA (8192): a program is valid only if its uops fit its own configuration.
@Suite struct UopBufferTests {
    @Test func uopsBeyondTheConfiguredBufferAreInvalid() {
        let c2 = Workload.conv2d(h: 56, w: 56, ci: 64, co: 64, k: 3, s: 1, p: 1)
        // A GEMM kernel of 4*9*56 = 2016 uops plus its row kernel: more than the RTL build's 2048, less than 8192.
        let schedule = Schedule(tileH: 1, tileW: 56, tileCI: 4, tileCO: 1)
        func code(_ hw: String) -> InvalidReason.Code? {
            if case .failure(let r) = Compiler.compile(c2, schedule, hardware(hw)) { return r.code }
            return nil
        }
        #expect(hardware("LOG_UOP_BUFF_SIZE=13").uopDepth == 2048)
        #expect(code("LOG_UOP_BUFF_SIZE=15") == nil)
        #expect(code("LOG_UOP_BUFF_SIZE=13") == .uopBufferOverflow)
    }
}

/// Properties over whole compiled layers.
@Suite struct LayerTimingTests {
    @Test func virtualThreadsOverlapLoadComputeStore() {
        let spec = HardwareSpec(.stock)
        let w = Workload.conv2d(h: 56, w: 56, ci: 64, co: 64, k: 3, s: 1, p: 1)
        let threaded = ScheduleSpace.evaluate(
            w, Schedule(tileH: 28, tileW: 8, tileCI: 1, tileCO: 2, hThreads: 2, ocThreads: 2), spec)
        guard case .measured(let cycles, let c) = threaded else {
            Issue.record("\(threaded)")
            return
        }
        let sum = c.busy.values.reduce(0, +)
        #expect(Double(cycles) < 0.85 * Double(sum), "total \(cycles) vs sum of busy \(sum)")
        // One thread: the same tiles serialize, and the run is slower.
        let single = ScheduleSpace.evaluate(w, Schedule(tileH: 28, tileW: 8, tileCI: 1, tileCO: 2), spec)
        #expect((single.cycles ?? 0) > cycles)
    }

    @Test func noRunBeatsItsBounds() {
        var rng = SplitMix64(seed: 99)
        let configs = [
            "", "AXI_WIDTH=512",
            "LOG_BLOCK=3,LOG_INP_BUFF_SIZE=14,LOG_WGT_BUFF_SIZE=16,LOG_ACC_BUFF_SIZE=16,AXI_WIDTH=128",
            "LOG_BLOCK_IN=5,LOG_BLOCK_OUT=4,LOG_WGT_BUFF_SIZE=19,LOG_ACC_BUFF_SIZE=17",
            "LOG_BATCH=1,LOG_ACC_BUFF_SIZE=16,DRAM_LATENCY=1", "MAX_BURST=256,AXI_WIDTH=256",
        ]
        var checked = 0
        for hw in configs {
            let spec = hardware(hw)
            #expect(spec.invalidReason == nil, "\(hw)")
            for layer in ModelZoo.model(named: "resnet18")!.layers + [
                Model.Layer(name: "fc", workload: .dense(n: 2 * spec.batch, ci: 512, co: 256))
            ] {
                let space = ScheduleSpace(workload: layer.workload, spec: spec)
                for _ in 0..<6 {
                    let s = space.schedule(at: Int(rng.next() % UInt64(space.size)))
                    guard case .measured(let cycles, let c) = ScheduleSpace.evaluate(layer.workload, s, spec) else {
                        continue
                    }
                    checked += 1
                    #expect(cycles * spec.macsPerCycle >= layer.workload.macs, "\(layer.name) \(s) on \(hw)")
                    // The read and write channels each carry one beat a cycle (they run side by side).
                    #expect(
                        cycles * spec.axiBytes >= max(c.dramBytesRead, c.dramBytesWritten),
                        "\(layer.name) \(s) on \(hw)")
                }
            }
        }
        #expect(checked >= 40, "only \(checked) valid random configurations")
    }

    /// The best schedule of each ResNet-18 layer at the stock configuration, as found by the
    /// exhaustive `vtafarm sim --model resnet18 --best` (which Scripts/test also runs, in release).
    static let resnet18Best: [String: String] = [
        "C2": "tile_h=28,tile_w=8,tile_ci=1,tile_co=2,h_nthread=2,oc_nthread=2",
        "C3": "tile_h=7,tile_w=14,tile_ci=1,tile_co=4,h_nthread=2,oc_nthread=2",
        "C4": "tile_h=1,tile_w=28,tile_ci=4,tile_co=8,h_nthread=2",
        "C5": "tile_h=14,tile_w=28,tile_ci=1,tile_co=1,h_nthread=2,oc_nthread=2",
        "C6": "tile_h=7,tile_w=14,tile_ci=1,tile_co=4,h_nthread=2,oc_nthread=2",
        "C7": "tile_h=7,tile_w=7,tile_ci=2,tile_co=16,h_nthread=2",
        "C8": "tile_h=7,tile_w=14,tile_ci=1,tile_co=4,h_nthread=2,oc_nthread=2",
        "C9": "tile_h=7,tile_w=7,tile_ci=1,tile_co=4,oc_nthread=2",
        "C10": "tile_h=7,tile_w=7,tile_ci=2,tile_co=16,oc_nthread=2",
        "C11": "tile_h=7,tile_w=7,tile_ci=1,tile_co=4,oc_nthread=2",
    ]

    @Test func resnet18TotalIsCalibrated() throws {
        let spec = HardwareSpec(.stock)
        var total = 0
        for layer in ModelZoo.model(named: "resnet18")!.layers {
            let s = try Schedule(parsing: Self.resnet18Best[layer.name]!)
            guard let cycles = ScheduleSpace.evaluate(layer.workload, s, spec).cycles else {
                Issue.record("\(layer.name): \(s) is not valid")
                return
            }
            total += cycles * layer.count
        }
        // Between the compute bound (6.62 M) and 10 M; tsim measured 7.73 M.
        #expect(total >= 6_623_232 && total <= 10_000_000, "ResNet-18 total \(total)")
    }

    @Test func sweepFindsTheOptimumOfC11() throws {
        let spec = HardwareSpec(.stock)
        let c11 = ModelZoo.model(named: "resnet18")!.layers.last!
        let space = ScheduleSpace(workload: c11.workload, spec: spec)
        let sweep = space.sweep(spec)
        #expect(sweep.size == 576 && sweep.valid > 0 && sweep.failures.isEmpty)
        #expect(sweep.valid + sweep.reasons.values.reduce(0, +) == sweep.size)
        let pinned = ScheduleSpace.evaluate(c11.workload, try Schedule(parsing: Self.resnet18Best["C11"]!), spec)
            .cycles!
        #expect(sweep.best!.cycles == pinned)
        // Every valid schedule is at least as slow as the best one.
        for s in space.all.prefix(100) {
            if let c = ScheduleSpace.evaluate(c11.workload, s, spec).cycles { #expect(c >= sweep.best!.cycles) }
        }
    }
}
