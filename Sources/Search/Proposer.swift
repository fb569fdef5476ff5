import VTA

/// One measurement to make: a schedule of one layer (an index into the model's layers) on one
/// hardware configuration.
public struct Candidate: Hashable, Sendable {
    public var hardware: HardwareConfig
    public var layer: Int
    public var schedule: Schedule
    /// The proposer checked it against the static VTA rules already (the tuning loop's filter
    /// then does not check it again).
    public var knownValid: Bool

    public init(hardware: HardwareConfig, layer: Int, schedule: Schedule, knownValid: Bool = false) {
        self.hardware = hardware
        self.layer = layer
        self.schedule = schedule
        self.knownValid = knownValid
    }
}

/// The one seam between a search and the tuning loop that drives it (a per-layer tuner through
/// `LayerProposer`, the hardware co-optimizer directly): propose candidates, learn from what
/// became of them. Both may throw: a cost model that cannot be fitted is an error, not a reason
/// to go on searching blind.
public protocol Proposer: AnyObject {
    /// Up to `count` candidates, none proposed before. Fewer, or none, when it has nothing (more)
    /// to offer this time.
    func propose(_ count: Int) throws -> [Candidate]
    /// Results of proposed (or replayed) candidates: cycles, or nil when invalid, failed or filtered.
    func observe(_ results: [(candidate: Candidate, cycles: Int?)]) throws
    /// After an empty proposal: true when it will never offer anything again (a per-layer tuner
    /// that has run out of its space), false when a later call may (a new round of hardware).
    var isExhausted: Bool { get }
    /// How many times the loop asks for more when a plan comes back short of what it asked (or
    /// the filter cut it) before it dispatches what it has.
    var proposalRounds: Int { get }
}

/// A `ScheduleTuner` of one layer on one hardware configuration as a `Proposer`: it turns the
/// tuner's indices into candidates and results back into indices of its space.
public final class LayerProposer: Proposer {
    public let tuner: ScheduleTuner
    public let space: ScheduleSpace
    public let hardware: HardwareConfig
    public let layer: Int
    public private(set) var isExhausted = false
    /// Per-layer tuners are asked until the plan is full (tuners that cannot fill it return fewer).
    public let proposalRounds = 50

    public init(tuner: ScheduleTuner, space: ScheduleSpace, hardware: HardwareConfig, layer: Int) {
        self.tuner = tuner
        self.space = space
        self.hardware = hardware
        self.layer = layer
    }

    public func propose(_ count: Int) throws -> [Candidate] {
        let plan = try tuner.propose(count)
        isExhausted = plan.isEmpty
        return plan.map {
            Candidate(
                hardware: hardware, layer: layer, schedule: space.schedule(at: $0), knownValid: tuner.checksValidity)
        }
    }

    /// Results of another layer or hardware, or of a schedule outside this space (a foreign
    /// record), are not this tuner's to learn from and are left out.
    public func observe(_ results: [(candidate: Candidate, cycles: Int?)]) throws {
        let mine = results.compactMap { r -> (index: Int, cycles: Int?)? in
            guard r.candidate.layer == layer, r.candidate.hardware == hardware,
                let i = space.index(of: r.candidate.schedule)
            else { return nil }
            return (i, r.cycles)
        }
        if !mine.isEmpty { try tuner.observe(mine) }
    }
}
