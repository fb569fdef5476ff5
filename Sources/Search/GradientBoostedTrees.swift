import CXGBoost
import Foundation

/// A failure inside XGBoost, with its own message.
public struct XGBoostError: Error, CustomStringConvertible {
    public let description: String
    static func check(_ rc: Int32, _ what: String) throws {
        if rc != 0 { throw XGBoostError(description: "\(what): \(String(cString: XGBGetLastError()))") }
    }
}

/// Gradient-boosted trees through XGBoost's C API (Debian libxgboost-dev). Trained from scratch on
/// each fit, as AutoTVM's XGBTuner refits its model every plan.
public final class GradientBoostedTrees {
    public struct Parameters: Sendable {
        public var objective = "reg:squarederror"
        public var maxDepth = 3
        public var eta = 0.3
        public var rounds = 40
        public var subsample = 1.0
        public var seed: UInt64 = 0
        public init() {}
    }

    private var booster: BoosterHandle?
    public let parameters: Parameters

    public init(_ parameters: Parameters = Parameters()) { self.parameters = parameters }

    deinit { if let booster { XGBoosterFree(booster) } }

    static func matrix(_ rows: [[Float]]) throws -> DMatrixHandle {
        let cols = rows.first?.count ?? 0
        var flat = [Float]()
        flat.reserveCapacity(rows.count * cols)
        for r in rows { flat.append(contentsOf: r) }
        var handle: DMatrixHandle?
        try XGBoostError.check(
            XGDMatrixCreateFromMat(flat, bst_ulong(rows.count), bst_ulong(cols), .nan, &handle),
            "XGDMatrixCreateFromMat")
        return handle!
    }

    /// Fits the trees to (features, labels). Rows must all have the same length.
    public func fit(_ features: [[Float]], _ labels: [Float]) throws {
        precondition(features.count == labels.count && !features.isEmpty)
        if let booster {
            XGBoosterFree(booster)
            self.booster = nil
        }
        let train = try Self.matrix(features)
        defer { XGDMatrixFree(train) }
        try XGBoostError.check(XGDMatrixSetFloatInfo(train, "label", labels, bst_ulong(labels.count)), "set labels")
        var handles: [DMatrixHandle?] = [train]
        var b: BoosterHandle?
        try XGBoostError.check(XGBoosterCreate(&handles, 1, &b), "XGBoosterCreate")
        booster = b
        let params: [(String, String)] = [
            ("objective", parameters.objective), ("max_depth", "\(parameters.maxDepth)"), ("eta", "\(parameters.eta)"),
            ("subsample", "\(parameters.subsample)"), ("seed", "\(parameters.seed % 2_147_483_647)"), ("nthread", "1"),
            ("verbosity", "0"),
        ]
        for (k, v) in params { try XGBoostError.check(XGBoosterSetParam(b, k, v), "XGBoosterSetParam \(k)") }
        for i in 0..<parameters.rounds {
            try XGBoostError.check(XGBoosterUpdateOneIter(b, Int32(i), train), "XGBoosterUpdateOneIter")
        }
    }

    /// Predictions for rows; zeros before the first fit.
    public func predict(_ features: [[Float]]) throws -> [Float] {
        guard let booster, !features.isEmpty else { return [Float](repeating: 0, count: features.count) }
        let m = try Self.matrix(features)
        defer { XGDMatrixFree(m) }
        var length: bst_ulong = 0
        var out: UnsafePointer<Float>?
        try XGBoostError.check(XGBoosterPredict(booster, m, 0, 0, 0, &length, &out), "XGBoosterPredict")
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
