import VTA

/// Validity-driven initialization after Rieber et al. (arXiv 2205.15568): on VTA's schedule
/// spaces most points are invalid and the valid ones cluster, so a first plan drawn uniformly is
/// mostly invalid, and one drawn around a few valid points covers one cluster. Instead:
/// 1. Presample with the static validity check (free: no runner time): draw a random point;
///    after a valid point, queue its one-step neighbours (Manhattan distance 1 in knob
///    indices); after an invalid one, draw another random point. Stop with `poolFactor` times
///    the wanted number of valid points, or after `maxTries` checks.
/// 2. Spread: pick the wanted number by greedy max-min distance (farthest-point selection on
///    normalized knob indices, Manhattan metric), so the first measurements cover the space.
///
/// Rieber et al. also balance the first training set with as many invalid points. We measured
/// that and left it out: our agents check validity exactly before they propose, so invalid
/// points only distort the latency regression (arco, ResNet-18, budget 640, plan 16, 3 seeds:
/// mean best 7,223,260 cycles with 16 spread invalid points per layer fed to the cost model,
/// 7,141,353 without).
public struct ValidityDrivenInit {
    public let space: ScheduleSpace
    public var poolFactor = 4
    public var maxTries = 2_000

    public init(space: ScheduleSpace) { self.space = space }

    /// Presampled valid points in discovery order, none in `exclude`.
    public func presample(
        want: Int, isValid: (Int) -> Bool, excluding exclude: Set<Int>, rng: inout SplitMix64
    ) -> [Int] {
        var valid: [Int] = []
        var seen = exclude
        var frontier: [Int] = []
        var tries = 0
        let target = want * poolFactor
        while valid.count < target && tries < maxTries && seen.count < space.size {
            tries += 1
            let i = frontier.isEmpty ? Int(rng.next() % UInt64(space.size)) : frontier.removeFirst()
            guard seen.insert(i).inserted, isValid(i) else { continue }
            valid.append(i)
            frontier += space.neighbours(of: space.schedule(at: i)).compactMap { space.index(of: $0) }.filter {
                !seen.contains($0)
            }
        }
        return valid
    }

    /// Normalized knob positions of a point (each knob's choice index over its last index).
    public func coordinates(_ i: Int) -> [Float] {
        let p = space.indices(of: space.schedule(at: i))!
        return zip(p, space.choices).map { $0.1.count > 1 ? Float($0.0) / Float($0.1.count - 1) : 0 }
    }

    public static func distance(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) } }

    /// Greedy max-min selection of `count` points of `pool`: the first point, then repeatedly
    /// the point farthest (Manhattan) from everything picked; ties go to the earlier point.
    public func spread(_ pool: [Int], count: Int) -> [Int] {
        guard count < pool.count else { return pool }
        guard count > 0 else { return [] }
        let xs = pool.map(coordinates)
        var picked = [0]
        var nearest = xs.map { Self.distance($0, xs[0]) }
        while picked.count < count {
            var best = -1
            for k in pool.indices where !picked.contains(k) && (best < 0 || nearest[k] > nearest[best]) { best = k }
            picked.append(best)
            for k in pool.indices { nearest[k] = min(nearest[k], Self.distance(xs[k], xs[best])) }
        }
        return picked.map { pool[$0] }
    }

    /// Up to `count` valid points, presampled and spread.
    public func initialSet(
        count: Int, isValid: (Int) -> Bool, excluding exclude: Set<Int> = [], rng: inout SplitMix64
    ) -> [Int] {
        spread(presample(want: count, isValid: isValid, excluding: exclude, rng: &rng), count: count)
    }
}
