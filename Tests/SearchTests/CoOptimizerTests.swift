import Testing
import VTA

@testable import Search

@Suite struct CoOptimizerTests {
    let layers = [
        Model.Layer(name: "a", workload: .conv2d(h: 14, w: 14, ci: 64, co: 64, k: 3, s: 1, p: 1), count: 2),
        Model.Layer(name: "b", workload: .conv2d(h: 7, w: 7, ci: 128, co: 128, k: 1, s: 1, p: 0), count: 1),
    ]

    @Test func staysInTheBudgetAndFindsFasterHardware() throws {
        let zcu = FPGA.named("zcu104")!
        let space = HardwareSpace(base: .stock, fpga: zcu, workloads: layers.map(\.workload), extent: .stock)
        #expect(space.size == 2 * 3 * 3 * 5 * 5 * 5 * 2)
        let co = ARCOCoOptimizer(space: space, layers: layers, seed: 3)
        var best: [String: [Int: Int]] = [:]  // what the test itself saw: hardware -> layer -> best cycles
        for _ in 0..<6 {
            let plan = try co.propose(32)
            #expect(!plan.isEmpty)
            var results: [(candidate: Candidate, cycles: Int?)] = []
            for p in plan {
                #expect(space.problem(p.hardware) == nil, "proposed hardware that cannot be built")
                #expect(p.knownValid, "the co-optimizer's software agents check validity before proposing")
                let cycles = ScheduleSpace.evaluate(layers[p.layer].workload, p.schedule, HardwareSpec(p.hardware))
                    .cycles
                results.append((p, cycles))
                if let cycles {
                    best[p.hardware.canonicalKey, default: [:]][p.layer] = min(
                        cycles, best[p.hardware.canonicalKey]?[p.layer] ?? .max)
                }
            }
            try co.observe(results)
        }
        let models = co.measuredModels
        #expect(!models.isEmpty)
        // Its model latencies are the sums of count x best cycles over what it was told, best first.
        let expected = best.compactMap { key, perLayer in
            perLayer.count == layers.count
                ? (key, perLayer[0]! * layers[0].count + perLayer[1]! * layers[1].count) : nil
        }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        #expect(models.map(\.hardware.canonicalKey) == expected.map(\.0))
        #expect(models.map(\.cycles) == expected.map(\.1))
        // The best fully measured configuration beats the stock one measured with the same tuner.
        if let stock = models.first(where: { $0.hardware.canonicalKey == HardwareConfig.stock.canonicalKey }) {
            #expect(models[0].cycles <= stock.cycles)
        }
        #expect(models.count >= 2, "more than one hardware configuration was measured completely")
    }

    @Test func recordsOfOtherSpacesTeachButAreNeverTheAnswer() throws {
        // A records file shared with another board (a fork's zcu104 branch) holds a core too big
        // for a pynq-z1, measured faster; a narrowed space leaves out the stock core.
        let pynq = FPGA.named("pynq-z1")!
        var big = HardwareConfig.stock
        big.logBlockIn = 5
        big.logBlockOut = 6
        var narrowed = HardwareConfig.stock  // a 1x8x8 core with buffers its ISA fields can address
        narrowed.logBlockIn = 3
        narrowed.logBlockOut = 3
        narrowed.logWgtBuffSize = 19
        narrowed.logAccBuffSize = 12
        let space = try HardwareSpace(
            base: .stock, fpga: pynq, workloads: layers.map(\.workload), extent: .buildable,
            overrides: ["LOG_BLOCK_IN": [3], "LOG_BLOCK_OUT": [3]])
        #expect(space.problem(big) != nil && !space.contains(big))
        #expect(!space.contains(.stock), "the override narrows the stock core away")
        #expect(space.contains(narrowed))
        var changed = narrowed
        changed.clockMHz = 250
        #expect(!space.contains(changed), "beyond the knobs, a point is the base's")
        let co = ARCOCoOptimizer(space: space, layers: layers, seed: 1)
        var replay: [(candidate: Candidate, cycles: Int?)] = []
        for (hardware, cycles) in [(big, 10), (HardwareConfig.stock, 20), (narrowed, 1000)] {
            for l in layers.indices {
                let spec = HardwareSpec(hardware)
                let s = try #require(ScheduleSpace(workload: layers[l].workload, spec: spec).defaultSchedule(spec))
                replay.append((Candidate(hardware: hardware, layer: l, schedule: s), cycles))
            }
        }
        try co.observe(replay)
        #expect(co.measuredModels.map(\.hardware) == [narrowed])
        #expect(co.rankedDesigns.map(\.measured) == [narrowed])
        // Nor does the first round propose a base the space does not hold.
        let fresh = ARCOCoOptimizer(space: space, layers: layers, seed: 1)
        let plan = try fresh.propose(32)
        #expect(!plan.isEmpty)
        #expect(plan.allSatisfy { space.contains($0.hardware) })
    }

    @Test func pynqRejectsCoresItCannotHold() {
        let space = HardwareSpace(
            base: .stock, fpga: FPGA.named("pynq-z1")!, workloads: layers.map(\.workload), extent: .stock)
        var big = HardwareConfig.stock
        big.logBlockOut = 5
        big.logWgtBuffSize = 19
        big.logAccBuffSize = 18
        #expect(space.problem(big)?.contains("DSP") == true)
        #expect(space.problem(.stock) == nil)
        #expect(space.knobs.last!.choices == [64])
    }

    @Test func spaceFileNarrowsAndFixesKnobs() throws {
        let space = try HardwareSpace(
            base: .stock, fpga: FPGA.named("zcu104")!, workloads: layers.map(\.workload), extent: .stock,
            overrides: ["LOG_BLOCK_IN": [4], "LOG_BATCH": [0], "AXI_WIDTH": [128, 64]])
        #expect(space.knobs.first { $0.name == "LOG_BLOCK_IN" }!.choices == [4])
        #expect(space.knobs.first { $0.name == "AXI_WIDTH" }!.choices == [64, 128])
        #expect(space.size == 1 * 1 * 3 * 5 * 5 * 5 * 2)
        #expect(throws: HardwareSpace.SpaceError.self) {
            try HardwareSpace(base: .stock, fpga: nil, workloads: [], overrides: ["LOG_BLOK": [3]])
        }
        #expect(throws: HardwareSpace.SpaceError.self) {
            try HardwareSpace(base: .stock, fpga: nil, workloads: [], overrides: ["AXI_WIDTH": [96]])
        }
        let co = ARCOCoOptimizer(space: space, layers: layers, seed: 1)
        for p in try co.propose(32) { #expect(p.hardware.logBlockIn == 4 && p.hardware.logBatch == 0) }
    }

    /// Records of an earlier run with another space: a fully measured configuration outside this
    /// space's choices is no walker's start (the agent trapped on its missing knob positions).
    @Test func measuredHardwareOutsideTheSpaceIsNoStart() throws {
        let space = try HardwareSpace(
            base: .stock, fpga: FPGA.named("zcu104")!, workloads: layers.map(\.workload),
            overrides: ["LOG_BLOCK_IN": [4], "LOG_BLOCK_OUT": [4]])
        let co = ARCOCoOptimizer(space: space, layers: layers, seed: 2)
        var outside = HardwareConfig.stock
        outside.logBlockIn = 5
        outside.logBlockOut = 5
        var results: [(candidate: Candidate, cycles: Int?)] = []
        for (l, layer) in layers.enumerated() {
            let spec = HardwareSpec(outside)
            let sweep = ScheduleSpace(workload: layer.workload, spec: spec).sweep(spec)
            results.append((Candidate(hardware: outside, layer: l, schedule: sweep.best!.schedule), sweep.best!.cycles))
        }
        try co.observe(results)
        for _ in 0..<3 {
            let plan = try co.propose(32)
            try co.observe(
                plan.map {
                    (
                        $0,
                        ScheduleSpace.evaluate(layers[$0.layer].workload, $0.schedule, HardwareSpec($0.hardware)).cycles
                    )
                })
        }
        #expect(!co.measuredModels.isEmpty)
        #expect(co.measuredModels.allSatisfy { space.contains($0.hardware) }, "the outside one is never the answer")
    }

    /// In the whole buildable space arco measures maximal points only (the base aside), and
    /// every block shape whose compute bound could beat the best before the agent's own picks.
    @Test func theBuildableSpaceIsSearchedOnMaximalPointsShapeByShape() throws {
        let space = HardwareSpace(base: .stock, fpga: FPGA.named("ultra96")!, workloads: layers.map(\.workload))
        #expect(space.extent == .buildable)
        let co = ARCOCoOptimizer(space: space, layers: layers, seed: 1)
        var shapes: [[Int]] = []
        for _ in 0..<8 {
            let plan = try co.propose(64)
            for p in plan where p.hardware != space.base {
                #expect(space.problem(p.hardware) == nil)
                #expect(space.maximal(p.hardware) == p.hardware, "\(p.hardware.shortName) is not maximal")
                let shape = [p.hardware.logBlockIn, p.hardware.logBlockOut]
                if !shapes.contains(shape) { shapes.append(shape) }
            }
            try co.observe(
                plan.map {
                    (
                        $0,
                        ScheduleSpace.evaluate(layers[$0.layer].workload, $0.schedule, HardwareSpec($0.hardware)).cycles
                    )
                })
        }
        // ultra96 holds 512 MACs a cycle at most: 1x8x64, 1x16x32, 1x32x16, 1x64x8 all get their turn.
        let fastest = shapes.filter { $0[0] + $0[1] == 9 }
        #expect(fastest.count >= 3, "shapes measured: \(shapes)")
    }
}
