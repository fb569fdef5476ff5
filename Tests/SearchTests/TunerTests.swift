import Testing
import VTA

@testable import Search

@Suite struct CostModelTests {
    @Test func boostedTreesLearnASimpleFunction() throws {
        var rng = SplitMix64(seed: 1)
        let xs = (0..<200).map { _ in [Float(rng.next() % 100) / 10, Float(rng.next() % 100) / 10] }
        let ys = xs.map { 2 * $0[0] - $0[1] }
        let t = GradientBoostedTrees()
        try t.fit(xs, ys)
        let p = try t.predict([[5, 1], [1, 5]])
        #expect(p[0] > p[1] + 5, "\(p)")
    }

    @Test func ensembleRanksFewerCyclesHigher() throws {
        let model = CostModel(members: 5, seed: 3)
        for x in 0..<40 { model.add([Float(x % 10), 0], cycles: 1000 + 100 * (x % 10)) }
        try model.fit()
        let p = try model.predict([[2, 0], [8, 0]])
        #expect(p[0].mean > p[1].mean, "fewer cycles predicted better: \(p)")
    }

    /// The ensemble's spread is its uncertainty where the observations disagree: on the left the
    /// same feature always measured the same, on the right it measured 1,000 or 4,000 cycles,
    /// so the bootstrap members (each on its own resample) disagree there. (Off the data the
    /// trees extrapolate a constant and the members agree: the spread does not grow there.)
    @Test func ensembleIsLessSureWhereTheDataDisagree() throws {
        let model = CostModel(members: 5, seed: 3)
        for i in 0..<80 {
            let x = i % 10
            model.add([Float(x), 0], cycles: x < 5 ? 1000 + 100 * x : (i / 10) % 2 == 0 ? 1000 : 4000)
        }
        try model.fit()
        let p = try model.predict([[2, 0], [7, 0]])
        #expect(p[1].std > 2 * p[0].std, "spread where the data agree \(p[0].std), where they disagree \(p[1].std)")
    }
}

@Suite struct TunerTests {
    let spec = HardwareSpec(.stock)
    let c5 = Workload.conv2d(h: 28, w: 28, ci: 128, co: 128, k: 3, s: 1, p: 1)

    /// Runs a tuner for `budget` valid measurements on the simulator; returns the best cycles.
    func tune(_ kind: TunerKind, budget: Int, seed: UInt64) throws -> Int {
        let space = ScheduleSpace(workload: c5, spec: spec)
        let tuner = kind.make(TuningContext(space: space, spec: spec, seed: seed))
        var measured = 0
        var best = Int.max
        var rounds = 0
        while measured < budget && rounds < 200 {
            rounds += 1
            let plan = try tuner.propose(16)
            if plan.isEmpty { break }
            var results: [(index: Int, cycles: Int?)] = []
            for i in plan {
                let c = ScheduleSpace.evaluate(c5, space.schedule(at: i), spec).cycles
                if c != nil { measured += 1 }
                results.append((i, c))
                if let c { best = min(best, c) }
            }
            try tuner.observe(results)
        }
        return best
    }

    @Test(arguments: TunerKind.allCases)
    func proposalsAreNewAndInTheSpace(_ kind: TunerKind) throws {
        let space = ScheduleSpace(workload: c5, spec: spec)
        let tuner = kind.make(TuningContext(space: space, spec: spec, seed: 5))
        var seen = Set<Int>()
        for _ in 0..<10 {
            let plan = try tuner.propose(32)
            for i in plan { #expect(i >= 0 && i < space.size && seen.insert(i).inserted, "\(kind) repeated \(i)") }
            try tuner.observe(plan.map { ($0, ScheduleSpace.evaluate(c5, space.schedule(at: $0), spec).cycles) })
        }
        #expect(seen.count > 100)
    }

    @Test func gridCoversTheSpace() {
        let space = ScheduleSpace(workload: c5, spec: spec)
        let grid = GridTuner(TuningContext(space: space, spec: spec, seed: 0))
        var all: [Int] = []
        while true {
            let p = grid.propose(500)
            if p.isEmpty { break }
            all += p
        }
        #expect(all == Array(0..<space.size))
    }

    @Test(arguments: [TunerKind.arco, .xgb])
    func modelGuidedSearchGetsCloseToTheOptimum(_ kind: TunerKind) throws {
        // C5 has 924 valid schedules; its exhaustive optimum is 479,921 cycles.
        let best = try tune(kind, budget: 96, seed: 1)
        #expect(Double(best) <= 1.03 * 479_921, "\(kind): \(best)")
    }

    @Test func arcoStartsWithTheDefaultScheduleAndSpreadValidPoints() throws {
        let space = ScheduleSpace(workload: c5, spec: spec)
        let plan = try ARCOTuner(TuningContext(space: space, spec: spec, seed: 4)).propose(16)
        let defaultIndex = try #require(space.defaultSchedule(spec).flatMap(space.index(of:)))
        #expect(plan.first == defaultIndex)
        #expect(plan.count == 16 && Set(plan).count == 16)
        #expect(
            plan.allSatisfy {
                if case .success = TilePlan.make(c5, space.schedule(at: $0), spec) { true } else { false }
            })
    }

    @Test func runsRepeat() throws {
        #expect(try tune(.arco, budget: 48, seed: 7) == tune(.arco, budget: 48, seed: 7))
        #expect(try tune(.xgb, budget: 48, seed: 7) == tune(.xgb, budget: 48, seed: 7))
    }
}
