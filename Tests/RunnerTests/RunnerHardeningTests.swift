import FarmTestSupport
import Foundation
import Testing
import VTA

@testable import Runner
@testable import Wire

/// Hostile or careless peers against a real runner process (issue 11): nothing a peer sends may
/// make the runner hold unbounded memory, log unbounded text, or run what it was not asked to.
@Suite(.serialized) struct RunnerHardeningTests {
    let good = Schedule(tileH: 8, tileW: 8, tileCI: 2, tileCO: 2)

    /// 40 frames of 5 MB in one message: libzmq used to buffer all 200 MB (and the runner to copy
    /// them) before the frame count was looked at. Now the first frame over twice the frame limit
    /// disconnects the peer; a frame between the limit and twice it gets TOO_LARGE.
    @Test func hugeFramesAreNeitherBufferedNorCopied() throws {
        let runner = try RunnerProcess(["--slots", "1", "--log-level", "warning"])
        defer { runner.stop() }
        let before = runner.peakResidentBytes
        do {
            let attacker = try runner.dealer()
            defer { attacker.close() }
            try attacker.send([[UInt8]](repeating: [UInt8](repeating: 7, count: 5_000_000), count: 40))
            Thread.sleep(forTimeInterval: 2)
        }
        let after = runner.peakResidentBytes
        #expect(after - before < 100_000_000, "peak RSS grew from \(before) to \(after) bytes")

        let socket = try runner.dealer()
        defer { socket.close() }
        try socket.send([[UInt8](repeating: 7, count: maxEnvelopeBytes + 1000)])
        guard case .error(let e)? = try nextMessage(socket) else {
            Issue.record("no answer to a frame just over the limit")
            return
        }
        #expect(e.code == .tooLarge && e.message.contains("\(maxEnvelopeBytes)"), "\(e)")
        try socket.send([Codec.encode(.ping(nonce: 5)), Codec.encode(.ping(nonce: 6)), [1, 2, 3]])
        guard case .error(let m)? = try nextMessage(socket) else {
            Issue.record("no answer to three frames")
            return
        }
        #expect(m.code == .malformed && m.message.contains("got 3"), "\(m)")
        try socket.send([Codec.encode(.hello(Hello(coordinator: "after")))])
        guard case .welcome? = try nextMessage(socket) else {
            Issue.record("the runner stopped serving")
            return
        }
    }

    /// Queued requests are bounded per host (however many connections it opens) and in total;
    /// beyond, Error QUEUE_FULL names the limit.
    @Test func queueLimitsAreAnsweredWithQueueFull() throws {
        let runner = try RunnerProcess([
            "--slots", "1", "--backend", "delay:300", "--max-queued-per-host", "3", "--max-queued", "5",
            "--log-level", "warning",
        ])
        defer { runner.stop() }
        let a = try runner.dealer()
        let sameHost = try runner.dealer()
        let otherHost = try runner.dealer(from: "127.0.0.2")
        defer { for s in [a, sameHost, otherHost] { s.close() } }
        func send(_ socket: ZMQSocket, _ ids: ClosedRange<UInt64>) throws {
            for id in ids {
                let r = MeasureRequest(requestID: id, workload: smallConv, schedule: good, backend: "delay")
                try socket.send([Codec.encode(.measureRequest(r))])
            }
        }
        try send(a, 1...1)
        Thread.sleep(forTimeInterval: 0.15)  // request 1 is running; the queue is empty
        try send(a, 2...6)  // 2, 3, 4 queued; 5 and 6 over the host's limit
        Thread.sleep(forTimeInterval: 0.05)
        try send(sameHost, 21...21)  // another connection from the same host: over its limit too
        try send(otherHost, 11...14)  // 11, 12 queued; 13 and 14 over the total
        var results: [UInt64: MeasureResult] = [:]
        var refused: [UInt64: WireError] = [:]
        let sockets = [a, sameHost, otherHost]
        while results.count + refused.count < 11 {
            let ready = ZMQPoller.readable(sockets, timeoutMs: 5000)
            guard !ready.isEmpty else { break }
            for i in ready {
                switch try nextMessage(sockets[i]) {
                case .measureResult(let r)?: results[r.requestID] = r
                case .error(let e)?: refused[e.requestID] = e
                case let m: Issue.record("unexpected \(String(describing: m))")
                }
            }
        }
        #expect(Set(results.keys) == [1, 2, 3, 4, 11, 12] && results.values.allSatisfy { $0.status == .ok })
        #expect(Set(refused.keys) == [5, 6, 13, 14, 21] && refused.values.allSatisfy { $0.code == .queueFull })
        #expect(refused[5]?.message.contains("limit of 3 requests for this host 127.0.0.1") == true, "\(refused)")
        #expect(refused[21]?.message.contains("limit of 3 requests for this host 127.0.0.1") == true)
        #expect(refused[13]?.message.contains("limit of 5 requests (all coordinators)") == true, "\(refused)")
    }

    /// Shares go per host, not per connection: 50 connections from another host, 20 requests
    /// queued each, do not starve a coordinator's 10 (per connection it got 1 turn in 51: ~20 s).
    @Test func fiftyConnectionsFromOneHostGetOneHostsShare() throws {
        let runner = try RunnerProcess(["--slots", "1", "--backend", "delay:40", "--log-level", "warning"])
        defer {
            kill(runner.process.processIdentifier, SIGKILL)  // not SIGTERM: it would drain the crowd's work
            runner.stop()
        }
        let crowd = try (0..<50).map { _ in try runner.dealer(from: "127.0.0.2") }
        defer { for s in crowd { s.close() } }
        for (i, socket) in crowd.enumerated() {
            for j in 0..<20 {
                let r = MeasureRequest(
                    requestID: UInt64(1000 + i * 20 + j), workload: smallConv, schedule: good, backend: "delay")
                try socket.send([Codec.encode(.measureRequest(r))])
            }
        }
        Thread.sleep(forTimeInterval: 0.3)  // the crowd's 1000 requests are queued
        let coordinator = try runner.dealer()
        defer { coordinator.close() }
        let start = ContinuousClock.now
        for id in UInt64(1)...10 {
            let r = MeasureRequest(requestID: id, workload: smallConv, schedule: good, backend: "delay")
            try coordinator.send([Codec.encode(.measureRequest(r))])
        }
        var done = 0
        while done < 10, case .measureResult? = try nextMessage(coordinator, timeoutMs: 30_000) { done += 1 }
        let took = ContinuousClock.now - start
        print("fairness: 10 requests of 40 ms behind 50 connections x 20 from another host took \(took)")
        #expect(done == 10 && took < .seconds(3), "the coordinator's 10 results took \(took)")
    }

    /// The timeout counts from when the measurement starts: 4 requests of 200 ms each on one slot,
    /// each with a 500 ms timeout, all succeed (the last waited 600 ms in the queue).
    @Test func theTimeoutStartsWhenTheMeasurementStarts() throws {
        let runner = try RunnerProcess(["--slots", "1", "--backend", "delay:200", "--log-level", "warning"])
        defer { runner.stop() }
        let socket = try runner.dealer()
        defer { socket.close() }
        for id in UInt64(1)...4 {
            let r = MeasureRequest(
                requestID: id, workload: smallConv, schedule: good, backend: "delay", timeoutMs: 500)
            try socket.send([Codec.encode(.measureRequest(r))])
        }
        var statuses: [UInt64: MeasureStatus] = [:]
        while statuses.count < 4, case .measureResult(let r)? = try nextMessage(socket) {
            statuses[r.requestID] = r.status
        }
        #expect(statuses == [1: .ok, 2: .ok, 3: .ok, 4: .ok])
    }

    /// Strings a peer supplies are cut and escaped before they are logged: 100 Hellos with 60 KB
    /// names used to write 6 MB of log.
    @Test func peerStringsAreTruncatedInTheLog() throws {
        let runner = try RunnerProcess(["--slots", "1", "--log-level", "info"])
        defer { runner.stop() }
        let socket = try runner.dealer()
        defer { socket.close() }
        let name = String(repeating: "n", count: 60_000) + "\u{1B}[2J"
        for _ in 0..<100 {
            try socket.send([Codec.encode(.hello(Hello(coordinator: name)))])
            guard case .welcome? = try nextMessage(socket) else {
                Issue.record("no Welcome")
                return
            }
        }
        #expect(runner.logBytes < 100_000, "the log holds \(runner.logBytes) bytes")
        #expect(!runner.log.contains("\u{1B}"), "a control character reached the log")
    }

    /// What a request names is what runs, or it is refused: another command path, an argument to
    /// a backend that takes none, a NUL inside the name, an unknown workload kind.
    @Test func requestsNamingWhatTheRunnerDoesNotServeAreRefused() throws {
        let ok = temporaryFile("echo-timeout.py", Self.echoTimeout, executable: true)
        defer { try? FileManager.default.removeItem(atPath: ok) }
        let runner = try RunnerProcess([
            "--slots", "1", "--backend", "command:\(ok)", "--timeout-ms", "4321", "--log-level", "warning",
        ])
        defer { runner.stop() }
        let socket = try runner.dealer()
        defer { socket.close() }
        func measure(_ backend: String, timeoutMs: UInt32 = 0) throws -> MeasureResult? {
            let r = MeasureRequest(
                requestID: 1, workload: smallConv, schedule: good, backend: backend, timeoutMs: timeoutMs)
            try socket.send([Codec.encode(.measureRequest(r))])
            if case .measureResult(let result)? = try nextMessage(socket) { return result }
            return nil
        }
        // The program is told the timeout in force: the runner's default, not 0.
        #expect(try measure("command")?.cycles == 4321)
        #expect(try measure("command:\(ok)", timeoutMs: 2500)?.cycles == 2500)
        let other = try measure("command:/bin/true")
        #expect(other?.status == .unsupported && other?.error.contains("serves command:\(ok)") == true, "\(other!)")
        let argument = try measure("vta-sim:/x")
        #expect(argument?.status == .unsupported && argument?.error.contains("vta-sim:/x") == true)
        #expect(try measure("vta-sim")?.status == .ok)

        // "vta-sim\0/x": protobuf-c used to hand it over as "vta-sim".
        var nul = Codec.encode(
            .measureRequest(
                MeasureRequest(requestID: 8, workload: smallConv, schedule: good, backend: "vta-simX/x")))
        let marker = Array("vta-simX".utf8)
        let at = try #require(nul.indices.first { Array(nul[$0...].prefix(marker.count)) == marker })
        nul[at + marker.count - 1] = 0
        try socket.send([nul])
        guard case .error(let e)? = try nextMessage(socket) else {
            Issue.record("a backend name with a NUL was served")
            return
        }
        #expect(e.code == .malformed && e.requestID == 8 && e.message.contains("backend"), "\(e)")

        // Workload kind 7: used to be read as a conv2d.
        var kind = Codec.encode(
            .measureRequest(MeasureRequest(requestID: 9, workload: .dense(n: 1, ci: 32, co: 32), schedule: Schedule())))
        let k = try #require((0..<kind.count - 1).first { kind[$0] == 0x08 && kind[$0 + 1] == 0x01 && $0 > 0 })
        kind[k + 1] = 7
        try socket.send([kind])
        guard case .error(let bad)? = try nextMessage(socket) else {
            Issue.record("an unknown workload kind was served")
            return
        }
        #expect(bad.code == .badRequest && bad.requestID == 9 && bad.message.contains("kind 7"), "\(bad)")
    }

    /// At the deadline the program's whole process group is killed and the runner stops waiting;
    /// when the program exits, what it left running is killed too. Both used to hold the slot
    /// (and the result) for as long as the script's `sleep` lived.
    @Test func theCommandBackendKillsTheProgramsProcessGroup() throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-sleep-\(UUID())").path
        let hangs = temporaryFile(
            "hangs.sh", "#!/bin/sh\nsleep 30 &\necho $! > \(pidFile)\nwait\n", executable: true)
        let leaves = temporaryFile(
            "leaves.sh",
            "#!/bin/sh\nsleep 30 &\necho $! > \(pidFile)\necho '{\"status\": \"OK\", \"cycles\": 77}'\n",
            executable: true)
        defer { for f in [hangs, leaves, pidFile] { try? FileManager.default.removeItem(atPath: f) } }
        for (script, expected) in [(hangs, MeasureStatus.timeout), (leaves, .ok)] {
            let runner = try RunnerProcess(["--slots", "1", "--backend", "command:\(script)", "--log-level", "warning"])
            defer { runner.stop() }
            let socket = try runner.dealer()
            defer { socket.close() }
            let start = ContinuousClock.now
            let request = MeasureRequest(
                requestID: 3, workload: smallConv, schedule: good, backend: "command", timeoutMs: 700)
            try socket.send([Codec.encode(.measureRequest(request))])
            guard case .measureResult(let r)? = try nextMessage(socket, timeoutMs: 25_000) else {
                Issue.record("\(script): no result")
                continue
            }
            let took = ContinuousClock.now - start
            #expect(r.status == expected, "\(script): \(r)")
            #expect(took < .seconds(4), "\(script): the result took \(took)")
            let sleeper = try #require(
                Int32(
                    (try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(
                        in: .whitespacesAndNewlines) ?? ""))
            #expect(gone(sleeper, within: .seconds(2)), "\(script): its sleep \(sleeper) outlived the request")
        }
    }

    /// True when `pid` has exited (gone, or a zombie waiting for init) within `within`.
    func gone(_ pid: Int32, within: Duration) -> Bool {
        let end = ContinuousClock.now + within
        repeat {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            // The state follows the parenthesized command name.
            if stat.isEmpty || stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).first == "Z" {
                return true
            }
            Thread.sleep(forTimeInterval: 0.02)
        } while ContinuousClock.now < end
        return false
    }

    static let echoTimeout = """
        #!/usr/bin/env python3
        import json, sys
        request = json.load(sys.stdin)
        print(json.dumps({"status": "OK", "cycles": request["timeout_ms"]}))
        """
}

/// The runner's queue itself, without sockets.
@Suite struct FairQueueTests {
    func job(_ id: UInt64, _ client: UInt8) -> Job {
        Job(client: [client], request: MeasureRequest(requestID: id, workload: smallConv, schedule: Schedule()))
    }

    /// Each pop used to copy the coordinator's whole array: 20,000 queued took 12 s to drain (debug).
    @Test func drainingIsLinear() {
        let queue = FairQueue()
        let n = 20_000
        for i in 0..<n { _ = queue.push(job(UInt64(i), 1), client: [1]) }
        let start = ContinuousClock.now
        for _ in 0..<n {
            _ = queue.pop()
            queue.finished()
        }
        let took = ContinuousClock.now - start
        #expect(queue.idle)
        #expect(took < .seconds(1), "draining \(n) took \(took)")
    }

    @Test func roundRobinOverPeersThenConnectionsAndLimits() {
        let queue = FairQueue()
        func push(_ id: UInt64, _ client: UInt8, _ peer: String) -> String? {
            queue.push(job(id, client), client: [client], peer: peer, limits: (3, 6))
        }
        #expect(push(10, 1, "a") == nil && push(11, 1, "a") == nil && push(12, 9, "a") == nil)
        #expect(push(13, 1, "a")?.contains("limit of 3 requests for this a") == true)
        #expect(push(14, 9, "a")?.contains("limit of 3") == true)  // another connection of the same peer
        #expect(push(20, 2, "b") == nil && push(21, 2, "b") == nil && push(22, 2, "b") == nil)
        #expect(push(30, 3, "c")?.contains("limit of 6 requests (all coordinators)") == true)
        #expect(queue.depth == 6)
        var order: [UInt64] = []
        for _ in 0..<4 { order.append(queue.pop()!.request.requestID) }
        // Peers take turns (a, b, a, b); within a, its connections do (1, 9).
        #expect(order == [10, 20, 12, 21])
        #expect(push(30, 3, "c") == nil)
        #expect(queue.drop(client: [1]) == 1)
        #expect(queue.pop()?.request.requestID == 22)
        #expect(queue.pop()?.request.requestID == 30)
        #expect(queue.depth == 0)
    }
}
