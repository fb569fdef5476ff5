import VTA

/// Uniformly random schedules, without repetition (AutoTVM's RandomTuner).
public final class RandomTuner: ScheduleTuner {
    public let name = "random"
    private var order: [Int]
    private var next = 0

    public init(_ context: TuningContext) {
        var rng = SplitMix64(seed: context.seed)
        order = Array(0..<context.space.size).shuffled(using: &rng)
    }

    public func propose(_ count: Int) -> [Int] {
        let end = min(order.count, next + count)
        defer { next = end }
        return Array(order[next..<end])
    }

    public func observe(_ results: [(index: Int, cycles: Int?)]) {}
}
