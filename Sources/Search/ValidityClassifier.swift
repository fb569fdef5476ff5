import Foundation
import VTA

/// Learns which configurations a backend rejects, for backends whose rules vtafarm's static VTA
/// model does not know (a board, a modified tsim behind `command:PATH`). XGBoost with a logistic
/// objective on the same features as the cost model, trained on every result: INVALID (the
/// backend refused it) against everything else. A candidate whose predicted probability of
/// being invalid exceeds `threshold` is filtered before it costs runner time. On the built-in
/// simulator the static rules are exact, runners never answer INVALID, and this never trains.
public final class ValidityClassifier {
    public let threshold: Float
    private var rows: [[Float]] = []
    private var labels: [Float] = []
    private var trees: GradientBoostedTrees?
    private var fittedOn = 0

    public init(threshold: Float = 0.9) { self.threshold = threshold }

    public func add(_ features: [Float], invalid: Bool) {
        rows.append(features)
        labels.append(invalid ? 1 : 0)
    }

    /// Whether it has seen both kinds of result (and so predicts anything).
    public var isTrained: Bool { trees != nil }

    /// Refits when new results arrived and both classes are present (at least 3 of each).
    public func fit() throws {
        guard rows.count > fittedOn else { return }
        let invalid = labels.filter { $0 > 0.5 }.count
        guard invalid >= 3 && labels.count - invalid >= 3 else { return }
        var p = GradientBoostedTrees.Parameters()
        p.objective = "binary:logistic"
        let t = GradientBoostedTrees(p)
        try t.fit(rows, labels)
        trees = t
        fittedOn = rows.count
    }

    /// Predicted probability that each candidate is invalid (0 before training).
    public func probabilityInvalid(_ features: [[Float]]) throws -> [Float] {
        guard let trees else { return features.map { _ in 0 } }
        return try trees.predict(features)
    }
}
