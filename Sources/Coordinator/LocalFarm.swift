import Foundation
import Runner
import Wire

/// An embedded farm for one machine: runner processes started on loopback by the coordinator
/// itself (so `vtafarm tune` needs no cluster.yaml), stopped with it. `@unchecked Sendable`: the
/// process lists are filled in `init` and changed only by `stop()`, which the owner calls once.
public final class LocalFarm: @unchecked Sendable {
    public struct StartError: Error, CustomStringConvertible { public let description: String }

    public private(set) var addresses: [RunnerAddress] = []
    private var processes: [Process] = []
    private var exits: [ExitWatch] = []

    /// Starts `runners` processes of `executable runner` on 127.0.0.1, each on a free port, named
    /// local-`firstIndex`, local-`firstIndex + 1`, ... (farms registering with one tracker need
    /// distinct names: a name registered again by another process replaces the first).
    public init(
        executable: String, runners: Int, slots: Int, backend: String = "vta-sim",
        extraArguments: [String] = [], firstIndex: Int = 0, startTimeout: Double = 20
    ) throws {
        for i in firstIndex..<firstIndex + runners {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments =
                [
                    "runner", "--bind", "tcp://127.0.0.1:*", "--slots", "\(slots)", "--backend", backend,
                    "--name", "local-\(i)", "--log-level", "warning",
                    "--exit-with-parent", "\(getpid())",
                ] + extraArguments
            let out = Pipe()
            p.standardOutput = out
            let exit = ExitWatch(p)
            do { try p.run() } catch {
                stop()
                throw StartError(description: "cannot start \(executable): \(error.localizedDescription)")
            }
            processes.append(p)
            exits.append(exit)
            guard let endpoint = Self.readEndpoint(out.fileHandleForReading, timeout: startTimeout) else {
                stop()
                throw StartError(
                    description: "runner local-\(i) did not report its endpoint within \(Int(startTimeout)) s")
            }
            addresses.append(RunnerAddress(name: "local-\(i)", endpoint: endpoint))
        }
    }

    deinit { stop() }

    /// This process's own executable (`tune`, `bench` and the local farm start runners from it).
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    static func readEndpoint(_ handle: FileHandle, timeout: Double) -> String? {
        let box = LineBox()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var line = Data()
            while true {
                let byte = handle.readData(ofLength: 1)
                if byte.isEmpty || byte == Data("\n".utf8) { break }
                line.append(byte)
            }
            box.line = String(decoding: line, as: UTF8.self)
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success, let line = box.line, line.hasPrefix("listening ") else {
            return nil
        }
        return String(line.dropFirst("listening ".count))
    }

    /// Sends a signal to one runner (tests kill runners on purpose).
    public func signal(_ index: Int, _ sig: Int32) { kill(processes[index].processIdentifier, sig) }

    /// Waits up to `timeout` seconds for runner `index` to exit; its exit status, or nil if it
    /// is still running (or was killed by a signal: then -signal).
    public func waitForExit(_ index: Int, timeout: Double) -> Int32? {
        let p = processes[index]
        guard exits[index].wait(until: .now + .seconds(timeout)) else { return nil }
        p.waitUntilExit()
        return p.terminationReason == .exit ? p.terminationStatus : -p.terminationStatus
    }

    /// SIGTERM to every runner still running, then waits for them (SIGKILL after 10 s).
    public func stop() {
        for p in processes where p.isRunning { p.terminate() }
        let deadline = ContinuousClock.now + .seconds(10)
        for (p, exit) in zip(processes, exits) {
            if !exit.wait(until: deadline) { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        processes = []
        exits = []
    }
}

/// Written by the reader before `done.signal()`, read only after a successful `done.wait`.
private final class LineBox: @unchecked Sendable { var line: String? }
