import VTA

/// A genetic algorithm over knob indices (AutoTVM's GATuner): a population of 64, the 3 best
/// kept each generation, uniform crossover of fitness-proportionally chosen parents, and each
/// gene mutated with probability 0.1. Fitness is 1/cycles; invalid schedules score 0.
public final class GATuner: ScheduleTuner {
    public let name = "ga"
    let context: TuningContext
    let populationSize = 64, elites = 3, mutation = 0.1
    private var rng: SplitMix64
    private var population: [Int] = []
    private var waiting: [Int] = []  // members not yet proposed
    private var fitness: [Int: Double] = [:]
    private var proposed = Set<Int>()

    public init(_ context: TuningContext) {
        self.context = context
        rng = SplitMix64(seed: context.seed)
        let n = context.space.size
        population = (0..<min(populationSize, n)).map { _ in Int(rng.next() % UInt64(n)) }
        waiting = population
    }

    public func propose(_ count: Int) -> [Int] {
        var out: [Int] = []
        var attempts = 0
        while out.count < count && proposed.count < context.space.size && attempts < 100 {
            if waiting.isEmpty {
                breed()
                attempts += 1
            }
            while let i = waiting.popLast(), out.count < count {
                if proposed.insert(i).inserted { out.append(i) }
            }
        }
        return out
    }

    public func observe(_ results: [(index: Int, cycles: Int?)]) {
        for r in results { fitness[r.index] = r.cycles.map { 1 / Double(max(1, $0)) } ?? 0 }
    }

    private func breed() {
        let space = context.space
        let scored = population.map { ($0, fitness[$0] ?? 0) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        var next = scored.prefix(elites).map(\.0)
        let total = scored.reduce(0) { $0 + $1.1 }
        func pick() -> Int {
            guard total > 0 else { return scored[Int(rng.next() % UInt64(scored.count))].0 }
            var x = Double(rng.next() % 1_000_000) / 1_000_000 * total
            for (i, f) in scored {
                x -= f
                if x <= 0 { return i }
            }
            return scored.last!.0
        }
        while next.count < populationSize {
            let a = space.indices(of: space.schedule(at: pick()))!
            let b = space.indices(of: space.schedule(at: pick()))!
            var child = zip(a, b).map { rng.next() & 1 == 0 ? $0.0 : $0.1 }
            for k in 0..<child.count where Double(rng.next() % 1_000_000) / 1_000_000 < mutation {
                child[k] = Int(rng.next() % UInt64(space.choices[k].count))
            }
            next.append(space.index(of: space.schedule(indices: child))!)
        }
        population = next
        waiting = next.filter { !proposed.contains($0) }
        if waiting.isEmpty {  // converged: inject fresh random members so the search goes on
            waiting = (0..<populationSize).map { _ in Int(rng.next() % UInt64(space.size)) }.filter {
                !proposed.contains($0)
            }
        }
    }
}
