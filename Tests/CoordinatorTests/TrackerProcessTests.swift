import Coordinator
import FarmTestSupport
import Foundation
import Testing
import Wire

/// A tracker and runners as real processes on loopback, with short heartbeats so that each test
/// takes a few seconds.
@Suite(.serialized) struct TrackerProcessTests {
    func runner(_ name: String, tracker: String, pool: String? = nil) throws -> FarmProcess {
        try FarmProcess(
            [
                "runner", "--bind", "tcp://127.0.0.1:*", "--slots", "1", "--name", name, "--tracker", tracker,
                "--exit-with-parent", "\(getpid())",
            ] + (pool.map { ["--pool", $0] } ?? []))
    }

    /// Polls the tracker until `done` holds of the listing (or `seconds` pass).
    func waitFor(_ tracker: String, seconds: Double = 5, _ done: ([RunnerInfo]) -> Bool) -> [RunnerInfo] {
        let deadline = Date().addingTimeInterval(seconds)
        var last: [RunnerInfo] = []
        while Date() < deadline {
            if let l = try? TrackerQuery.listing(tracker: tracker, pool: nil, wait: .seconds(1)) {
                last = l.runners
                if done(last) { return last }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return last
    }

    @Test func runnersRegisterAndASIGTERMedOneDeregistersAtOnce() throws {
        let tracker = try FarmProcess(
            ["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200", "--expiry", "25"])
        // A subscriber sees the joins and the leave as events.
        let context = ZMQContext()
        let sub = try ZMQSocket(context, .dealer)
        defer { sub.close() }
        try sub.connect(tracker.endpoint)
        _ = try sub.send(Codec.encode(.subscribe(pool: "", coordinator: "test")))
        let a = try runner("ra", tracker: tracker.endpoint)
        let b = try runner("rb", tracker: tracker.endpoint, pool: "zcu104")
        let both = waitFor(tracker.endpoint) { $0.count == 2 }
        #expect(both.map(\.name) == ["ra", "rb"] && both.map(\.pool) == ["default", "zcu104"], "\(tracker.log)")
        #expect(both.map(\.endpoint) == [a.endpoint, b.endpoint])
        let zcu = try TrackerQuery.listing(tracker: tracker.endpoint, pool: "zcu104")
        #expect(zcu.runners.map(\.name) == ["rb"])
        // The expiry is 25 x 200 ms = 5 s: a leave within 2 s is the Deregister, not silence.
        let stopped = Date()
        a.stop()
        let left = waitFor(tracker.endpoint, seconds: 2) { $0.count == 1 }
        #expect(left.map(\.name) == ["rb"], "\(a.log)")
        #expect(Date().timeIntervalSince(stopped) < 2)
        var events: [String] = []
        while let m = try nextEvent(sub, timeoutMs: 500) { events.append(m) }
        #expect(events.contains("+ra") && events.contains("+rb") && events.contains("-ra:deregistered"), "\(events)")
    }

    /// `--bind tcp://*:0` advertises the address the runner reaches the tracker from, here
    /// loopback, not the host name (which a coordinator on another host, or namespace, may
    /// resolve to its own loopback).
    @Test func aWildcardBoundRunnerAdvertisesItsRouteToTheTracker() throws {
        let tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
        let port = tracker.endpoint.split(separator: ":").last.map(String.init) ?? ""
        let a = try FarmProcess([
            "runner", "--bind", "tcp://*:0", "--slots", "1", "--name", "wild", "--tracker", "tcp://localhost:\(port)",
            "--exit-with-parent", "\(getpid())",
        ])
        let bound = a.endpoint.split(separator: ":").last.map(String.init) ?? "?"
        let listed = waitFor(tracker.endpoint) { $0.count == 1 }
        #expect(listed.map(\.endpoint) == ["tcp://127.0.0.1:\(bound)"], "\(a.log)")
    }

    @Test func runnersRegisterAgainWhenTheTrackerRestarts() throws {
        var tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
        let endpoint = tracker.endpoint
        let a = try runner("ra", tracker: endpoint)
        let b = try runner("rb", tracker: endpoint)
        #expect(waitFor(endpoint) { $0.count == 2 }.count == 2)
        tracker.stop()
        tracker = try FarmProcess(["tracker", "--bind", endpoint, "--heartbeat-ms", "200"])
        let back = waitFor(endpoint) { $0.count == 2 }
        #expect(back.map(\.name) == ["ra", "rb"], "\(a.log)\n\(b.log)")
        #expect(a.log.contains("registering again"))
    }

    /// A tuning job through the tracker: a runner started mid-run gets work, one SIGTERMed
    /// mid-run leaves and its work finishes elsewhere, and the tracker killed mid-run stops
    /// nothing: every measurement of the budget is recorded once.
    @Test func aCoordinatorThroughTheTrackerFollowsJoinsAndLeaves() throws {
        let tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
        func delayRunner(_ name: String) throws -> FarmProcess {
            try FarmProcess(
                [
                    "runner", "--bind", "tcp://127.0.0.1:*", "--slots", "1", "--name", name, "--backend", "delay:20",
                    "--tracker", tracker.endpoint, "--exit-with-parent", "\(getpid())",
                ])
        }
        let a = try delayRunner("ra")
        let b = try delayRunner("rb")
        _ = b
        #expect(waitFor(tracker.endpoint) { $0.count == 2 }.count == 2)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tracker-job-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let records = dir + "/r.jsonl"
        let job = Process()
        job.executableURL = URL(fileURLWithPath: vtafarmBinary)
        job.arguments = [
            "coordinator", "--model", "resnet18", "--tuner", "random", "--budget", "200", "--records", records,
            "--tracker", tracker.endpoint,
        ]
        job.currentDirectoryURL = URL(fileURLWithPath: dir)
        job.standardOutput = FileHandle.nullDevice
        let errPath = dir + "/job.log"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        job.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try job.run()
        func lines() -> [[String: Any]] {
            let text = (try? String(contentsOfFile: records, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        func waitRecords(_ n: Int) {
            let deadline = Date().addingTimeInterval(30)
            while lines().count < n && job.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        }
        waitRecords(20)
        let c = try delayRunner("rc")
        // It gets work while the two others still serve: within a ping interval of joining.
        let joined = Date()
        while !lines().contains(where: { $0["runner"] as? String == "rc" }) && job.isRunning
            && Date().timeIntervalSince(joined) < 5
        {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let tookWork = Date().timeIntervalSince(joined)
        #expect(tookWork < 2.5, "rc took its first measurement after \(tookWork) s")
        let beforeLeave = lines().count
        #expect(beforeLeave < 200, "the job ended before a runner could leave")
        a.stop()  // drains: deregisters, finishes what it holds
        waitRecords(beforeLeave + 30)
        tracker.stop()
        job.waitUntilExit()
        let log = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        #expect(job.terminationStatus == 0, "\(log)")
        let all = lines()
        #expect(all.count == 200, "\(log)")
        let byRunner = Dictionary(grouping: all, by: { $0["runner"] as? String ?? "?" }).mapValues(\.count)
        #expect((byRunner["rc"] ?? 0) > 0, "\(byRunner)\n\(c.log)")
        #expect((byRunner["rb"] ?? 0) > 0 && (byRunner["ra"] ?? 0) > 0, "\(byRunner)")
        #expect(Set(byRunner.keys).isSubset(of: ["ra", "rb", "rc"]), "\(byRunner)")
    }

    /// A runner SIGTERMed while it holds work deregisters, drains and answers that work itself:
    /// nothing it holds goes to the other runner, and nothing is measured twice.
    @Test func aDrainingRunnerAnswersWhatItHoldsAndNothingIsRedispatched() throws {
        let tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
        func delayRunner(_ name: String, ms: Int) throws -> FarmProcess {
            try FarmProcess(
                [
                    "runner", "--bind", "tcp://127.0.0.1:*", "--slots", "1", "--name", name, "--backend",
                    "delay:\(ms)", "--tracker", tracker.endpoint, "--exit-with-parent", "\(getpid())",
                ])
        }
        var options = dispatcherOptions()
        options.tracker = tracker.endpoint
        let dispatcher = try Dispatcher(runners: [], options: options)
        defer { dispatcher.close() }
        func waitUntil(_ what: String, _ done: ([RunnerStatus]) -> Bool) {
            let deadline = Date().addingTimeInterval(10)
            while !done(dispatcher.runnerStatuses) && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            #expect(done(dispatcher.runnerStatuses), "\(what): \(dispatcher.runnerStatuses)")
        }
        let slow = try delayRunner("slow", ms: 700)
        waitUntil("slow serves") { $0.count == 1 && $0[0].reachable }
        dispatcher.submit(requests(3, backend: "delay"))
        waitUntil("slow holds 3") { $0.first?.inFlight == 3 }
        let fast = try delayRunner("fast", ms: 1)
        waitUntil("fast serves") { $0.filter(\.reachable).count == 2 }
        slow.process.terminate()  // SIGTERM: it deregisters, then finishes what it holds
        var results: [MeasureResult] = []
        let deadline = Date().addingTimeInterval(20)
        while results.count < 3 && Date() < deadline {
            if let r = try dispatcher.next(timeout: .seconds(1)) { results.append(r) }
        }
        #expect(results.count == 3 && results.allSatisfy { $0.status == .ok }, "\(results)")
        #expect(results.map(\.runner) == ["slow", "slow", "slow"], "\(slow.log)\n\(fast.log)")
        #expect(dispatcher.droppedResults == (0, 0))
        slow.process.waitUntilExit()
        #expect(slow.process.terminationStatus == 0, "\(slow.log)")
        waitUntil("slow left the set") { $0.map(\.address.name) == ["fast"] }
    }

    /// Every runner of the pool drains at once (as `scancel` does to a Slurm job's runners) while
    /// each holds work: the coordinator takes what they finish, so no result is lost or measured
    /// twice. When it dropped a deregistered runner at once, it re-queued that work with no runner
    /// left to take it, threw away the results, and failed with "no runner is reachable".
    @Test func runnersDrainingAtOnceStillDeliverWhatTheyHold() throws {
        let tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
        let runners = try (0..<2).map { k in
            try FarmProcess(
                [
                    "runner", "--bind", "tcp://127.0.0.1:*", "--slots", "1", "--name", "d\(k)", "--backend",
                    "delay:1500", "--tracker", tracker.endpoint, "--exit-with-parent", "\(getpid())",
                ])
        }
        #expect(waitFor(tracker.endpoint) { $0.count == 2 }.count == 2)
        var options = dispatcherOptions(unreachableAfter: .seconds(5))
        options.tracker = tracker.endpoint
        let dispatcher = try Dispatcher(runners: [], options: options)
        defer { dispatcher.close() }
        // 1 slot + 2 prefetched each: all 6 are sent at once. SIGTERM once both runners say (in a
        // Pong) that they run one and queue two, so every request is theirs to finish.
        dispatcher.submit(requests(6, backend: "delay"))
        let sent = Date()
        func holding() -> Bool {
            let s = dispatcher.runnerStatuses
            return s.count == 2 && s.allSatisfy { $0.busySlots == 1 && $0.queueDepth == 2 }
        }
        while !holding() && Date().timeIntervalSince(sent) < 20 { Thread.sleep(forTimeInterval: 0.01) }
        #expect(holding(), "\(dispatcher.runnerStatuses.map { ($0.busySlots, $0.queueDepth) })")
        for r in runners { r.process.terminate() }  // SIGTERM, not waited for
        var results: [MeasureResult] = []
        var failure: Error?
        let deadline = Date().addingTimeInterval(30)
        while results.count < 6 && Date() < deadline {
            do { if let r = try dispatcher.next(timeout: .seconds(1)) { results.append(r) } } catch {
                failure = error
                break
            }
        }
        #expect(failure == nil, "\(failure.map { "\($0)" } ?? "")\n\(runners[0].log)")
        #expect(results.map(\.requestID).sorted() == Array(1...6))
        #expect(results.allSatisfy { $0.status == .ok }, "\(results.map(\.status))")
        for r in runners {
            r.stop()
            #expect(r.log.contains("finishing 1 running and 2 queued"), "\(r.log)")
        }
        #expect(dispatcher.runnerStatuses.isEmpty, "both left the set once they had answered")
    }

    /// Garbage, several frames, another protocol version and a hostile registration each get an
    /// Error, and the tracker keeps serving.
    @Test func badFramesGetErrorsAndTheTrackerKeepsServing() throws {
        let tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*"])
        let context = ZMQContext()
        let peer = try ZMQSocket(context, .dealer)
        defer { peer.close() }
        try peer.connect(tracker.endpoint)
        func answer() throws -> Message? {
            guard !ZMQPoller.readable([peer], timeoutMs: 5000).isEmpty, let frames = try peer.receive() else {
                return nil
            }
            return try Codec.decode(frames[0])
        }
        let hostile = RunnerInfo(name: "x", endpoint: "tcp://*:1", slots: 1, instanceID: 1)
        let frames: [[[UInt8]]] = [
            [Array("not protobuf at all".utf8)], [Codec.encode(.query(pool: "")), [1, 2]],
            [Codec.encode(.query(pool: ""), version: 9)], [Codec.encode(.register(hostile))],
        ]
        for f in frames {
            _ = try peer.send(f)
            guard case .error(let e) = try answer() else {
                Issue.record("no Error for \(f.map(\.count))")
                continue
            }
            #expect(!e.message.isEmpty)
        }
        _ = try peer.send(Codec.encode(.query(pool: "")))
        guard case .poolListing(let l) = try answer() else {
            Issue.record("the tracker stopped answering\n\(tracker.log)")
            return
        }
        #expect(l.runners.isEmpty)
    }

    @Test func tuneWithATrackerAloneUsesItsRunnersAndRecordsItsWholeBudget() throws {
        let tracker = try FarmProcess(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"])
        let r = try runner("tuned", tracker: tracker.endpoint, pool: "tune")
        #expect(waitFor(tracker.endpoint) { $0.count == 1 }.map(\.name) == ["tuned"], "\(r.log)")
        let model = temporaryFile(
            "tracker-tune.yaml",
            "name: one\nlayers:\n  - {name: conv, op: conv2d, N: 1, H: 8, W: 8, CI: 32, CO: 32, K: 3, S: 1, P: 1}\n")
        let records = temporaryFile("tracker-tune.jsonl", "")
        try? FileManager.default.removeItem(atPath: records)
        defer { for f in [records, records + ".filtered"] { try? FileManager.default.removeItem(atPath: f) } }
        let tune = Process()
        tune.executableURL = URL(fileURLWithPath: vtafarmBinary)
        tune.arguments = [
            "tune", "--tracker", tracker.endpoint, "--pool", "tune", "--model", model, "--budget", "6",
            "--tuner", "random", "--hw", "fixed", "--records", records,
        ]
        let out = Pipe()
        tune.standardOutput = out
        tune.standardError = out
        try tune.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        tune.waitUntilExit()
        #expect(tune.terminationStatus == 0, "\(text)")
        let lines = ((try? String(contentsOfFile: records, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines.count == 6, "the whole budget is recorded: \(text)")
        #expect(lines.allSatisfy { $0.contains("\"runner\":\"tuned\"") }, "measured by the tracker's runner only")
    }

    /// The next PoolEvent on `socket` as "+name" or "-name:reason", skipping the listing.
    func nextEvent(_ socket: ZMQSocket, timeoutMs: Int) throws -> String? {
        while !ZMQPoller.readable([socket], timeoutMs: timeoutMs).isEmpty, let frames = try socket.receive() {
            if case .poolEvent(let e) = try Codec.decode(frames[0]) {
                return e.kind == .joined ? "+\(e.runner.name)" : "-\(e.runner.name):\(e.reason?.rawValue ?? "")"
            }
        }
        return nil
    }
}
