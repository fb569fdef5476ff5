import Foundation
import VTA

/// Wakes a waiter when a child process exits (its termination handler signals), so waiting for
/// a child with a deadline needs no polling of `isRunning`. Create it before `Process.run()`.
public final class ExitWatch: Sendable {
    private let exited = DispatchSemaphore(value: 0)

    public init(_ process: Process) {
        process.terminationHandler = { [exited] _ in exited.signal() }
    }

    /// True when the process has exited by `deadline`; once true, true for every later call.
    public func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let left = max(.zero, deadline - .now)
        guard exited.wait(timeout: .now() + .nanoseconds(Int(left.inNanoseconds))) == .success else { return false }
        exited.signal()  // keep the news for the next waiter
        return true
    }
}
