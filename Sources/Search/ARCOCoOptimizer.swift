import Foundation
import VTA

/// Co-optimization of the hardware configuration and every layer's schedule (our ARCO-style
/// design; the software side is `ARCOTuner`).
///
/// - A hardware agent (PPO actor over the 7 hardware knobs, {down, stay, up} each, 2x32 tanh) and
///   a central critic walk the hardware space: 16 walkers x 6 steps per round, starting from the
///   best measured configurations and random buildable ones. Reward: the improvement of the
///   predicted model latency (-log of sum over layers of count x predicted best cycles), where
///   a global cost model (XGBoost ensemble on hardware + schedule + layer features) predicts
///   each layer's cycles over 48 buildable schedules per layer. A move to a configuration that
///   cannot be built (ISA, FPGA budget, packing) costs -0.5 and is undone.
/// - Confidence sampling over hardware: each round measures the best fully measured
///   configuration (exploit) and the visited configuration with the best lower confidence bound
///   of predicted latency not yet measured (explore), unless even its upper bound (mean + one
///   standard deviation) predicts it slower than the best, when the round goes to the best.
/// - For each of those, every layer gets 3 schedules from its own `ARCOTuner` (the two software
///   agents and their critic for that hardware and layer): a round, spread over as many plans
///   as the plan size needs.
/// The first round measures the base configuration and the buildable one farthest from it
/// (max-min distance over 64 random buildable ones).
public final class ARCOCoOptimizer: Proposer {
    public let space: HardwareSpace
    public let layers: [Model.Layer]
    let seed: UInt64
    var rng: SplitMix64
    let model: CostModel
    let agent: PolicyAgent
    let critic: MLP
    var tuners: [String: ARCOTuner] = [:]  // "hwkey|layer"
    var measured: [String: [Int: Int]] = [:]  // hwkey -> layer -> best cycles
    var bestSchedules: [String: [Int: Schedule]] = [:]  // hwkey -> layer -> its best schedule
    /// What the hardware agent's reward and the choice of configurations follow.
    public let objective: Objective
    /// Shrunk designs by hardware key and the schedules they hold (see `Objective.Design.shrunk`).
    var shrunkDesigns: [String: (schedules: [Schedule], design: Objective.Design)] = [:]
    /// Pareto: the round's weight of latency against DSP.
    var paretoWeight: Float = 0.5
    var configs: [String: HardwareConfig] = [:]
    var buildable: [String: Bool] = [:]

    public init(space: HardwareSpace, layers: [Model.Layer], seed: UInt64, objective: Objective = .latency) {
        self.objective = objective
        self.space = space
        self.layers = layers
        self.seed = seed
        rng = SplitMix64(seed: seed &+ 4242)
        model = CostModel(members: 5, seed: seed &+ 7)
        agent = PolicyAgent(knobs: space.knobs.count, inputs: space.knobs.count, rng: &rng)
        critic = MLP([space.knobs.count, 32, 32, 1], learningRate: 1e-3, rng: &rng)
    }

    // MARK: helpers

    func key(_ c: HardwareConfig) -> String { c.canonicalKey }

    func canBuild(_ c: HardwareConfig) -> Bool {
        let k = key(c)
        if let b = buildable[k] { return b }
        let b = space.problem(c) == nil
        buildable[k] = b
        configs[k] = c
        return b
    }

    /// Sum over layers of count x ceil(MACs / MACs per cycle): no schedule runs the model on `c`
    /// in fewer cycles.
    func computeBound(_ c: HardwareConfig) -> Int { Model.computeBound(of: layers, on: HardwareSpec(c)) ?? .max }

    func tuner(_ c: HardwareConfig, _ layer: Int) -> ARCOTuner {
        let k = "\(key(c))|\(layer)"
        if let t = tuners[k] { return t }
        let spec = HardwareSpec(c)
        let t = ARCOTuner(
            TuningContext(
                space: ScheduleSpace(workload: layers[layer].workload, spec: spec), spec: spec,
                seed: seed &+ UInt64(tuners.count) &* 7919))
        tuners[k] = t
        return t
    }

    func globalFeatures(_ c: HardwareConfig, _ layer: Int, _ s: Schedule) -> [Float] {
        Features.candidate(c, layers[layer].workload, s)
    }

    func randomBuildable() -> HardwareConfig? {
        for _ in 0..<200 {
            let p = space.knobs.map { Int(rng.next() % UInt64($0.choices.count)) }
            let c = space.config(p)
            if canBuild(c) { return snapped(c) }
        }
        return nil
    }

    /// In the whole buildable space, a configuration with its buffers grown to a maximal point:
    /// no schedule is slower there, and the space has far fewer such points than buffer settings.
    /// The stock neighbourhood keeps its points as they are (its seeded figures stay). `c` is
    /// buildable (`canBuild`).
    func snapped(_ c: HardwareConfig) -> HardwareConfig {
        guard space.extent == .buildable else { return c }
        let m = space.maximal(c)
        if m != c { _ = canBuild(m) }
        return m
    }

    /// Configurations in the first round: the base and the farthest buildable one. (Four, the
    /// base and three spread ones, measured worse: zcu104 mean 2,666,259 cycles against
    /// 2,227,411, budget 640, 3 seeds; the extra configurations cost the model-guided rounds.)
    let firstRound = 2

    /// `count` buildable configurations spread over the space: greedy max-min (Manhattan, on
    /// normalized knob positions) over 64 random buildable ones, away from `taken`.
    func spreadBuildable(_ count: Int, from taken: [HardwareConfig]) -> [HardwareConfig] {
        var pool: [HardwareConfig] = []
        var keys = Set(taken.map(key))
        for _ in 0..<64 {
            if let c = randomBuildable(), keys.insert(key(c)).inserted { pool.append(c) }
        }
        // In the whole buildable space most points are small cores that cannot compete: spread
        // over the fastest GEMM cores the pool holds instead.
        if space.extent == .buildable, let fastest = pool.map(computeBound).min() {
            pool = pool.filter { computeBound($0) == fastest }
        }
        func norm(_ c: HardwareConfig) -> [Float] {
            zip(space.positions(c)!, space.knobs).map {
                $0.1.choices.count > 1 ? Float($0.0) / Float($0.1.choices.count - 1) : 0
            }
        }
        let xs = pool.map(norm)
        // A taken configuration outside the space's choices (a base the space file narrowed away)
        // has no position to be far from.
        let takenXs = taken.filter { space.positions($0) != nil }.map(norm)
        var nearest = xs.map { x in takenXs.map { ValidityDrivenInit.distance(x, $0) }.min() ?? .infinity }
        var out: [HardwareConfig] = []
        while out.count < count,
            let k = nearest.indices.filter({ nearest[$0] > 0 }).max(by: {
                nearest[$0] < nearest[$1] || (nearest[$0] == nearest[$1] && $0 > $1)
            })
        {
            out.append(pool[k])
            for j in pool.indices { nearest[j] = min(nearest[j], ValidityDrivenInit.distance(xs[j], xs[k])) }
        }
        return out
    }

    /// The model latency of every fully measured configuration of the space (sum of count x best
    /// cycles). Measurements of other configurations (replayed from the records) teach the cost
    /// model but are never the answer.
    public var measuredModels: [(hardware: HardwareConfig, cycles: Int)] {
        measured.compactMap { k, perLayer in
            guard perLayer.count == layers.count, let c = configs[k], canBuild(c), space.contains(c) else { return nil }
            return Model.latency(of: layers) { perLayer[$0] }.map { (c, $0) }
        }.sorted { $0.cycles != $1.cycles ? $0.cycles < $1.cycles : key($0.hardware) < key($1.hardware) }
    }

    /// Every fully measured configuration with its design, best first by the objective. Beyond
    /// latency, each design is the configuration shrunk to the smallest buffers holding its best
    /// schedules (the same cycles, less BRAM). For latency this is `measuredModels`' order.
    public var rankedDesigns: [(measured: HardwareConfig, design: Objective.Design)] {
        let designs = measuredModels.map { m -> (measured: HardwareConfig, design: Objective.Design) in
            guard objective != .latency else {
                return (m.hardware, Objective.Design(hardware: m.hardware, cycles: m.cycles))
            }
            let k = key(m.hardware)
            let schedules = layers.indices.map { bestSchedules[k]?[$0] ?? Schedule() }
            if let cached = shrunkDesigns[k], cached.schedules == schedules, cached.design.cycles == m.cycles {
                return (m.hardware, cached.design)
            }
            let design = Objective.Design(
                shrinking: m.hardware, holding: zip(layers.map(\.workload), schedules), cycles: m.cycles)
            shrunkDesigns[k] = (schedules, design)
            return (m.hardware, design)
        }
        return objective == .latency ? designs : designs.sorted { objective.prefers($0.design, $1.design) }
    }

    /// The measured configurations in the objective's order (as measured, not shrunk).
    var rankedModels: [(hardware: HardwareConfig, cycles: Int)] {
        objective == .latency ? measuredModels : rankedDesigns.map { ($0.measured, $0.design.cycles) }
    }

    func utility(_ logLatency: Float, _ c: HardwareConfig) -> Float {
        objective.utility(logLatency: logLatency, c, weight: paretoWeight)
    }

    // MARK: proposing

    /// Proposals for up to `count` measurements. Hardware is chosen a round at a time, not per
    /// call: each round's configurations get `perLayer` schedules of every layer, over as many
    /// calls as that takes, so the result does not depend on the plan size and the hardware
    /// agent runs once per round rather than once per plan.
    public func propose(_ count: Int) throws -> [Candidate] {
        guard count > 0 else { return [] }
        var out: [Candidate] = []
        var newRounds = 0
        while out.count < count {
            if !round.contains(where: { $0.left > 0 }) {
                guard newRounds < 2 else { break }
                newRounds += 1
                try startRound()
                if round.isEmpty { break }
            }
            for k in round.indices where round[k].left > 0 && out.count < count {
                let t = tuner(round[k].hardware, round[k].layer)
                let picks = try t.propose(min(round[k].left, count - out.count))
                round[k].left = picks.isEmpty ? 0 : round[k].left - picks.count
                out += picks.map {
                    Candidate(
                        hardware: round[k].hardware, layer: round[k].layer, schedule: t.space.schedule(at: $0),
                        knownValid: t.checksValidity)
                }
            }
        }
        return out
    }

    /// Block shapes (LOG_BATCH, LOG_BLOCK_IN, LOG_BLOCK_OUT) some round has measured.
    var triedShapes = Set<[Int]>()
    /// The buildable space's maximal points by block shape, found once.
    lazy var maximalByShape: [[Int]: [HardwareConfig]] = Dictionary(grouping: space.maximalPoints, by: shape)

    func shape(_ c: HardwareConfig) -> [Int] { [c.logBatch, c.logBlockIn, c.logBlockOut] }

    /// In the whole buildable space, walkers one knob step at a time rarely cross from one block
    /// shape to another of the same MAC count (1x32x16 to 1x8x64 passes through cores the board
    /// cannot hold), yet such shapes differ by several percent. So before the agent's picks, each
    /// block shape whose compute bound could still beat `bar` is measured once: the fastest
    /// bound first, at its widest AXI, on the maximal point the cost model predicts best.
    func untriedShape(below bar: Int) throws -> HardwareConfig? {
        let open = maximalByShape.filter { !triedShapes.contains($0.key) && computeBound($0.value[0]) < bar }
        guard
            let (_, points) = open.min(by: { a, b in
                let (ba, bb) = (computeBound(a.value[0]), computeBound(b.value[0]))
                return ba != bb ? ba < bb : a.key.lexicographicallyPrecedes(b.key)
            })
        else { return nil }
        let widest = points.map(\.axiWidth).max()!
        var best: (config: HardwareConfig, mean: Float)? = nil
        for c in points where c.axiWidth == widest {
            let m = try predictModel(c).mean
            if best == nil || m > best!.mean { best = (c, m) }
        }
        if let c = best?.config { _ = canBuild(c) }
        return best?.config
    }

    /// The configuration to measure more of: the best fully measured one. In the whole buildable
    /// space, block shapes measured once (3 schedules a layer) lose to one measured for many
    /// rounds long before their schedules are tuned, so there the best of the top four by the
    /// lower of measured and predicted latency is taken: a shape the cost model expects to beat
    /// the leader gets its turn, and its measurements then speak for it.
    func exploitTarget() throws -> HardwareConfig? {
        let ranked = rankedModels
        guard space.extent == .buildable, ranked.count > 1, objective == .latency else { return ranked.first?.hardware }
        var best: (config: HardwareConfig, cycles: Double)? = nil
        for (c, measured) in ranked.prefix(4) {
            let predicted = Double(exp(-(try predictModel(c).mean)))
            let optimistic = min(Double(measured), predicted.isFinite ? predicted : Double(measured))
            if best == nil || optimistic < best!.cycles { best = (c, optimistic) }
        }
        return best?.config
    }

    /// Schedules per layer each configuration of a round gets.
    let perLayer = 3
    var round: [(hardware: HardwareConfig, layer: Int, left: Int)] = []

    /// Picks the round's configurations: at first the base and one random buildable one; then
    /// the best fully measured one (exploit) and the hardware agent's most promising new one.
    func startRound() throws {
        var targets: [HardwareConfig] = []
        defer { triedShapes.formUnion(targets.map(shape)) }
        if measured.isEmpty || !model.isTrained {
            if canBuild(space.base) && space.contains(space.base) { targets.append(space.base) }
            targets += spreadBuildable(firstRound - targets.count, from: targets)
        } else {
            if objective == .pareto { paretoWeight = Float(rng.next() % 1001) / 1000 }
            if let best = try exploitTarget() { targets.append(best) }
            let explore = try exploreHardware()
            // In the whole buildable space, a configuration whose compute bound does not beat the
            // best measured latency cannot win, however well its schedules are tuned (nor, for dsp
            // and bram, one whose bound is over the latency bound; on the Pareto front anything can).
            let bar: Int
            switch objective {
            case _ where space.extent != .buildable: bar = .max
            case .latency: bar = measuredModels.first?.cycles ?? .max
            case .dsp(let m), .bram(let m): bar = m
            case .pareto: bar = .max
            }
            if space.extent == .buildable, let fresh = try untriedShape(below: bar) {
                targets.append(fresh)
            } else if let pick = explore.visited.first(where: {
                (measured[key($0.config)] == nil || measured[key($0.config)]!.count < layers.count)
                    && computeBound($0.config) < bar
            }) {
                // Confidence sampling over hardware: skip a candidate whose optimistic bound
                // (mean + std) still predicts it slower than the best measured configuration;
                // the round then goes to the best one alone.
                if explore.best == nil
                    || utility(pick.mean + pick.std, pick.config) >= utility(explore.best!.mean, explore.best!.config)
                {
                    targets.append(pick.config)
                }
            }
            if targets.isEmpty, let r = randomBuildable() { targets.append(r) }
        }
        round = targets.flatMap { c in layers.indices.map { (c, $0, perLayer) } }
    }

    public func observe(_ results: [(candidate: Candidate, cycles: Int?)]) throws {
        var byTuner: [String: [(index: Int, cycles: Int?)]] = [:]
        for (candidate, cycles) in results where layers.indices.contains(candidate.layer) {
            let k = key(candidate.hardware)
            configs[k] = candidate.hardware
            let t = tuner(candidate.hardware, candidate.layer)
            if let i = t.space.index(of: candidate.schedule) {
                byTuner["\(k)|\(candidate.layer)", default: []].append((i, cycles))
            }
            if let c = cycles {
                let old = measured[k]?[candidate.layer]
                if old == nil || c < old!
                    || (c == old!
                        && candidate.schedule.description < (bestSchedules[k]?[candidate.layer]?.description ?? ""))
                {
                    measured[k, default: [:]][candidate.layer] = c
                    bestSchedules[k, default: [:]][candidate.layer] = candidate.schedule
                }
            } else if measured[k] == nil {
                measured[k] = [:]
            }
            model.add(globalFeatures(candidate.hardware, candidate.layer, candidate.schedule), cycles: cycles)
        }
        for (k, rs) in byTuner.sorted(by: { $0.key < $1.key }) { try tuners[k]?.observe(rs) }
        try model.fit()
    }

    /// A new round of hardware may always have something to offer.
    public var isExhausted: Bool { false }
    /// One call per plan: a call fills it from whole hardware rounds, and asking again would
    /// start another round.
    public var proposalRounds: Int { 1 }

    /// Predicted -log model latency of a configuration, with the spread of the ensemble.
    func predictModel(_ c: HardwareConfig) throws -> (mean: Float, std: Float) {
        let spec = HardwareSpec(c)
        var rows: [[Float]] = []
        var owner: [Int] = []
        for (l, layer) in layers.enumerated() {
            let s = ScheduleSpace(workload: layer.workload, spec: spec)
            var picked = 0
            var tries = 0
            while picked < 48 && tries < 400 {
                tries += 1
                let sched = s.schedule(at: Int(rng.next() % UInt64(s.size)))
                guard case .success = TilePlan.make(layer.workload, sched, spec) else { continue }
                rows.append(globalFeatures(c, l, sched))
                owner.append(l)
                picked += 1
            }
            if picked == 0 { return (-.infinity, 0) }
        }
        let p = try model.predict(rows)
        var best = [Float](repeating: -.infinity, count: layers.count)
        var spread = [Float](repeating: 0, count: layers.count)
        for (i, l) in owner.enumerated() where p[i].mean > best[l] {
            best[l] = p[i].mean
            spread[l] = p[i].std
        }
        // -log(sum count * cycles) from per-layer -log(cycles)
        let total = layers.indices.reduce(0.0) { $0 + Double(layers[$1].count) * exp(-Double(best[$1])) }
        return (Float(-log(total)), spread.reduce(0, +) / Float(layers.count))
    }

    /// Runs the hardware agent's walkers; returns visited buildable configurations, best LCB first.
    /// Also returns the prediction for the best measured configuration (the first walker's
    /// start), which a new configuration must plausibly beat to be worth measuring.
    func exploreHardware() throws -> (
        visited: [(config: HardwareConfig, mean: Float, std: Float)],
        best: (config: HardwareConfig, mean: Float, std: Float)?
    ) {
        // Walkers start inside the space: a measured configuration outside it (records of an
        // earlier run with another space) cannot be walked from.
        let ranked = rankedModels
        var starts = ranked.prefix(4).map(\.hardware).filter { space.positions($0) != nil }
        let hasBest = !starts.isEmpty && starts[0] == ranked.first?.hardware
        while starts.count < 16, let r = randomBuildable() { starts.append(r) }
        var pos = starts.map { space.positions($0)! }
        var score = try starts.map(predictModel)
        var scored = starts  // the configuration each walker's score is for
        let bestPrediction = hasBest ? (starts[0], score[0].mean, score[0].std) : nil
        var visited: [String: (config: HardwareConfig, mean: Float, std: Float)] = [:]
        var trajectories = [[ARCOTuner.Step]](repeating: [], count: pos.count)
        func norm(_ p: [Int]) -> [Float] {
            zip(p, space.knobs).map { $0.1.choices.count > 1 ? Float($0.0) / Float($0.1.choices.count - 1) : 0 }
        }
        for _ in 0..<6 {
            for w in 0..<pos.count {
                let obs = norm(pos[w])
                let (a, lp) = agent.act(obs, &rng)
                var next = pos[w]
                for k in 0..<next.count { next[k] = min(max(0, next[k] + a[k] - 1), space.knobs[k].choices.count - 1) }
                let raw = space.config(next)
                let buildable = canBuild(raw)
                let c = buildable ? snapped(raw) : raw
                var step = ARCOTuner.Step(
                    obsA: obs, obsB: [], obsC: obs, actA: a, actB: [], logpA: lp, logpB: 0,
                    value: critic.output(obs)[0], reward: -0.5)
                if buildable {
                    let s = try predictModel(c)
                    step.reward = utility(s.mean, c) - utility(score[w].mean, scored[w])
                    pos[w] = space.positions(c) ?? next
                    score[w] = s
                    scored[w] = c
                    visited[key(c)] = (c, s.mean, s.std)
                }
                trajectories[w].append(step)
            }
        }
        train(trajectories)
        let byBound = visited.values.sorted { a, b in
            let la = utility(a.mean - 0.5 * a.std, a.config)
            let lb = utility(b.mean - 0.5 * b.std, b.config)
            return la != lb ? la > lb : key(a.config) < key(b.config)
        }
        return (byBound, bestPrediction)
    }

    func train(_ trajectories: [[ARCOTuner.Step]]) {
        guard let samples = PPO.advantages(trajectories) else { return }
        for _ in 0..<3 {
            for (s, adv, ret) in samples {
                agent.accumulate(s.obsA, s.actA, oldLogp: s.logpA, advantage: adv)
                let acts = critic.forward(s.obsC)
                critic.backward(acts, [acts.last![0] - ret])
            }
            agent.actor.apply(batch: samples.count)
            critic.apply(batch: samples.count)
        }
    }
}
