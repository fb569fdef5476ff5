/// The schedule space of one workload on one hardware configuration: every knob's candidate
/// values (divisors of the packed extent, as AutoTVM's "factors" split policy), the space's size,
/// a mixed-radix index <-> schedule mapping, and one-knob-step neighbours.
public struct ScheduleSpace: Hashable, Sendable {
    public let workload: Workload
    /// Candidate values per knob, in `Schedule.knobNames` order, each sorted ascending.
    public let choices: [[Int]]

    public init(workload: Workload, spec: HardwareSpec) {
        self.workload = workload
        let nb = max(1, workload.batch / spec.batch)
        let cib = max(1, workload.inChannels / spec.blockIn)
        let cob = max(1, workload.outChannels / spec.blockOut)
        switch workload.kind {
        case .conv2d:
            choices = [
                Self.divisors(nb), Self.divisors(workload.outHeight), Self.divisors(workload.outWidth),
                Self.divisors(cib), Self.divisors(cob), [1, 2], [1, 2],
            ]
        case .dense:
            choices = [Self.divisors(nb), [1], [1], Self.divisors(cib), Self.divisors(cob), [1], [1, 2]]
        }
    }

    public static func divisors(_ n: Int) -> [Int] {
        guard n >= 1 else { return [1] }
        var small: [Int] = []
        var large: [Int] = []
        var d = 1
        while d * d <= n {
            if n % d == 0 {
                small.append(d)
                if d * d != n { large.append(n / d) }
            }
            d += 1
        }
        return small + large.reversed()
    }

    public var size: Int { choices.reduce(1) { $0 * $1.count } }

    /// Knob indices (position of each knob's value in its choice list) of a schedule in the space.
    public func indices(of schedule: Schedule) -> [Int]? {
        var out: [Int] = []
        for (k, path) in Schedule.paths.enumerated() {
            guard let i = choices[k].firstIndex(of: schedule[keyPath: path]) else { return nil }
            out.append(i)
        }
        return out
    }

    public func schedule(indices: [Int]) -> Schedule {
        var s = Schedule()
        for (k, path) in Schedule.paths.enumerated() { s[keyPath: path] = choices[k][indices[k]] }
        return s
    }

    /// The schedule at a flat index in 0..<size (first knob varies slowest).
    public func schedule(at index: Int) -> Schedule {
        precondition(index >= 0 && index < size, "schedule index \(index) outside 0..<\(size)")
        var rest = index
        var idx = [Int](repeating: 0, count: choices.count)
        for k in stride(from: choices.count - 1, through: 0, by: -1) {
            idx[k] = rest % choices[k].count
            rest /= choices[k].count
        }
        return schedule(indices: idx)
    }

    public func index(of schedule: Schedule) -> Int? {
        guard let idx = indices(of: schedule) else { return nil }
        return zip(idx, choices).reduce(0) { $0 * $1.1.count + $1.0 }
    }

    /// Schedules one knob step away (Manhattan distance 1 in knob-index space).
    public func neighbours(of schedule: Schedule) -> [Schedule] {
        guard let idx = indices(of: schedule) else { return [] }
        var out: [Schedule] = []
        for k in 0..<idx.count {
            for step in [-1, 1] {
                let j = idx[k] + step
                guard j >= 0 && j < choices[k].count else { continue }
                var n = idx
                n[k] = j
                out.append(self.schedule(indices: n))
            }
        }
        return out
    }

    public var all: [Schedule] { (0..<size).map { schedule(at: $0) } }
}
