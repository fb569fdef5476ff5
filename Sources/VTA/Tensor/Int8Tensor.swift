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
