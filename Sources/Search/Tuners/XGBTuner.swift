import Foundation
import VTA

/// AutoTVM's XGBTuner: gradient-boosted trees (max_depth 3, eta 0.3, regression on -log cycles)
/// refit on every measurement so far; 128 parallel simulated-annealing walks over the space
/// (one-knob moves, 200 steps, temperature falling from 1 to 0) score candidates with the model;
/// the best-predicted unvisited points form the next plan, 5% of it random (epsilon-greedy).
/// The first plan is random.
public final class XGBTuner: ScheduleTuner {
    public let name = "xgb"
    let context: TuningContext
    let model: CostModel
    let walkers = 128, steps = 200, epsilon = 0.05
    private var rng: SplitMix64
    private var visited = Set<Int>()

    public init(_ context: TuningContext) {
        self.context = context
        model = CostModel(members: 1, seed: context.seed)
        rng = SplitMix64(seed: context.seed &+ 17)
    }

    func randomUnvisited(_ count: Int) -> [Int] {
        var out: [Int] = []
        var tries = 0
        let n = context.space.size
        while out.count < count && tries < 20 * count + 100 {
            tries += 1
            let i = Int(rng.next() % UInt64(n))
            if !visited.contains(i) && !out.contains(i) { out.append(i) }
        }
        if out.count < count {  // nearly exhausted: sweep
            for i in 0..<n where !visited.contains(i) && !out.contains(i) {
                out.append(i)
                if out.count == count { break }
            }
        }
        return out
    }

    public func propose(_ count: Int) throws -> [Int] {
        guard count > 0 else { return [] }
        var plan: [Int]
        if !model.isTrained {
            plan = randomUnvisited(count)
        } else {
            let greedy = Int((1 - epsilon) * Double(count))
            plan = try anneal(greedy)
            for i in randomUnvisited(count) where plan.count < count && !plan.contains(i) { plan.append(i) }
        }
        visited.formUnion(plan)
        return plan
    }

    /// Best-predicted unvisited indices found by simulated annealing.
    func anneal(_ count: Int) throws -> [Int] {
        let space = context.space
        var points = randomUnvisited(walkers)
        if points.isEmpty { return [] }
        var scores = try model.predict(points.map(context.features)).map(\.mean)
        var best: [Int: Float] = [:]
        for (p, s) in zip(points, scores) where !visited.contains(p) { best[p] = s }
        for step in 0..<steps {
            let temperature = 1 - Float(step) / Float(steps)
            let moves = points.map { p -> Int in
                var idx = space.indices(of: space.schedule(at: p))!
                let k = Int(rng.next() % UInt64(idx.count))
                idx[k] = Int(rng.next() % UInt64(space.choices[k].count))
                return space.index(of: space.schedule(indices: idx))!
            }
            let moveScores = try model.predict(moves.map(context.features)).map(\.mean)
            for w in 0..<points.count {
                let delta = moveScores[w] - scores[w]
                let accept =
                    delta > 0 || Float(rng.next() % 1_000_000) / 1_000_000 < expf(delta / max(temperature, 1e-3))
                if accept {
                    points[w] = moves[w]
                    scores[w] = moveScores[w]
                }
                if !visited.contains(moves[w]) { best[moves[w]] = moveScores[w] }
            }
        }
        // Ties broken by index: dictionary order differs between processes, runs must not.
        return best.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(count).map(\.key)
    }

    public func observe(_ results: [(index: Int, cycles: Int?)]) throws {
        for r in results {
            visited.insert(r.index)
            model.add(context.features(r.index), cycles: r.cycles)
        }
        try model.fit()
    }
}
