import FarmTestSupport
import Foundation
import Testing

@testable import Wire

/// One `vtafarm runner` process started by a test, with its pid (for /proc) and its log (stderr,
/// in a file), and raw DEALER sockets to it: what the hostile-peer tests need that LocalFarm hides.
final class RunnerProcess {
    let process = Process()
    let logPath: String
    let endpoint: String
    let context = ZMQContext()

    init(_ arguments: [String]) throws {
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-runner-\(UUID()).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: vtafarmBinary)
        process.arguments = ["runner", "--bind", "tcp://127.0.0.1:*", "--exit-with-parent", "\(getpid())"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try process.run()
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening ") else {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw BackendTestError("the runner did not start: \(text) \(log)")
        }
        endpoint = String(text.dropFirst("listening ".count))
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var logBytes: Int { (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0 }

    /// The runner's peak resident memory (VmHWM), in bytes.
    var peakResidentBytes: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return -1 }
        return kb * 1024
    }

    /// A DEALER connected to the runner, from the loopback address `source` (127.0.0.2 looks
    /// like another host to the runner: Linux routes all of 127/8 to lo).
    func dealer(from source: String? = nil) throws -> ZMQSocket {
        let socket = try ZMQSocket(context, .dealer)
        try socket.connect(source.map { "tcp://\($0):0;" + endpoint.dropFirst("tcp://".count) } ?? endpoint)
        return socket
    }
}

struct BackendTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The next message on `socket` within `timeoutMs`, decoded.
func nextMessage(_ socket: ZMQSocket, timeoutMs: Int = 10_000) throws -> Message? {
    guard !ZMQPoller.readable([socket], timeoutMs: timeoutMs).isEmpty, let reply = try socket.receive() else {
        return nil
    }
    return try Codec.decode(reply[0])
}
