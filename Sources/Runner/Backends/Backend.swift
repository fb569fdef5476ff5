import Wire

/// The one interface every measurement backend implements (the runner's counterpart of Kernel
/// Tuner's backends/backend.py): take a request, return its result, and return by the deadline.
/// A new backend is one new file beside this one and one row in `BackendKind.all`.
public protocol MeasurementBackend: Sendable {
    /// The name a request selects it by ("vta-sim", "command", "delay").
    var name: String { get }
    /// How `--backend` names it, argument included ("command:/opt/tsim/run"): a request may name
    /// the backend alone or exactly this.
    var spec: String { get }
    /// Measures one request. Must not throw or trap on any request: everything that goes wrong is
    /// a status. Past `deadline` it stops and answers `.timeout`.
    func measure(_ request: MeasureRequest, deadline: ContinuousClock.Instant) -> MeasureResult
}

public struct BackendError: Error, CustomStringConvertible {
    public let description: String
    init(_ message: String) { description = message }
}
