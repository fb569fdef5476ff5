import Testing
import VTA

@testable import Search

/// The whole buildable space: its knobs reach what the board builds, the census's shortcuts
/// (monotone buffers, maximal points) agree with brute force, and buffer sizes change validity only.
@Suite struct HardwareSpaceCensusTests {
    let layers = [
        Model.Layer(name: "a", workload: .conv2d(h: 14, w: 14, ci: 64, co: 64, k: 3, s: 1, p: 1), count: 2),
        Model.Layer(name: "b", workload: .conv2d(h: 7, w: 7, ci: 128, co: 128, k: 1, s: 1, p: 0), count: 1),
    ]

    func choices(_ space: HardwareSpace, _ name: String) -> [Int] {
        space.knobs.first { $0.name == name }!.choices
    }

    @Test func buildableKnobsReachPastTheStockNeighbourhood() {
        let zcu = HardwareSpace(
            base: .stock, fpga: FPGA.named("zcu104")!, workloads: layers.map(\.workload), extent: .buildable)
        // Batch-1 layers: a BATCH of 2 could never pack them.
        #expect(choices(zcu, "LOG_BATCH") == [0])
        #expect(choices(zcu, "LOG_BLOCK_OUT").max()! > 5)
        #expect(choices(zcu, "LOG_BLOCK_IN").min()! < 3)
        #expect(choices(zcu, "AXI_WIDTH") == [64, 128])
        for name in HardwareSpace.bufferKnobNames {
            let values = choices(zcu, name)
            #expect(values == Array(values.first!...values.last!), "\(name) is one interval")
            #expect(values.count > 5, "\(name) reaches past stock -2..+2")
        }
        // Every knob value is used by some buildable point.
        let points = zcu.maximalPoints
        for knob in zcu.knobs where !HardwareSpace.bufferKnobNames.contains(knob.name) {
            #expect(Set(points.map { HardwareSpace.value($0, knob.name) }) == Set(knob.choices), "\(knob.name)")
        }
        let pynq = HardwareSpace(
            base: .stock, fpga: FPGA.named("pynq-z1")!, workloads: layers.map(\.workload), extent: .buildable)
        #expect(choices(pynq, "AXI_WIDTH") == [64])
        #expect(pynq.census.shapes < zcu.census.shapes, "the smaller board builds fewer block shapes")
        // A batch-4 model may use BATCH up to 4.
        let batched = layers.map { l -> Workload in
            var w = l.workload
            w.batch = 4
            return w
        }
        let b4 = HardwareSpace(base: .stock, fpga: FPGA.named("zcu104")!, workloads: batched, extent: .buildable)
        #expect(choices(b4, "LOG_BATCH") == [0, 1, 2])
    }

    /// The census walks only the edge of each block shape's buildable buffer settings; brute force
    /// over every point must give the same counts and the same maximal points.
    @Test func censusAgreesWithBruteForce() throws {
        for board in ["pynq-z1", "zcu104"] {
            let space = try HardwareSpace(
                base: .stock, fpga: FPGA.named(board)!, workloads: layers.map(\.workload), extent: .buildable,
                overrides: ["LOG_BLOCK_IN": [2, 4, 6], "LOG_BLOCK_OUT": [3, 5, 7], "AXI_WIDTH": [64]])
            var buildable = Set<[Int]>()
            var all: [[Int]] = [[]]
            for knob in space.knobs { all = all.flatMap { p in knob.choices.indices.map { p + [$0] } } }
            #expect(all.count == space.size)
            for p in all where space.problem(space.config(p)) == nil { buildable.insert(p) }
            let buffers = HardwareSpace.bufferKnobNames.map { n in space.knobs.firstIndex { $0.name == n }! }
            let maximal = buildable.filter { p in
                buffers.allSatisfy { k in
                    var q = p
                    q[k] += 1
                    return !buildable.contains(q)
                }
            }
            let census = space.census
            #expect(census.points == space.size)
            #expect(census.buildable == buildable.count, "\(board)")
            #expect(census.maximal == maximal.count, "\(board)")
            #expect(Set(space.maximalPoints.map { space.positions($0)! }) == maximal, "\(board)")
            #expect(census.buildable > census.maximal && census.maximal > 0)
        }
    }

    @Test func maximalGrowsBuffersAndStaysBuildable() {
        let space = HardwareSpace(
            base: .stock, fpga: FPGA.named("ultra96")!, workloads: layers.map(\.workload), extent: .buildable)
        let maximal = Set(space.maximalPoints)
        var c = HardwareConfig.stock
        c.logInpBuffSize = 12
        c.logWgtBuffSize = 14
        c.logAccBuffSize = 13
        #expect(space.problem(c) == nil)
        let m = space.maximal(c)
        #expect(space.problem(m) == nil)
        #expect(maximal.contains(m))
        #expect(m.logInpBuffSize >= c.logInpBuffSize && m.logWgtBuffSize >= c.logWgtBuffSize)
        #expect(m.logAccBuffSize >= c.logAccBuffSize)
        #expect(m.logBlockIn == c.logBlockIn && m.logBlockOut == c.logBlockOut && m.axiWidth == c.axiWidth)
        #expect(space.maximal(m) == m)
        var broken = c
        broken.logBlockOut = 8
        #expect(space.maximal(broken) == broken, "an unbuildable point is left as it is")
    }

    /// The fact the pruning rests on: the same schedule costs the same cycles whatever the buffer
    /// sizes, as long as it fits; and whatever fits a smaller buffer fits a larger one.
    @Test func buffersChangeValidityNotCycles() {
        var small = HardwareConfig.stock
        small.logInpBuffSize = 13
        small.logWgtBuffSize = 16
        small.logAccBuffSize = 15
        let zcu = HardwareSpace(
            base: .stock, fpga: FPGA.named("zcu104")!, workloads: layers.map(\.workload), extent: .buildable)
        let large = zcu.maximal(small)
        #expect(zcu.problem(large) == nil)
        #expect(large.logInpBuffSize + large.logWgtBuffSize + large.logAccBuffSize > 13 + 16 + 15)
        for layer in layers {
            let space = ScheduleSpace(workload: layer.workload, spec: HardwareSpec(small))
            var validSmall = 0
            for i in stride(from: 0, to: space.size, by: max(1, space.size / 300)) {
                let s = space.schedule(at: i)
                let a = ScheduleSpace.evaluate(layer.workload, s, HardwareSpec(small)).cycles
                let b = ScheduleSpace.evaluate(layer.workload, s, HardwareSpec(large)).cycles
                if let a {
                    validSmall += 1
                    #expect(b == a, "\(s): \(a) cycles on small buffers, \(b.map(String.init) ?? "invalid") on large")
                }
            }
            #expect(validSmall > 0)
        }
    }
}

/// The exhaustive optimum against a plain sweep of every layer on every maximal point.
@Suite struct HardwareSpaceOptimumTests {
    let layers = [
        Model.Layer(name: "a", workload: .conv2d(h: 7, w: 7, ci: 64, co: 64, k: 3, s: 1, p: 1), count: 2),
        Model.Layer(name: "b", workload: .conv2d(h: 7, w: 7, ci: 128, co: 64, k: 1, s: 1, p: 0), count: 1),
    ]

    @Test func optimumIsTheBestOfEveryMaximalPoint() throws {
        let space = try HardwareSpace(
            base: .stock, fpga: FPGA.named("ultra96")!, workloads: layers.map(\.workload), extent: .buildable,
            overrides: [
                "LOG_BLOCK_IN": [3, 4, 5], "LOG_BLOCK_OUT": [4, 5], "AXI_WIDTH": [128],
                "LOG_INP_BUFF_SIZE": [12, 14, 16], "LOG_WGT_BUFF_SIZE": [15, 17, 19],
            ])
        var lines: [String] = []
        let optimum = space.optimum(of: layers, top: 3, threads: 2) { lines.append($0) }
        // Brute force: every maximal point, every layer's whole space, no shortcut.
        var all: [(String, Int)] = []
        for c in space.maximalPoints {
            let spec = HardwareSpec(c)
            let best = layers.map {
                ScheduleSpace(workload: $0.workload, spec: spec).sweep(spec, threads: 2).best?.cycles
            }
            if let total = Model.latency(of: layers, { best[$0] }) { all.append((c.canonicalKey, total)) }
        }
        all.sort { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
        #expect(optimum.top.map(\.cycles) == all.prefix(3).map(\.1))
        #expect(optimum.top.first?.hardware.canonicalKey == all.first?.0)
        let shapes = Set(space.maximalPoints.map { [$0.logBlockIn, $0.logBlockOut] })
        #expect(optimum.groups == shapes.count && shapes.count >= 4)
        #expect(optimum.sweptGroups < optimum.groups, "slow block shapes are cut by their compute bound")
        #expect(lines.count == optimum.groups)
        // Each layer's schedule on the best point costs what the optimum says.
        let best = optimum.top[0]
        for (layer, l) in zip(layers, best.perLayer) {
            #expect(ScheduleSpace.evaluate(layer.workload, l.schedule, HardwareSpec(best.hardware)).cycles == l.cycles)
        }
    }
}
