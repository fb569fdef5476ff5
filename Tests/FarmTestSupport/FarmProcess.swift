import Foundation

/// One `vtafarm` process (runner or tracker) started by a test and found by the "listening
/// ENDPOINT" line it prints first, with its log (stderr, in a file) and its pid (for /proc).
public final class FarmProcess {
    public let process = Process()
    public let endpoint: String
    public let logPath: String

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `environment` is added to the test's own (as systemd adds NOTIFY_SOCKET to a unit's).
    public init(_ arguments: [String], environment: [String: String] = [:]) throws {
        logPath = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-\(UUID()).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: vtafarmBinary)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
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
            throw StartError(description: "vtafarm \(arguments.first ?? "") did not start: \(text) \(log)")
        }
        endpoint = String(text.dropFirst("listening ".count))
    }

    deinit { stop() }

    /// SIGTERM (a runner drains, and deregisters from its tracker), then waits.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    public var logBytes: Int { (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0 }

    /// The process's peak resident memory (VmHWM), in bytes.
    public var peakResidentBytes: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return -1 }
        return kb * 1024
    }
}
