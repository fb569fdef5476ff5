import Testing
import VTA

@testable import Search

/// `--objective`: what it parses and refuses, the order it ranks designs in, the front it keeps,
/// and the shrinking that gives a design its BRAM (the smallest buffers that still hold its
/// schedules, with the same cycles).
@Suite struct ObjectiveTests {
    let conv = Workload.conv2d(h: 8, w: 8, ci: 32, co: 32, k: 3, s: 1, p: 1)

    /// A design with these figures; `key` tells otherwise equal designs apart.
    func design(_ cycles: Int, dsp: Int, bram: Int, key: Int = 0) -> Objective.Design {
        var hardware = HardwareConfig.stock
        hardware.logUopBuffSize = 8 + key
        return Objective.Design(hardware: hardware, cycles: cycles, dsp: dsp, bram: bram)
    }

    @Test func parsesObjectivesAndLatencyBounds() throws {
        #expect(try Objective("latency", maxLatency: nil, clockMHz: 100) == .latency)
        #expect(try Objective("pareto", maxLatency: nil, clockMHz: 100) == .pareto)
        #expect(try Objective("dsp", maxLatency: "1,500,000", clockMHz: 100) == .dsp(maxCycles: 1_500_000))
        // 12.5 ms at 200 MHz is 2.5 M cycles.
        #expect(try Objective("bram", maxLatency: "12.5 ms", clockMHz: 200) == .bram(maxCycles: 2_500_000))
        let refusals: [(String, String?, String)] = [
            ("dsp", nil, "needs --max-latency"),
            ("latency", "100", "goes with --objective dsp or bram"),
            ("pareto", "100", "goes with --objective dsp or bram"),
            ("speed", nil, "not one of latency, dsp, bram, pareto"),
            ("dsp", "-5", "not a positive cycle count"),
            ("dsp", "0", "not a positive cycle count"),
            ("bram", "fastms", "not a positive number of milliseconds"),
            ("bram", "1e300ms", "not a positive number of milliseconds"),
        ]
        for (name, bound, message) in refusals {
            #expect {
                try Objective(name, maxLatency: bound, clockMHz: 100)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    @Test func resourceObjectivesRankDesignsWithinTheBoundFirst() {
        let objective = Objective.dsp(maxCycles: 1000)
        let fastBig = design(500, dsp: 512, bram: 100, key: 1)
        let slowSmall = design(900, dsp: 128, bram: 200, key: 2)
        let tooSlowTiny = design(1500, dsp: 32, bram: 10, key: 3)
        let tooSlowFaster = design(1200, dsp: 64, bram: 10, key: 4)
        let ranked = [tooSlowTiny, fastBig, tooSlowFaster, slowSmall].sorted { objective.prefers($0, $1) }
        #expect(ranked == [slowSmall, fastBig, tooSlowFaster, tooSlowTiny])
        // bram orders by BRAM within the bound instead.
        let byBram = [slowSmall, fastBig].sorted { Objective.bram(maxCycles: 1000).prefers($0, $1) }
        #expect(byBram == [fastBig, slowSmall])
        #expect(objective.admits(slowSmall) && !objective.admits(tooSlowFaster))
        #expect(Objective.latency.admits(tooSlowTiny))
    }

    @Test func theFrontKeepsWhatNothingDominates() {
        let a = design(100, dsp: 512, bram: 300, key: 1)
        let b = design(200, dsp: 128, bram: 300, key: 2)
        let c = design(200, dsp: 256, bram: 300, key: 3)  // b is as fast and smaller
        let d = design(300, dsp: 128, bram: 100, key: 4)  // slower than b but less BRAM
        let e = design(400, dsp: 128, bram: 100, key: 5)  // d dominates it
        let twinOfB = design(200, dsp: 128, bram: 300, key: 6)  // one per distinct triple
        let front = Objective.front([e, d, c, b, a, twinOfB])
        #expect(front.map(\.cycles) == [100, 200, 300])
        #expect(front.map(\.dsp) == [512, 128, 128])
        #expect(Objective.front([]) == [])
    }

    @Test func shrinkingKeepsTheSchedulesAndTheirCycles() throws {
        let c = HardwareConfig.stock  // 32 KiB input, 256 KiB weight, 128 KiB accumulator buffers
        let spec = HardwareSpec(c)
        let space = ScheduleSpace(workload: conv, spec: spec)
        let big = try #require(space.sweep(spec).best, "a valid schedule on the large buffers")
        let small = Objective.Design.shrunk(c, holding: [(conv, big.schedule)])
        #expect(small != c, "the large buffers are more than the best schedule needs")
        for path: KeyPath<HardwareConfig, Int> in [
            \.logUopBuffSize, \.logInpBuffSize, \.logWgtBuffSize, \.logAccBuffSize,
        ] {
            #expect(small[keyPath: path] <= c[keyPath: path])
        }
        let smallSpec = HardwareSpec(small)
        #expect(ScheduleSpace.evaluate(conv, big.schedule, smallSpec).cycles == big.cycles, "same cycles")
        #expect(ResourceEstimate(smallSpec).bram36 < ResourceEstimate(spec).bram36)
        // Minimal: no buffer can lose another halving and still hold the schedule.
        for path: WritableKeyPath<HardwareConfig, Int> in [
            \.logUopBuffSize, \.logInpBuffSize, \.logWgtBuffSize, \.logAccBuffSize,
        ] where small[keyPath: path] > 8 {
            var smaller = small
            smaller[keyPath: path] -= 1
            let holds =
                (try? smaller.validate()) != nil
                && ScheduleSpace.evaluate(conv, big.schedule, HardwareSpec(smaller)).cycles != nil
            #expect(!holds, "\(path) could shrink further")
        }
        // A schedule the configuration cannot run leaves it as it is.
        let tooBig = Schedule(tileH: 8, tileW: 8, tileCI: 2, tileCO: 2)
        var tiny = HardwareConfig.stock
        tiny.logInpBuffSize = 10
        #expect(Objective.Design.shrunk(tiny, holding: [(conv, tooBig)]) == tiny)
    }
}
