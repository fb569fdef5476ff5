import Foundation
import VTA

/// A surrogate of measured latency with a confidence: an ensemble of gradient-boosted trees, each
/// trained on a bootstrap resample of the observations. The mean of their predictions is the
/// estimate; their spread is the uncertainty where the observations disagree (measured: the
/// spread does not grow off the data, where every member extrapolates the same constant).
///
/// Target: -log(cycles), so higher is better and ratios become differences. Invalid
/// configurations are fed with a penalty one unit (a factor e) below the worst valid one, as
/// AutoTVM feeds invalid trials with a zero score.
public final class CostModel {
    public let members: Int
    public let seed: UInt64
    private var trees: [GradientBoostedTrees] = []
    private var rows: [[Float]] = []
    private var cycles: [Int?] = []

    public init(members: Int = 5, seed: UInt64) {
        self.members = max(1, members)
        self.seed = seed
    }

    public var isTrained: Bool { !trees.isEmpty }

    public func add(_ features: [Float], cycles: Int?) {
        rows.append(features)
        self.cycles.append(cycles)
    }

    /// Refits every member on its own bootstrap resample. Needs at least two valid observations.
    public func fit() throws {
        let valid = cycles.compactMap { $0 }
        guard valid.count >= 2 else { return }
        let worst = -log(Double(valid.max()!))
        let labels = cycles.map { Float($0.map { -log(Double($0)) } ?? worst - 1) }
        var rng = SplitMix64(seed: seed &+ UInt64(rows.count))
        var fitted: [GradientBoostedTrees] = []
        for m in 0..<members {
            var p = GradientBoostedTrees.Parameters()
            p.seed = seed &+ UInt64(m)
            let t = GradientBoostedTrees(p)
            if members == 1 {
                try t.fit(rows, labels)
            } else {
                let picks = (0..<rows.count).map { _ in Int(rng.next() % UInt64(rows.count)) }
                try t.fit(picks.map { rows[$0] }, picks.map { labels[$0] })
            }
            fitted.append(t)
        }
        trees = fitted
    }

    /// Mean and standard deviation of the members' predictions (of -log(cycles)).
    public func predict(_ features: [[Float]]) throws -> [(mean: Float, std: Float)] {
        guard !trees.isEmpty else { return features.map { _ in (0, .infinity) } }
        let all = try trees.map { try $0.predict(features) }
        return (0..<features.count).map { i in
            let xs = all.map { $0[i] }
            let mean = xs.reduce(0, +) / Float(xs.count)
            let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(xs.count)
            return (mean, variance.squareRoot())
        }
    }
}
