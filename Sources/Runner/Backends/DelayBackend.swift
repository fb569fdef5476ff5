import Foundation
import VTA
import Wire

/// A synthetic backend that takes a fixed time and reports made-up cycles, for measuring the
/// farm itself (its overhead and scaling) without the simulator's cost.
public struct DelayBackend: MeasurementBackend {
    public let name = "delay"
    public let milliseconds: Double
    public let spec: String

    /// `argument`: MS as `--backend delay:MS` wrote it (default: `milliseconds` printed).
    public init(milliseconds: Double, argument: String? = nil) {
        self.milliseconds = milliseconds
        spec = "delay:\(argument ?? "\(milliseconds)")"
    }

    public func measure(_ request: MeasureRequest, deadline: ContinuousClock.Instant) -> MeasureResult {
        let started = ContinuousClock.now
        if request.verify {
            return MeasureResult(
                requestID: request.requestID, status: .unsupported,
                error: "the delay backend computes no output to verify")
        }
        let end = started + .microseconds(Int64(milliseconds * 1000))
        if end > deadline {
            if deadline > started { Thread.sleep(forTimeInterval: (deadline - started).inSeconds) }
            return MeasureResult(
                requestID: request.requestID, status: .timeout,
                error: "delay of \(milliseconds) ms exceeds the request's timeout")
        }
        if milliseconds > 0 { Thread.sleep(forTimeInterval: milliseconds / 1000) }
        return MeasureResult(
            requestID: request.requestID, status: .ok, cycles: 1000 + request.requestID % 1000,
            wallSeconds: (ContinuousClock.now - started).inSeconds)
    }
}
