import Foundation

/// SIGTERM and SIGINT for the daemons (runner, tracker), taken so that none is lost. With
/// `signal(SIG_IGN)` and a DispatchSource, a signal that came before libdispatch had registered
/// the source was discarded, and the daemon never stopped: systemd stopping a unit just after its
/// READY=1 hit that window. Here the signals are blocked instead, so one that comes early stays
/// pending until a thread of ours takes it with sigwait.
enum StopSignals {
    static let stopping: [Int32] = [SIGTERM, SIGINT]

    /// Blocks SIGTERM and SIGINT in the calling thread and in every thread started after it
    /// (threads inherit the mask): call it first, before anything starts a thread. Children
    /// started with GroupedChild get a clean mask again.
    static func block() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Calls `handler` with each SIGTERM or SIGINT from now on (and any that came since `block`),
    /// on a thread of its own.
    static func handle(_ handler: @escaping @Sendable (Int32) -> Void) {
        let thread = Thread {
            var set = signalSet()
            while true {
                var signal: Int32 = 0
                if sigwait(&set, &signal) == 0 { handler(signal) }
            }
        }
        thread.name = "stop-signals"
        thread.start()
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in stopping { sigaddset(&set, s) }
        return set
    }
}
