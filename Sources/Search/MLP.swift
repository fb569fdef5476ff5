import Foundation
import VTA

/// A small fully connected network (tanh hidden layers, linear output) with backpropagation
/// and Adam, in plain Swift: the agents' actors and critic are a few thousand parameters, so a
/// dependency-free implementation is fast enough and keeps runs bit-for-bit repeatable.
public final class MLP {
    let sizes: [Int]
    var weights: [[Float]]   // layer l: sizes[l+1] x sizes[l], row-major
    var biases: [[Float]]
    var gradW: [[Float]]
    var gradB: [[Float]]
    // Adam state
    var mW: [[Float]], vW: [[Float]], mB: [[Float]], vB: [[Float]]
    var step = 0
    public var learningRate: Float

    public init(_ sizes: [Int], learningRate: Float = 1e-3, rng: inout SplitMix64) {
        self.sizes = sizes
        self.learningRate = learningRate
        weights = []; biases = []
        for l in 0..<(sizes.count - 1) {
            let scale = 1 / Float(sizes[l]).squareRoot()
            weights.append((0..<(sizes[l] * sizes[l + 1])).map { _ in (Float(rng.next() % 2_000_001) / 1_000_000 - 1) * scale })
            biases.append([Float](repeating: 0, count: sizes[l + 1]))
        }
        gradW = weights.map { [Float](repeating: 0, count: $0.count) }
        gradB = biases.map { [Float](repeating: 0, count: $0.count) }
        mW = gradW; vW = gradW; mB = gradB; vB = gradB
    }

    /// Forward pass; returns every layer's activations (input first) for `backward`.
    public func forward(_ x: [Float]) -> [[Float]] {
        var acts = [x]
        var a = x
        for l in 0..<weights.count {
            let n = sizes[l + 1], m = sizes[l]
            var z = biases[l]
            weights[l].withUnsafeBufferPointer { w in
                for i in 0..<n {
                    var s: Float = 0
                    for j in 0..<m { s += w[i * m + j] * a[j] }
                    z[i] += s
                }
            }
            if l < weights.count - 1 { for i in 0..<n { z[i] = tanhf(z[i]) } }
            a = z
            acts.append(a)
        }
        return acts
    }

    public func output(_ x: [Float]) -> [Float] { forward(x).last! }

    /// Accumulates gradients for one sample given dLoss/dOutput.
    public func backward(_ acts: [[Float]], _ gradOut: [Float]) {
        var delta = gradOut
        for l in stride(from: weights.count - 1, through: 0, by: -1) {
            let n = sizes[l + 1], m = sizes[l]
            let input = acts[l]
            for i in 0..<n {
                gradB[l][i] += delta[i]
                for j in 0..<m { gradW[l][i * m + j] += delta[i] * input[j] }
            }
            if l > 0 {
                var next = [Float](repeating: 0, count: m)
                for j in 0..<m {
                    var s: Float = 0
                    for i in 0..<n { s += weights[l][i * m + j] * delta[i] }
                    let a = input[j]
                    next[j] = s * (1 - a * a)  // tanh'
                }
                delta = next
            }
        }
    }

    /// One Adam step with the accumulated gradients averaged over `batch` samples; clears them.
    public func apply(batch: Int) {
        step += 1
        let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
        let c1 = 1 - powf(b1, Float(step)), c2 = 1 - powf(b2, Float(step))
        let inv = 1 / Float(max(1, batch))
        for l in 0..<weights.count {
            for k in 0..<weights[l].count {
                let g = gradW[l][k] * inv
                mW[l][k] = b1 * mW[l][k] + (1 - b1) * g
                vW[l][k] = b2 * vW[l][k] + (1 - b2) * g * g
                weights[l][k] -= learningRate * (mW[l][k] / c1) / ((vW[l][k] / c2).squareRoot() + eps)
                gradW[l][k] = 0
            }
            for k in 0..<biases[l].count {
                let g = gradB[l][k] * inv
                mB[l][k] = b1 * mB[l][k] + (1 - b1) * g
                vB[l][k] = b2 * vB[l][k] + (1 - b2) * g * g
                biases[l][k] -= learningRate * (mB[l][k] / c1) / ((vB[l][k] / c2).squareRoot() + eps)
                gradB[l][k] = 0
            }
        }
    }
}
