import Foundation
import Testing
import VTA
@testable import Wire
@testable import Coordinator

/// Real runner processes on loopback, started and killed by the tests.
@Suite(.serialized) struct FarmIntegrationTests {
    @Test func batchAcrossThreeRunnersCompletesOnce() throws {
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 3, slots: 1)
        defer { farm.stop() }
        let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
        defer { dispatcher.close() }
        let batch = requests(60)
        let results = try dispatcher.run(batch, timeout: .seconds(60))
        #expect(results.count == 60)
        #expect(Set(results.map(\.requestID)) == Set(batch.map(\.requestID)))
        #expect(Set(results.map(\.runner)).count == 3, "all three runners served: \(Set(results.map(\.runner)))")
        for r in results {
            #expect(r.status == .ok || r.status == .invalid, "\(r)")
            if r.status == .ok { #expect(r.cycles > 0) } else { #expect(!r.invalidReason.isEmpty) }
        }
        // The runners' answers equal the simulator run here.
        let spec = HardwareSpec(.stock)
        for r in results.prefix(10) {
            let req = batch.first { $0.requestID == r.requestID }!
            #expect(UInt64(ScheduleSpace.evaluate(req.workload, req.schedule, spec).cycles ?? 0) == r.cycles)
        }
    }

    @Test func killNineMidBatchLosesNothingAndDuplicatesNothing() throws {
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 3, slots: 1, backend: "delay:60")
        defer { farm.stop() }
        let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
        defer { dispatcher.close() }
        let batch = requests(45, backend: "delay")
        dispatcher.submit(batch)
        var results: [MeasureResult] = []
        while results.count < 6 { if let r = try dispatcher.next(timeout: .seconds(10)) { results.append(r) } }
        farm.signal(1, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(60)
        while results.count < batch.count && ContinuousClock.now < deadline {
            if let r = try dispatcher.next(timeout: .seconds(1)) { results.append(r) }
        }
        #expect(results.count == batch.count)
        #expect(Set(results.map(\.requestID)).count == results.count, "a request was reported twice")
        #expect(Set(results.map(\.requestID)) == Set(batch.map(\.requestID)))
        #expect(results.allSatisfy { $0.status == .ok })
        #expect(try dispatcher.next(timeout: .milliseconds(500)) == nil, "nothing more arrives")
        let lost = dispatcher.runnerStatuses[1]
        #expect(!lost.reachable)
    }

    @Test func killedCoordinatorLeavesRunnersServingAnother() throws {
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1, backend: "delay:20")
        defer { farm.stop() }
        // Coordinator A: a separate process, killed with SIGKILL while its batch is queued.
        let a = Process()
        a.executableURL = URL(fileURLWithPath: vtafarmBinary)
        a.arguments = ["measure", "--runner", farm.addresses[0].endpoint, "--workload", smallConv.description,
                       "--repeat", "500", "--backend", "delay"]
        a.standardOutput = Pipe()
        try a.run()
        Thread.sleep(forTimeInterval: 1.0)
        #expect(a.isRunning, "coordinator A finished too early to be killed mid-batch")
        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        // Coordinator B is served (fair queueing interleaves it with A's leftovers).
        let b = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
        defer { b.close() }
        let results = try b.run(requests(10, backend: "delay"), timeout: .seconds(20))
        #expect(results.count == 10 && results.allSatisfy { $0.status == .ok })
    }

    @Test func sigtermFinishesInFlightWorkAndExitsZero() throws {
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1, backend: "delay:300")
        defer { farm.stop() }
        let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
        defer { dispatcher.close() }
        dispatcher.submit(requests(3, backend: "delay"))
        var results: [MeasureResult] = []
        if let r = try dispatcher.next(timeout: .seconds(10)) { results.append(r) }
        farm.signal(0, SIGTERM)  // one done, one running, one queued (prefetch)
        while results.count < 3, let r = try dispatcher.next(timeout: .seconds(5)) { results.append(r) }
        #expect(results.count == 3 && results.allSatisfy { $0.status == .ok })
        #expect(farm.waitForExit(0, timeout: 10) == 0, "the runner exits with status 0 after draining")
    }

    @Test func lostRunnerRejoinsWhenItAnswersAgain() throws {
        // A runner on a fixed port, killed and started again on the same port.
        let first = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1, backend: "delay:20")
        let endpoint = first.addresses[0].endpoint
        let dispatcher = try Dispatcher(runners: first.addresses, options: dispatcherOptions())
        defer { dispatcher.close() }
        #expect(try dispatcher.run(requests(4, backend: "delay"), timeout: .seconds(20)).count == 4)
        first.signal(0, SIGKILL)
        _ = first.waitForExit(0, timeout: 5)
        let deadline = ContinuousClock.now + .seconds(10)
        while dispatcher.runnerStatuses[0].reachable && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!dispatcher.runnerStatuses[0].reachable, "the killed runner is marked lost")
        dispatcher.submit(requests(6, from: 100, backend: "delay"))  // waits: no runner
        let again = Process()
        again.executableURL = URL(fileURLWithPath: vtafarmBinary)
        again.arguments = ["runner", "--bind", endpoint, "--slots", "1", "--backend", "delay:20", "--log-level", "warning"]
        again.standardOutput = Pipe()
        try again.run()
        defer { again.terminate(); again.waitUntilExit() }
        var results: [MeasureResult] = []
        while results.count < 6, let r = try dispatcher.next(timeout: .seconds(15)) { results.append(r) }
        #expect(results.count == 6 && results.allSatisfy { $0.status == .ok })
        #expect(dispatcher.runnerStatuses[0].reachable)
    }

    @Test func aRequestThatKillsRunnersIsReportedNotRetriedForever() throws {
        // This backend kills the runner that runs it (its parent process).
        let killer = temporaryFile("killer.sh", "#!/bin/sh\nkill -9 $PPID\nsleep 5\n", executable: true)
        defer { try? FileManager.default.removeItem(atPath: killer) }
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 4, slots: 1, backend: "command:\(killer)")
        defer { farm.stop() }
        var options = dispatcherOptions()
        options.maxAttempts = 3
        let dispatcher = try Dispatcher(runners: farm.addresses, options: options)
        defer { dispatcher.close() }
        let poison = MeasureRequest(requestID: 1, workload: smallConv, schedule: Schedule(tileH: 8, tileW: 8, tileCI: 2, tileCO: 2),
                                    backend: "command")
        let results = try dispatcher.run([poison], timeout: .seconds(60))
        #expect(results.count == 1)
        #expect(results.first?.status == .internalError && results.first?.error.contains("lost") == true, "\(results)")
        let alive = dispatcher.runnerStatuses.filter(\.reachable).count
        #expect(alive == 1, "three runners died on the request, the fourth never got it")
    }

    @Test func noReachableRunnerIsAnErrorNotAHang() throws {
        let dispatcher = try Dispatcher(runners: [RunnerAddress(name: "nobody", endpoint: "tcp://127.0.0.1:9")],
                                        options: dispatcherOptions(unreachableAfter: .seconds(1)))
        defer { dispatcher.close() }
        dispatcher.submit(requests(1))
        let started = ContinuousClock.now
        #expect(throws: DispatcherError.self) { _ = try dispatcher.run(requests(1, from: 100), timeout: .seconds(30)) }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func timeoutsAndBackends() throws {
        let ok = temporaryFile("ok.py", """
            #!/usr/bin/env python3
            import json, os, sys
            request = json.load(sys.stdin)
            d = request["program_dir"]
            assert os.path.isfile(os.path.join(d, "program.json")) and os.path.isfile(os.path.join(d, "insn.bin")), "no program dir"
            assert request["workload"].startswith("conv2d:") and request["hardware"]["LOG_BLOCK_IN"] == 4
            print(json.dumps({"status": "OK", "cycles": 4242}))
            """, executable: true)
        let slow = temporaryFile("slow.sh", "#!/bin/sh\nsleep 20\n", executable: true)
        let garbage = temporaryFile("garbage.sh", "#!/bin/sh\necho not json\n", executable: true)
        defer { for f in [ok, slow, garbage] { try? FileManager.default.removeItem(atPath: f) } }
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 2, backend: "delay:500")
        defer { farm.stop() }
        let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
        defer { dispatcher.close() }
        let good = Schedule(tileH: 8, tileW: 8, tileCI: 2, tileCO: 2)
        var batch = [
            MeasureRequest(requestID: 1, workload: smallConv, schedule: good, backend: "delay", timeoutMs: 100),
            MeasureRequest(requestID: 2, workload: smallConv, schedule: good, backend: "no-such-backend"),
            MeasureRequest(requestID: 3, workload: smallConv, schedule: Schedule(tileH: 0, tileW: -3, tileCI: 1 << 40), backend: "vta-sim"),
            MeasureRequest(requestID: 4, workload: smallConv, schedule: good, backend: "vta-sim"),
        ]
        var badHardware = HardwareConfig.stock
        badHardware.logBlockIn = 99
        batch.append(MeasureRequest(requestID: 5, workload: smallConv, hardware: badHardware, schedule: good, backend: "vta-sim"))
        let results = Dictionary(uniqueKeysWithValues: try dispatcher.run(batch, timeout: .seconds(30)).map { ($0.requestID, $0) })
        #expect(results[1]?.status == .timeout)
        #expect(results[2]?.status == .unsupported && results[2]?.error.contains("no-such-backend") == true)
        #expect(results[3]?.status == .invalid && results[3]?.invalidReason == "knob_not_divisor")
        #expect(results[4]?.status == .ok && (results[4]?.cycles ?? 0) > 0)
        #expect(results[5]?.status == .invalid && results[5]?.error.contains("LOG_BLOCK_IN") == true)
        dispatcher.close()
        farm.stop()

        for (script, expected) in [(ok, MeasureStatus.ok), (slow, .timeout), (garbage, .runtimeError)] {
            let f = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1, backend: "command:\(script)")
            defer { f.stop() }
            let d = try Dispatcher(runners: f.addresses, options: dispatcherOptions())
            defer { d.close() }
            let r = try d.run([MeasureRequest(requestID: 9, workload: smallConv, schedule: good, backend: "command", timeoutMs: 1500)],
                              timeout: .seconds(30))
            #expect(r.first?.status == expected, "\(script): \(String(describing: r.first))")
            if expected == .ok { #expect(r.first?.cycles == 4242) }
        }
    }

    /// Frames a coordinator should never send: each answered with an Error, and the runner keeps serving.
    @Test func badInputIsAnsweredAndTheRunnerKeepsServing() throws {
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1)
        defer { farm.stop() }
        let context = ZMQContext()
        let socket = try ZMQSocket(context, .dealer)
        defer { socket.close() }
        try socket.connect(farm.addresses[0].endpoint)
        func exchange(_ frames: [[UInt8]]) throws -> Message? {
            try socket.send(frames)
            guard !ZMQPoller.readable([socket], timeoutMs: 5000).isEmpty, let reply = try socket.receive() else { return nil }
            return try Codec.decode(reply[0])
        }
        func errorCode(_ frames: [[UInt8]]) throws -> WireError.Code? {
            if case .error(let e)? = try exchange(frames) { return e.code }
            return nil
        }
        #expect(try errorCode([Array("garbage that is not protobuf".utf8)]) == .malformed)
        #expect(try errorCode([[0x0A, 0xFF]]) == .malformed)  // truncated
        #expect(try errorCode([Codec.encode(.ping(nonce: 1)), Codec.encode(.ping(nonce: 2))]) == .malformed)  // two frames
        #expect(try errorCode([[UInt8](repeating: 7, count: 2 << 20)]) == .tooLarge)
        #expect(try errorCode([Codec.encode(.ping(nonce: 1), version: 9)]) == .versionMismatch)
        #expect(try errorCode([Codec.encode(.welcome(Welcome(runner: "me", slots: 1, backends: [], simulatorVersion: "")))]) == .badRequest)
        guard case .welcome(let w)? = try exchange([Codec.encode(.hello(Hello(coordinator: "test")))]) else {
            Issue.record("no Welcome after the bad frames"); return
        }
        #expect(w.slots == 1 && w.backends.contains("vta-sim") && w.protocolVersion == protocolVersion)
        let request = MeasureRequest(requestID: 77, workload: smallConv, schedule: Schedule(tileH: 8, tileW: 8, tileCI: 2, tileCO: 2))
        guard case .measureResult(let r)? = try exchange([Codec.encode(.measureRequest(request))]) else {
            Issue.record("no result after the bad frames"); return
        }
        #expect(r.requestID == 77 && r.status == .ok)
    }
}
