/// Every schedule in index order (AutoTVM's GridSearchTuner).
public final class GridTuner: ScheduleTuner {
    public let name = "grid"
    private let size: Int
    private var next = 0

    public init(_ context: TuningContext) { size = context.space.size }

    public func propose(_ count: Int) -> [Int] {
        let end = min(size, next + count)
        defer { next = end }
        return Array(next..<end)
    }

    public func observe(_ results: [(index: Int, cycles: Int?)]) {}
}
