import Wire

/// The one interface every measurement backend implements (the runner's counterpart of Kernel
/// Tuner's backends/backend.py): take a request, return its result, and return by the deadline.
/// A new backend is one new file beside this one.
public protocol MeasurementBackend: Sendable {
    /// The name a request selects it by ("vta-sim", "command", "delay").
    var name: String { get }
    /// Measures one request. Must not throw or trap on any request: everything that goes wrong is
    /// a status. Past `deadline` it stops and answers `.timeout`.
    func measure(_ request: MeasureRequest, deadline: ContinuousClock.Instant) -> MeasureResult
}

/// Parses a `--backend` value: `vta-sim`, `command:PATH` or `delay:MS`.
public func makeBackend(_ spec: String) throws -> MeasurementBackend {
    if spec == "vta-sim" { return VTASimBackend() }
    if spec.hasPrefix("command:") {
        let path = String(spec.dropFirst("command:".count))
        guard !path.isEmpty else { throw BackendError("command: needs a program path, e.g. command:/opt/tsim/run") }
        return CommandBackend(path: path)
    }
    if spec.hasPrefix("delay:") {
        guard let ms = Double(spec.dropFirst("delay:".count)), ms >= 0, ms <= 3_600_000 else {
            throw BackendError("delay: needs milliseconds between 0 and 3600000, e.g. delay:20")
        }
        return DelayBackend(milliseconds: ms)
    }
    throw BackendError("unknown backend '\(spec)': use vta-sim, command:PATH or delay:MS")
}

public struct BackendError: Error, CustomStringConvertible {
    public let description: String
    init(_ message: String) { description = message }
}
