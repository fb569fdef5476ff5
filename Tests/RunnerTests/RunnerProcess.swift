import FarmTestSupport
import Foundation
import Testing

@testable import Wire

/// One `vtafarm runner` process started by a test (a `FarmProcess`), and raw DEALER sockets to it:
/// what the hostile-peer tests need that LocalFarm hides.
final class RunnerProcess {
    let farm: FarmProcess
    let context = ZMQContext()

    init(_ arguments: [String]) throws {
        farm = try FarmProcess(
            ["runner", "--bind", "tcp://127.0.0.1:*", "--exit-with-parent", "\(getpid())"] + arguments)
    }

    var process: Process { farm.process }
    var endpoint: String { farm.endpoint }
    var log: String { farm.log }
    var logBytes: Int { farm.logBytes }
    var peakResidentBytes: Int { farm.peakResidentBytes }
    func stop() { farm.stop() }

    /// A DEALER connected to the runner, from the loopback address `source` (127.0.0.2 looks
    /// like another host to the runner: Linux routes all of 127/8 to lo).
    func dealer(from source: String? = nil) throws -> ZMQSocket {
        let socket = try ZMQSocket(context, .dealer)
        try socket.connect(source.map { "tcp://\($0):0;" + endpoint.dropFirst("tcp://".count) } ?? endpoint)
        return socket
    }
}

/// The next message on `socket` within `timeoutMs`, decoded.
func nextMessage(_ socket: ZMQSocket, timeoutMs: Int = 10_000) throws -> Message? {
    guard !ZMQPoller.readable([socket], timeoutMs: timeoutMs).isEmpty, let reply = try socket.receive() else {
        return nil
    }
    return try Codec.decode(reply[0])
}
