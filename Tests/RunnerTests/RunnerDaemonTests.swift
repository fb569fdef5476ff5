import FarmTestSupport
import Foundation
import Testing
import VTA

@testable import Coordinator
@testable import Wire

/// A real runner process on loopback: backends, timeouts, bad frames, SIGTERM drain.
@Suite(.serialized) struct RunnerDaemonTests {
    @Test func sigtermFinishesInFlightWorkAndExitsZero() throws {
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1, backend: "delay:300")
        defer { farm.stop() }
        // Lost only after 5 s of silence: on a loaded CI machine a runner once missed three 250 ms
        // pings while draining, its work went back to the queue, and with no other runner the
        // dispatcher rightly gave up. This test is about the drain, not about loss.
        let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions(lostAfter: 20))
        defer { dispatcher.close() }
        dispatcher.submit(requests(3, backend: "delay"))  // slots 1 + prefetch 2: all three go at once
        var results: [MeasureResult] = []
        if let r = try dispatcher.next(timeout: .seconds(10)) { results.append(r) }
        farm.signal(0, SIGTERM)  // one done, one running, one queued (prefetch)
        // 20 s per result: a loaded CI machine, not the runner, is what can be slow here.
        while results.count < 3, let r = try dispatcher.next(timeout: .seconds(20)) { results.append(r) }
        #expect(results.count == 3 && results.allSatisfy { $0.status == .ok })
        #expect(farm.waitForExit(0, timeout: 10) == 0, "the runner exits with status 0 after draining")
    }

    /// A drain's last results leave the runner before it exits. Its sockets linger 0 ms, so the
    /// result sent just before the router closed used to be dropped now and then (one runner in
    /// eight, draining in a Slurm job): the coordinator saw the runner go silent holding it.
    /// Four runners each drain their last result at exit, twice over. SIGTERM once each says
    /// (in a Pong) it runs one and queues two, so that all twelve are theirs to finish.
    @Test func aDrainingRunnersLastResultReachesTheCoordinator() throws {
        for _ in 0..<2 {
            let farm = try LocalFarm(executable: vtafarmBinary, runners: 4, slots: 1, backend: "delay:1000")
            defer { farm.stop() }
            let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions(lostAfter: 40))
            defer { dispatcher.close() }
            dispatcher.submit(requests(12, backend: "delay"))  // 3 each: 1 running, 2 prefetched
            func holding() -> Bool { dispatcher.runnerStatuses.allSatisfy { $0.busySlots == 1 && $0.queueDepth == 2 } }
            let sent = Date()
            while !holding() && Date().timeIntervalSince(sent) < 20 { Thread.sleep(forTimeInterval: 0.01) }
            #expect(holding(), "\(dispatcher.runnerStatuses.map { ($0.busySlots, $0.queueDepth) })")
            var results: [MeasureResult] = []
            for i in 0..<4 { farm.signal(i, SIGTERM) }
            while results.count < 12, let r = try dispatcher.next(timeout: .seconds(8)) { results.append(r) }
            #expect(results.map(\.requestID).sorted() == Array(1...12), "every result, each once, before the exit")
            for i in 0..<4 { #expect(farm.waitForExit(i, timeout: 10) == 0) }
        }
    }

    @Test func timeoutsAndBackends() throws {
        let ok = temporaryFile(
            "ok.py",
            """
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
            MeasureRequest(
                requestID: 3, workload: smallConv, schedule: Schedule(tileH: 0, tileW: -3, tileCI: 1 << 40),
                backend: "vta-sim"),
            MeasureRequest(requestID: 4, workload: smallConv, schedule: good, backend: "vta-sim"),
        ]
        var badHardware = HardwareConfig.stock
        badHardware.logBlockIn = 99
        batch.append(
            MeasureRequest(requestID: 5, workload: smallConv, hardware: badHardware, schedule: good, backend: "vta-sim")
        )
        let results = Dictionary(
            uniqueKeysWithValues: try dispatcher.run(batch, timeout: .seconds(30)).map { ($0.requestID, $0) })
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
            let r = try d.run(
                [
                    MeasureRequest(
                        requestID: 9, workload: smallConv, schedule: good, backend: "command", timeoutMs: 1500)
                ],
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
            guard !ZMQPoller.readable([socket], timeoutMs: 5000).isEmpty, let reply = try socket.receive() else {
                return nil
            }
            return try Codec.decode(reply[0])
        }
        func errorCode(_ frames: [[UInt8]]) throws -> WireError.Code? {
            if case .error(let e)? = try exchange(frames) { return e.code }
            return nil
        }
        #expect(try errorCode([Array("garbage that is not protobuf".utf8)]) == .malformed)
        #expect(try errorCode([[0x0A, 0xFF]]) == .malformed)  // truncated
        // Two frames in one message.
        #expect(try errorCode([Codec.encode(.ping(nonce: 1)), Codec.encode(.ping(nonce: 2))]) == .malformed)
        #expect(try errorCode([[UInt8](repeating: 7, count: maxEnvelopeBytes + 1)]) == .tooLarge)
        #expect(try errorCode([Codec.encode(.ping(nonce: 1), version: 9)]) == .versionMismatch)
        #expect(
            try errorCode([Codec.encode(.welcome(Welcome(runner: "me", slots: 1, backends: [], simulatorVersion: "")))])
                == .badRequest)
        guard case .welcome(let w)? = try exchange([Codec.encode(.hello(Hello(coordinator: "test")))]) else {
            Issue.record("no Welcome after the bad frames")
            return
        }
        #expect(w.slots == 1 && w.backends.contains("vta-sim") && w.protocolVersion == protocolVersion)
        let request = MeasureRequest(
            requestID: 77, workload: smallConv, schedule: Schedule(tileH: 8, tileW: 8, tileCI: 2, tileCO: 2))
        guard case .measureResult(let r)? = try exchange([Codec.encode(.measureRequest(request))]) else {
            Issue.record("no result after the bad frames")
            return
        }
        #expect(r.requestID == 77 && r.status == .ok)
    }
}
