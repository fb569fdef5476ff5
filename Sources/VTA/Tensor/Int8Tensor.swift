/// A dense int8 tensor in row-major (C) order: NCHW inputs, OIHW weights, NCHW outputs.
public struct Int8Tensor: Hashable, Sendable {
    public var shape: [Int]
    public var data: [Int8]

    public init(shape: [Int], data: [Int8]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) elements")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Int8](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Uniform random values in `range` from a seeded generator, for tests and benchmarks.
    public static func random(shape: [Int], in range: ClosedRange<Int8> = -128...127, seed: UInt64) -> Int8Tensor {
        var rng = SplitMix64(seed: seed)
        let n = shape.reduce(1, *)
        let span = UInt64(Int(range.upperBound) - Int(range.lowerBound) + 1)
        let data = (0..<n).map { _ in Int8(Int(range.lowerBound) + Int(rng.next() % span)) }
        return Int8Tensor(shape: shape, data: data)
    }
}

/// A small, fast, seedable generator (SplitMix64) so every random test and run repeats.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Shapes of a workload's tensors as the user sees them.
extension Workload {
    public var inputShape: [Int] { kind == .dense ? [batch, inChannels] : [batch, inChannels, height, width] }
    public var weightShape: [Int] { kind == .dense ? [outChannels, inChannels] : [outChannels, inChannels, kernelH, kernelW] }
    public var outputShape: [Int] { kind == .dense ? [batch, outChannels] : [batch, outChannels, outHeight, outWidth] }
}
