import VTA

/// The true optimum of a hardware space for a model: every layer's whole schedule space on every
/// configuration that can hold it, which is the ground truth co-optimization is measured against.
///
/// It stays affordable by three exact shortcuts. Only maximal buffer settings can hold a block
/// shape's optimum (see the census). A block shape whose GEMM core cannot beat the best model
/// latency found so far even at one multiply per MAC slot per cycle (the compute bound) is not
/// swept at all, and shapes are swept fastest-bound first. And within one block shape and AXI
/// width a schedule costs the same cycles whatever the buffers, so each schedule is simulated
/// once per shape and only compiled (is it valid here?) on the shape's other maximal points.
extension HardwareSpace {
    public struct Optimum: Sendable {
        public struct Point: Sendable {
            public let hardware: HardwareConfig
            /// Model latency: sum over layers of count x that layer's best cycles.
            public let cycles: Int
            public let perLayer: [(schedule: Schedule, cycles: Int)]
            public init(hardware: HardwareConfig, cycles: Int, perLayer: [(schedule: Schedule, cycles: Int)]) {
                self.hardware = hardware
                self.cycles = cycles
                self.perLayer = perLayer
            }
        }

        /// The best configurations, fastest first (ties by canonical key).
        public var top: [Point] = []
        /// (block shape, AXI width) groups that have a maximal point.
        public var groups = 0
        /// Groups swept; the rest were cut by their compute bound.
        public var sweptGroups = 0
        /// Maximal points whose every layer was searched.
        public var points = 0
        /// Schedules simulated (each once per group).
        public var simulations = 0
    }

    /// Searches every maximal point's every layer exhaustively (see ``Optimum``), keeping the
    /// `top` best configurations. `progress` hears one line per group swept or cut.
    public func optimum(
        of layers: [Model.Layer], top: Int = 5, threads: Int = 2, progress: (String) -> Void = { _ in }
    ) -> Optimum {
        var result = Optimum()
        let groups = Self.groupsByBound(maximalPoints, of: layers)
        result.groups = groups.count
        for (points, lower) in groups {
            if result.top.count >= top, lower >= result.top[top - 1].cycles {
                progress(
                    "cut \(points[0].shortName) and \(points.count - 1) more: compute bound \(formatCycles(lower))")
                continue
            }
            let (best, simulated) = Self.sweep(points, layers, threads: threads)
            result.sweptGroups += 1
            result.points += points.count
            result.simulations += simulated
            for (c, perLayer) in zip(points, best) {
                guard perLayer.allSatisfy({ $0 != nil }) else { continue }
                let found = perLayer.map { $0! }
                guard let cycles = Model.latency(of: layers, { found[$0].cycles }) else { continue }
                result.top.append(Optimum.Point(hardware: c, cycles: cycles, perLayer: found))
            }
            result.top.sort {
                $0.cycles != $1.cycles ? $0.cycles < $1.cycles : $0.hardware.canonicalKey < $1.hardware.canonicalKey
            }
            result.top = Array(result.top.prefix(top))
            progress(
                "swept \(points[0].shortName) and \(points.count - 1) more (compute bound \(formatCycles(lower))): best so far \(result.top.first.map { formatCycles($0.cycles) } ?? "none")"
            )
        }
        return result
    }

    /// `points` grouped by block shape and AXI width (within a group a schedule costs the same
    /// cycles whatever the buffers), with each group's model compute bound, fastest bound first
    /// (ties by shape). A group whose bound is not below the k-th best latency found so far cannot
    /// hold one of the k best configurations: the exhaustive searches stop there.
    public static func groupsByBound(
        _ points: [HardwareConfig], of layers: [Model.Layer]
    ) -> [(points: [HardwareConfig], bound: Int)] {
        var groups: [[Int]: [HardwareConfig]] = [:]
        for c in points { groups[[c.logBatch, c.logBlockIn, c.logBlockOut, c.axiWidth], default: []].append(c) }
        let bounded = groups.map { key, members in
            (key: key, points: members, bound: Model.computeBound(of: layers, on: HardwareSpec(members[0])) ?? .max)
        }
        return bounded.sorted { a, b in a.bound != b.bound ? a.bound < b.bound : a.key.lexicographicallyPrecedes(b.key)
        }
        .map { ($0.points, $0.bound) }
    }

    /// Every layer's best schedule on each of `points` (one block shape and AXI width), and how
    /// many schedules were simulated. Layers run in parallel; each keeps its own cycle cache.
    static func sweep(
        _ points: [HardwareConfig], _ layers: [Model.Layer], threads: Int
    ) -> (
        [[(schedule: Schedule, cycles: Int)?]], Int
    ) {
        let perLayer = concurrentMap(layers.count, threads: threads) {
            l -> (bests: [(schedule: Schedule, cycles: Int)?], simulations: Int) in
            let w = layers[l].workload
            // Cycles of every schedule valid on some point of the group so far.
            var cycles: [Schedule: Int] = [:]
            var simulations = 0
            var bests: [(schedule: Schedule, cycles: Int)?] = []
            for c in points {
                let spec = HardwareSpec(c)
                let space = ScheduleSpace(workload: w, spec: spec)
                var best: (schedule: Schedule, cycles: Int)? = nil
                // Known schedules, fastest first: the first that compiles here is the best known.
                for (s, n) in cycles.sorted(by: {
                    $0.value != $1.value ? $0.value < $1.value : $0.key.description < $1.key.description
                }) {
                    if case .success = Compiler.compile(w, s, spec) {
                        best = (s, n)
                        break
                    }
                }
                for i in 0..<space.size {
                    let s = space.schedule(at: i)
                    guard cycles[s] == nil else { continue }
                    guard case .success(let program) = Compiler.compile(w, s, spec) else { continue }
                    simulations += 1
                    let run = Simulator(spec: spec).run(program)
                    guard run.status == .ok else { continue }
                    cycles[s] = run.cycles
                    if best == nil || run.cycles < best!.cycles
                        || (run.cycles == best!.cycles && s.description < best!.schedule.description)
                    {
                        best = (s, run.cycles)
                    }
                }
                bests.append(best)
            }
            return (bests, simulations)
        }
        let found = points.indices.map { p in perLayer.map { $0.bests[p] } }
        return (found, perLayer.reduce(0) { $0 + $1.simulations })
    }
}
