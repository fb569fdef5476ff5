import VTA

/// The one interface every schedule tuner implements (Kernel Tuner's strategies/ in spirit): it
/// proposes schedules of one layer's space and learns from what was measured. A new strategy is
/// one new file beside this one, plus a line in `TunerKind`.
public protocol ScheduleTuner: AnyObject {
    var name: String { get }
    /// Up to `count` schedule indices of the space, none proposed before. Fewer (or none) when
    /// the tuner has nothing new to offer. Throws when its cost model fails.
    func propose(_ count: Int) throws -> [Int]
    /// Results for proposed (or replayed) indices: cycles, or nil when invalid or failed.
    /// Throws when its cost model cannot be fitted.
    func observe(_ results: [(index: Int, cycles: Int?)]) throws
    /// Whether it proposes only schedules the static VTA rules accept (so nobody checks again).
    var checksValidity: Bool { get }
}

extension ScheduleTuner {
    public var checksValidity: Bool { false }
}

/// What every tuner gets: the space it searches, the hardware it searches for, and a seed.
public struct TuningContext {
    public let space: ScheduleSpace
    public let spec: HardwareSpec
    public let seed: UInt64
    public init(space: ScheduleSpace, spec: HardwareSpec, seed: UInt64) {
        self.space = space
        self.spec = spec
        self.seed = seed
    }
    public var workload: Workload { space.workload }
    public func features(_ index: Int) -> [Float] { Features.schedule(space.schedule(at: index), workload, spec) }
}

/// The tuners `--tuner` selects.
public enum TunerKind: String, CaseIterable, Sendable {
    case arco, xgb, ga, random, grid

    public func make(_ context: TuningContext) -> ScheduleTuner {
        switch self {
        case .arco: return ARCOTuner(context)
        case .xgb: return XGBTuner(context)
        case .ga: return GATuner(context)
        case .random: return RandomTuner(context)
        case .grid: return GridTuner(context)
        }
    }
}
