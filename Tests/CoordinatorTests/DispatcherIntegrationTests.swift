import FarmTestSupport
import Foundation
import Testing
import VTA

@testable import Coordinator
@testable import Wire

/// The dispatcher against real runner processes on loopback, started and killed by the tests.
@Suite(.serialized) struct DispatcherIntegrationTests {
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
        a.arguments = [
            "measure", "--runner", farm.addresses[0].endpoint, "--workload", smallConv.description,
            "--repeat", "500", "--backend", "delay",
        ]
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
        while dispatcher.runnerStatuses[0].reachable && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(!dispatcher.runnerStatuses[0].reachable, "the killed runner is marked lost")
        dispatcher.submit(requests(6, from: 100, backend: "delay"))  // waits: no runner
        let again = Process()
        again.executableURL = URL(fileURLWithPath: vtafarmBinary)
        again.arguments = [
            "runner", "--bind", endpoint, "--slots", "1", "--backend", "delay:20", "--log-level", "warning",
        ]
        again.standardOutput = Pipe()
        try again.run()
        defer {
            again.terminate()
            again.waitUntilExit()
        }
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
        let poison = MeasureRequest(
            requestID: 1, workload: smallConv, schedule: Schedule(tileH: 8, tileW: 8, tileCI: 2, tileCO: 2),
            backend: "command")
        let results = try dispatcher.run([poison], timeout: .seconds(60))
        #expect(results.count == 1)
        #expect(results.first?.status == .internalError && results.first?.error.contains("lost") == true, "\(results)")
        let alive = dispatcher.runnerStatuses.filter(\.reachable).count
        #expect(alive == 1, "three runners died on the request, the fourth never got it")
    }

    @Test func noReachableRunnerIsAnErrorNotAHang() throws {
        let dispatcher = try Dispatcher(
            runners: [RunnerAddress(name: "nobody", endpoint: "tcp://127.0.0.1:9")],
            options: dispatcherOptions(unreachableAfter: .seconds(1)))
        defer { dispatcher.close() }
        dispatcher.submit(requests(1))
        let started = ContinuousClock.now
        #expect(throws: DispatcherError.self) { _ = try dispatcher.run(requests(1, from: 100), timeout: .seconds(30)) }
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
