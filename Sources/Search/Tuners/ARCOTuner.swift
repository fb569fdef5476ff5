import Foundation
import VTA

/// Our ARCO-style multi-agent tuner for one layer on fixed hardware: the software side of
/// co-optimization (`ARCOCoOptimizer` runs one per hardware configuration and layer), and the
/// whole of `--hw fixed`.
///
/// Agents (centralized training, decentralized execution):
/// - software agent A moves the spatial knobs (tile_b, tile_h, tile_w, h_nthread), agent B the
///   channel knobs (tile_ci, tile_co, oc_nthread); each knob gets one of {down, stay, up} (a step
///   in its choice list). Each actor sees the layer's shape and its own knob positions
///   (normalized), and is a 2x32 tanh MLP with 3 logits per knob.
/// - a central critic (2x32 tanh MLP) sees the layer and every knob.
/// Reward: the improvement of the cost model's predicted -log(cycles) after both agents moved;
/// a move into an invalid configuration (the static VTA rules) costs -0.5 and is undone.
/// PPO: 32 walkers x 8 steps per episode, 4 episodes per plan, 3 epochs of minibatches of 32,
/// Adam lr 1e-3, gamma 0.9, GAE lambda 0.95, clip 0.2, entropy 0.01; advantages from the
/// central critic train both actors.
/// Confidence sampling: every valid, unmeasured configuration the walkers visited is scored by
/// a 5-member bootstrap ensemble of boosted trees; the plan takes the best by lower confidence
/// bound (mean - 0.5 std), at most a quarter of it sharing one setting of the channel knobs
/// (diversity), plus 10% random valid configurations near measured valid ones (exploration).
/// The first plan starts with the analytic default schedule (tuning never ends worse than it)
/// and is otherwise validity-driven (Rieber et al., `ValidityDrivenInit`): half of it (up to
/// 25) valid configurations spread by max-min distance over a neighbour-presampled pool, the
/// other half their one-step valid neighbours. Everything is seeded.
public final class ARCOTuner: ScheduleTuner {
    public let name = "arco"
    /// Every schedule it proposes passed `isValid` (the static VTA rules).
    public var checksValidity: Bool { true }
    let context: TuningContext
    let model: CostModel
    var rng: SplitMix64
    let agentA: PolicyAgent, agentB: PolicyAgent
    let critic: MLP
    var measured: [Int: Int?] = [:]  // index -> cycles (nil: invalid/failed)
    var proposed = Set<Int>()
    var validCache: [Int: Bool] = [:]
    var initialized = false
    let knobsA = [0, 1, 2, 5], knobsB = [3, 4, 6]
    let walkers = 32, horizon = 8, episodes = 4

    public init(_ context: TuningContext) {
        self.context = context
        model = CostModel(members: 5, seed: context.seed)
        rng = SplitMix64(seed: context.seed &+ 99)
        let layerFeatures = 6
        agentA = PolicyAgent(knobs: 4, inputs: layerFeatures + 4, rng: &rng)
        agentB = PolicyAgent(knobs: 3, inputs: layerFeatures + 3, rng: &rng)
        critic = MLP([layerFeatures + 7, 32, 32, 1], learningRate: 1e-3, rng: &rng)
    }

    // MARK: space helpers

    public var space: ScheduleSpace { context.space }

    func isValid(_ i: Int) -> Bool {
        if let v = validCache[i] { return v }
        let v: Bool
        if case .success = TilePlan.make(context.workload, space.schedule(at: i), context.spec) {
            v = true
        } else {
            v = false
        }
        validCache[i] = v
        return v
    }

    lazy var layerFeatures: [Float] = {
        let w = context.workload
        return [w.height, w.width, w.inChannels, w.outChannels, w.kernelH, w.stride].map {
            Float(log2(Double(max(1, $0)))) / 10
        }
    }()

    func positions(_ i: Int) -> [Int] { space.indices(of: space.schedule(at: i))! }

    func normalized(_ pos: [Int], _ knobs: [Int]) -> [Float] {
        knobs.map { k in space.choices[k].count > 1 ? Float(pos[k]) / Float(space.choices[k].count - 1) : 0 }
    }

    /// Random valid unproposed indices (half of them one step from `anchors`), none in `exclude`.
    func randomValid(_ count: Int, near anchors: [Int] = [], excluding exclude: [Int] = []) -> [Int] {
        var out: [Int] = []
        var tries = 0
        while out.count < count && tries < 50 * count + 200 {
            tries += 1
            var i: Int
            if !anchors.isEmpty && rng.next() % 2 == 0 {
                let n = space.neighbours(of: space.schedule(at: anchors[Int(rng.next() % UInt64(anchors.count))]))
                guard !n.isEmpty else { continue }
                i = space.index(of: n[Int(rng.next() % UInt64(n.count))])!
            } else {
                i = Int(rng.next() % UInt64(space.size))
            }
            if !proposed.contains(i) && !out.contains(i) && !exclude.contains(i) && isValid(i) { out.append(i) }
        }
        return out
    }

    // MARK: tuner interface

    public func propose(_ count: Int) throws -> [Int] {
        guard count > 0 else { return [] }
        var plan: [Int]
        if !model.isTrained && !initialized {
            // Validity-driven start (Rieber et al.): valid points spread over the space, then
            // their neighbours (ResNet-18, 3 seeds: better than either alone at budgets 320 and 640).
            // The analytic default schedule goes first, so tuning never ends worse than it.
            initialized = true
            plan =
                space.defaultSchedule(context.spec).flatMap(space.index(of:)).map { proposed.contains($0) ? [] : [$0] }
                ?? []
            plan += ValidityDrivenInit(space: space).initialSet(
                count: min(25, max(1, count / 2)) - plan.count, isValid: isValid,
                excluding: proposed.union(plan), rng: &rng)
            plan += randomValid(count - plan.count, near: plan, excluding: plan)
        } else if !model.isTrained {
            let anchors = measured.filter { $0.value != nil }.map(\.key).sorted()
            plan = randomValid(count, near: anchors)
        } else {
            let candidates = try explore()
            let exploreCount = max(1, count / 10)
            plan = confidenceSample(candidates, count - exploreCount)
            let anchors = measured.filter { $0.value != nil }.map(\.key).sorted()
            plan += randomValid(count - plan.count, near: anchors, excluding: plan)
        }
        proposed.formUnion(plan)
        return plan
    }

    public func observe(_ results: [(index: Int, cycles: Int?)]) throws {
        for r in results {
            measured[r.index] = r.cycles
            proposed.insert(r.index)
            model.add(context.features(r.index), cycles: r.cycles)
        }
        try model.fit()
    }

    /// Best-first by lower confidence bound, with a cap per channel-knob setting.
    func confidenceSample(_ candidates: [Int: (mean: Float, std: Float)], _ count: Int) -> [Int] {
        // Ties broken by index: dictionary order differs between processes, runs must not.
        let ranked = candidates.filter { !proposed.contains($0.key) }.sorted {
            let a = $0.value.mean - 0.5 * $0.value.std
            let b = $1.value.mean - 0.5 * $1.value.std
            return a != b ? a > b : $0.key < $1.key
        }
        var plan: [Int] = []
        var perChannels: [[Int]: Int] = [:]
        let cap = max(1, count / 4)
        for (i, _) in ranked where plan.count < count {
            let p = positions(i)
            let key = knobsB.map { p[$0] }
            if perChannels[key, default: 0] >= cap { continue }
            perChannels[key, default: 0] += 1
            plan.append(i)
        }
        return plan
    }

    // MARK: multi-agent PPO over the cost model

    struct Step {
        var obsA: [Float], obsB: [Float], obsC: [Float]
        var actA: [Int], actB: [Int]
        var logpA: Float, logpB: Float
        var value: Float
        var reward: Float
    }

    /// Runs the walkers, trains the agents, and returns every valid unmeasured configuration
    /// visited with its predicted (mean, std).
    func explore() throws -> [Int: (mean: Float, std: Float)] {
        var seen: [Int: (mean: Float, std: Float)] = [:]
        var valid: [(index: Int, cycles: Int)] = []
        for (k, v) in measured { if let c = v { valid.append((k, c)) } }
        valid.sort { a, b in a.cycles != b.cycles ? a.cycles < b.cycles : a.index < b.index }
        let best = valid.prefix(8).map { $0.index }
        for _ in 0..<episodes {
            var starts = best.isEmpty ? [] : (0..<walkers / 2).map { _ in best[Int(rng.next() % UInt64(best.count))] }
            starts += randomValid(walkers - starts.count)
            if starts.isEmpty { break }
            var pos = starts.map(positions)
            var score = try model.predict(starts.map(context.features))
            var trajectories = [[Step]](repeating: [], count: pos.count)
            for _ in 0..<horizon {
                var moved: [[Int]] = []
                var steps: [Step] = []
                for w in 0..<pos.count {
                    let obsA = layerFeatures + normalized(pos[w], knobsA)
                    let obsB = layerFeatures + normalized(pos[w], knobsB)
                    let obsC = layerFeatures + normalized(pos[w], Array(0..<7))
                    let (aA, lA) = agentA.act(obsA, &rng)
                    let (aB, lB) = agentB.act(obsB, &rng)
                    var next = pos[w]
                    for (j, k) in knobsA.enumerated() {
                        next[k] = min(max(0, next[k] + aA[j] - 1), space.choices[k].count - 1)
                    }
                    for (j, k) in knobsB.enumerated() {
                        next[k] = min(max(0, next[k] + aB[j] - 1), space.choices[k].count - 1)
                    }
                    moved.append(next)
                    steps.append(
                        Step(
                            obsA: obsA, obsB: obsB, obsC: obsC, actA: aA, actB: aB, logpA: lA, logpB: lB,
                            value: critic.output(obsC)[0], reward: 0))
                }
                let indices = moved.map { space.index(of: space.schedule(indices: $0))! }
                let valid = indices.map(isValid)
                let predictions = try model.predict(zip(indices, valid).filter { $0.1 }.map { context.features($0.0) })
                var p = 0
                for w in 0..<pos.count {
                    if valid[w] {
                        let pred = predictions[p]
                        p += 1
                        steps[w].reward = pred.mean - score[w].mean
                        pos[w] = moved[w]
                        score[w] = pred
                        if measured[indices[w]] == nil { seen[indices[w]] = pred }
                    } else {
                        steps[w].reward = -0.5
                    }
                    trajectories[w].append(steps[w])
                }
            }
            train(trajectories)
        }
        return seen
    }

    func train(_ trajectories: [[Step]]) {
        guard let samples = PPO.advantages(trajectories) else { return }
        for _ in 0..<3 {
            var order = Array(samples.indices)
            order.shuffle(using: &rng)
            for start in stride(from: 0, to: order.count, by: 32) {
                let batch = order[start..<min(order.count, start + 32)]
                for i in batch {
                    let (s, a, ret) = samples[i]
                    agentA.accumulate(s.obsA, s.actA, oldLogp: s.logpA, advantage: a)
                    agentB.accumulate(s.obsB, s.actB, oldLogp: s.logpB, advantage: a)
                    let acts = critic.forward(s.obsC)
                    critic.backward(acts, [acts.last![0] - ret])
                }
                agentA.actor.apply(batch: batch.count)
                agentB.actor.apply(batch: batch.count)
                critic.apply(batch: batch.count)
            }
        }
    }
}

/// An actor over `knobs` knobs, each choosing down/stay/up from a softmax of 3 logits.
final class PolicyAgent {
    let knobs: Int
    let actor: MLP
    let clip: Float = 0.2, entropy: Float = 0.01

    init(knobs: Int, inputs: Int, rng: inout SplitMix64) {
        self.knobs = knobs
        actor = MLP([inputs, 32, 32, 3 * knobs], learningRate: 1e-3, rng: &rng)
    }

    static func softmax(_ z: ArraySlice<Float>) -> [Float] {
        let m = z.max()!
        let e = z.map { expf($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func act(_ obs: [Float], _ rng: inout SplitMix64) -> ([Int], Float) {
        let z = actor.output(obs)
        var actions: [Int] = []
        var logp: Float = 0
        for k in 0..<knobs {
            let p = Self.softmax(z[(3 * k)..<(3 * k + 3)])
            let u = Float(rng.next() % 1_000_000) / 1_000_000
            let a = u < p[0] ? 0 : (u < p[0] + p[1] ? 1 : 2)
            actions.append(a)
            logp += logf(max(p[a], 1e-8))
        }
        return (actions, logp)
    }

    /// Adds the PPO clipped-objective gradient (with an entropy bonus) of one sample.
    func accumulate(_ obs: [Float], _ actions: [Int], oldLogp: Float, advantage: Float) {
        let acts = actor.forward(obs)
        let z = acts.last!
        var probs: [[Float]] = []
        var logp: Float = 0
        for k in 0..<knobs {
            let p = Self.softmax(z[(3 * k)..<(3 * k + 3)])
            probs.append(p)
            logp += logf(max(p[actions[k]], 1e-8))
        }
        let ratio = expf(logp - oldLogp)
        let clipped = (advantage > 0 && ratio > 1 + clip) || (advantage < 0 && ratio < 1 - clip)
        var grad = [Float](repeating: 0, count: 3 * knobs)
        for k in 0..<knobs {
            let p = probs[k]
            let h = -p.map { $0 * logf(max($0, 1e-8)) }.reduce(0, +)
            for j in 0..<3 {
                let policy: Float = clipped ? 0 : -advantage * ratio * ((j == actions[k] ? 1 : 0) - p[j])
                let ent = entropy * p[j] * (logf(max(p[j], 1e-8)) + h)
                grad[3 * k + j] = policy + ent
            }
        }
        actor.backward(acts, grad)
    }
}
