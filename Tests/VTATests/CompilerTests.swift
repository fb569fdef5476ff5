import Testing

@testable import VTA

@Suite struct CompilerTests {
    let spec = HardwareSpec(.stock)
    let c2 = Workload.conv2d(h: 56, w: 56, ci: 64, co: 64, k: 3, s: 1, p: 1)

    func reason(_ w: Workload, _ s: Schedule, _ spec: HardwareSpec? = nil) -> InvalidReason.Code? {
        if case .failure(let r) = Compiler.compile(w, s, spec ?? self.spec) { return r.code }
        return nil
    }

    @Test func everyInvalidReasonIsReachable() {
        #expect(reason(c2, Schedule(tileH: 5)) == .knobNotDivisor)
        #expect(reason(c2, Schedule(tileH: 8, tileW: 8, hThreads: 2)) == .threadSplitUneven)  // 7 row tiles
        #expect(reason(c2, Schedule(tileH: 56, tileW: 56, tileCI: 4, tileCO: 1)) == .inpBufferOverflow)
        #expect(
            reason(
                .conv2d(h: 7, w: 7, ci: 512, co: 512, k: 3, p: 1), Schedule(tileH: 1, tileW: 7, tileCI: 8, tileCO: 16))
                == .wgtBufferOverflow)
        #expect(reason(c2, Schedule(tileH: 14, tileW: 56, tileCI: 1, tileCO: 4)) == .accBufferOverflow)
        #expect(reason(c2, Schedule(tileH: 1, tileW: 1, tileCI: 1, tileCO: 1)) == .accWriteHazard)
        #expect(
            reason(.conv2d(h: 56, w: 56, ci: 64, co: 64, k: 7, p: 16), Schedule(tileH: 2, tileW: 2)) == .padTooLarge)
        #expect(reason(.conv2d(h: 8, w: 8, ci: 16, co: 16, k: 3, p: 2), Schedule(tileH: 2, tileW: 10)) == nil)
        #expect(
            reason(.conv2d(h: 8, w: 8, ci: 16, co: 16, k: 1, p: 1), Schedule(tileH: 1, tileW: 10)) == .dmaNotExpressible
        )
        #expect(reason(.conv2d(h: 8, w: 8, ci: 24, co: 16, k: 3, p: 1), Schedule()) == .shapeNotPacked)
        #expect(reason(c2, Schedule(tileH: 8, tileW: 8), hardware("LOG_BLOCK=0")) == .blockTooSmall)
        // A GEMM kernel of 4*9*56 = 2016 uops in a 1024-uop buffer.
        #expect(
            reason(c2, Schedule(tileH: 1, tileW: 56, tileCI: 4, tileCO: 1), hardware("LOG_UOP_BUFF_SIZE=12"))
                == .uopBufferOverflow)
        // A 70000-wide image: x_stride does not fit 16 bits.
        #expect(reason(.conv2d(h: 1, w: 70000, ci: 16, co: 16, k: 1), Schedule(tileH: 1, tileW: 7)) == .fieldOverflow)
    }

    @Test func reasonsHaveMessages() {
        guard case .failure(let r) = Compiler.compile(c2, Schedule(tileH: 56, tileW: 56, tileCI: 4), spec) else {
            Issue.record("expected invalid")
            return
        }
        #expect(r.message.contains("input buffer"))
    }

    @Test func absurdKnobsNeverTrap() {
        var rng = SplitMix64(seed: 7)
        let values = [Int.min, -1, 0, 1, 2, 3, 7, 56, 1 << 20, Int.max]
        for _ in 0..<300 {
            func v() -> Int { values[Int(rng.next() % UInt64(values.count))] }
            let s = Schedule(
                tileB: v(), tileH: v(), tileW: v(), tileCI: v(), tileCO: v(), hThreads: v(), ocThreads: v())
            _ = Compiler.compile(c2, s, spec)
            _ = Compiler.compile(.dense(ci: 64, co: 64), s, spec)
        }
    }

    @Test(arguments: [
        Schedule(tileH: 28, tileW: 8, tileCI: 1, tileCO: 2, hThreads: 2, ocThreads: 2),
        Schedule(tileH: 7, tileW: 14, tileCI: 2, tileCO: 2, hThreads: 1, ocThreads: 1),
        Schedule(tileH: 4, tileW: 8, tileCI: 4, tileCO: 1, hThreads: 2, ocThreads: 1),
    ])
    func tokensBalanceAndEverythingEncodes(_ s: Schedule) throws {
        guard case .success(let p) = Compiler.compile(c2, s, spec) else {
            Issue.record("invalid \(s)")
            return
        }
        for q in tokenBalance(p.instructions) { #expect(q.pushes == q.pops) }
        for insn in p.instructions { _ = try spec.encode(insn) }
        if case .finish = p.instructions.last! {} else { Issue.record("last instruction is not FINISH") }
        #expect(p.uops.count <= spec.uopDepth)
    }

    @Test func validShareOfC2() {
        let space = ScheduleSpace(workload: c2, spec: spec)
        let valid = space.all.filter {
            if case .success = TilePlan.make(c2, $0, spec) { return true } else { return false }
        }.count
        #expect(valid > 0 && valid < space.size)
    }

    @Test func defaultScheduleIsValid() {
        for layer in ModelZoo.model(named: "resnet18")!.layers {
            let space = ScheduleSpace(workload: layer.workload, spec: spec)
            let s = space.defaultSchedule(spec)
            #expect(s != nil)
            if let s { #expect(ScheduleSpace.evaluate(layer.workload, s, spec).cycles != nil) }
        }
    }

    /// Every tile 1 on a 1024^2 x 1024 layer is valid-shaped but needs ~10^10 instructions: refused by the
    /// instruction cap before anything is reserved (it aborted on a 1 TB allocation).
    @Test func enormousProgramIsRefusedUpFront() {
        let huge = Workload.conv2d(h: 1024, w: 1024, ci: 1024, co: 1024, k: 1)
        #expect(reason(huge, Schedule()) == .programTooLarge)
    }

    /// A few thousand instructions can describe gigabytes of tensors (dense CI=CO=2^15: 1 GiB of
    /// weights), which a command backend would allocate and write: refused by the byte cap.
    @Test func programOverTheByteCapIsRefused() {
        let wide = Workload.dense(n: 1, ci: 1 << 15, co: 1 << 15)
        let result = Compiler.compile(wide, Schedule(tileCO: 1024), spec)
        guard case .failure(let r) = result else {
            Issue.record("a 1 GiB program compiled")
            return
        }
        #expect(r.code == .programTooLarge && r.message.contains("maxProgramBytes"), "\(r.message)")
    }

    /// A valid program of ~15M instructions takes seconds to compile: a 50 ms deadline stops it promptly.
    @Test func compilingStopsAtTheDeadline() {
        let big = Workload.conv2d(h: 256, w: 256, ci: 128, co: 128, k: 1)
        let started = ContinuousClock.now
        let result = Compiler.compile(big, Schedule(), spec, deadline: started + .milliseconds(50))
        let elapsed = ContinuousClock.now - started
        guard case .failure(let reason) = result else {
            Issue.record("compiled past the deadline")
            return
        }
        #expect(reason.code == .deadlineExceeded)
        #expect(elapsed < .seconds(2), "took \(elapsed)")
    }
}
