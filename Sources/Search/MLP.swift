import Foundation
import VTA

/// A small fully connected network (tanh hidden layers, linear output) with backpropagation
/// and Adam, in plain Swift: the agents' actors and critic are a few thousand parameters, so a
/// dependency-free implementation is fast enough and keeps runs bit-for-bit repeatable.
///
/// All parameters live in one flat array (layer l's weights, row-major sizes[l+1] x sizes[l],
/// then its biases), with gradients and Adam's moments alongside, so the hot loops run over
/// raw buffers: PPO training calls `forward`/`backward` thousands of times per plan and
/// nested arrays cost a uniqueness and exclusivity check per element.
public final class MLP {
    let sizes: [Int]
    /// Where layer l's weights and biases start in `params`.
    let weightOffset: [Int], biasOffset: [Int]
    var params: [Float]
    var grads: [Float]
    var adamM: [Float], adamV: [Float]
    var step = 0
    public var learningRate: Float

    public init(_ sizes: [Int], learningRate: Float = 1e-3, rng: inout SplitMix64) {
        self.sizes = sizes
        self.learningRate = learningRate
        var params: [Float] = []
        var wo: [Int] = []
        var bo: [Int] = []
        for l in 0..<(sizes.count - 1) {
            let scale = 1 / Float(sizes[l]).squareRoot()
            wo.append(params.count)
            params += (0..<(sizes[l] * sizes[l + 1])).map { _ in (Float(rng.next() % 2_000_001) / 1_000_000 - 1) * scale
            }
            bo.append(params.count)
            params += [Float](repeating: 0, count: sizes[l + 1])
        }
        self.params = params
        weightOffset = wo
        biasOffset = bo
        grads = [Float](repeating: 0, count: params.count)
        adamM = grads
        adamV = grads
    }

    var layers: Int { sizes.count - 1 }

    /// Forward pass; returns every layer's activations (input first) for `backward`.
    public func forward(_ x: [Float]) -> [[Float]] {
        var acts = [x]
        acts.reserveCapacity(sizes.count)
        params.withUnsafeBufferPointer { p in
            for l in 0..<layers {
                let n = sizes[l + 1]
                let m = sizes[l]
                let w = p.baseAddress! + weightOffset[l]
                let b = p.baseAddress! + biasOffset[l]
                let hidden = l < layers - 1
                let z = acts[l].withUnsafeBufferPointer { a in
                    [Float](unsafeUninitializedCapacity: n) { z, count in
                        for i in 0..<n {
                            var s: Float = 0
                            let row = w + i * m
                            for j in 0..<m { s += row[j] * a[j] }
                            let v = b[i] + s
                            z[i] = hidden ? tanhf(v) : v
                        }
                        count = n
                    }
                }
                acts.append(z)
            }
        }
        return acts
    }

    public func output(_ x: [Float]) -> [Float] { forward(x).last! }

    /// Accumulates gradients for one sample given dLoss/dOutput.
    public func backward(_ acts: [[Float]], _ gradOut: [Float]) {
        var delta = gradOut
        params.withUnsafeBufferPointer { p in
            grads.withUnsafeMutableBufferPointer { g in
                for l in stride(from: layers - 1, through: 0, by: -1) {
                    let n = sizes[l + 1]
                    let m = sizes[l]
                    let w = p.baseAddress! + weightOffset[l]
                    let gw = g.baseAddress! + weightOffset[l]
                    let gb = g.baseAddress! + biasOffset[l]
                    acts[l].withUnsafeBufferPointer { input in
                        delta.withUnsafeBufferPointer { d in
                            for i in 0..<n {
                                gb[i] += d[i]
                                let row = gw + i * m
                                for j in 0..<m { row[j] += d[i] * input[j] }
                            }
                        }
                        if l > 0 {
                            delta = delta.withUnsafeBufferPointer { d in
                                [Float](unsafeUninitializedCapacity: m) { next, count in
                                    for j in 0..<m {
                                        var s: Float = 0
                                        for i in 0..<n { s += w[i * m + j] * d[i] }
                                        let a = input[j]
                                        next[j] = s * (1 - a * a)  // tanh'
                                    }
                                    count = m
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// One Adam step with the accumulated gradients averaged over `batch` samples; clears them.
    public func apply(batch: Int) {
        step += 1
        let b1: Float = 0.9
        let b2: Float = 0.999
        let eps: Float = 1e-8
        let c1 = 1 - powf(b1, Float(step))
        let c2 = 1 - powf(b2, Float(step))
        let inv = 1 / Float(max(1, batch))
        let rate = learningRate
        params.withUnsafeMutableBufferPointer { p in
            grads.withUnsafeMutableBufferPointer { g in
                adamM.withUnsafeMutableBufferPointer { m in
                    adamV.withUnsafeMutableBufferPointer { v in
                        for k in 0..<p.count {
                            let gk = g[k] * inv
                            m[k] = b1 * m[k] + (1 - b1) * gk
                            v[k] = b2 * v[k] + (1 - b2) * gk * gk
                            p[k] -= rate * (m[k] / c1) / ((v[k] / c2).squareRoot() + eps)
                            g[k] = 0
                        }
                    }
                }
            }
        }
    }
}
