import Foundation
import Testing
import VTA
import Wire

@testable import Coordinator

/// The dispatcher's rules driven directly: no sockets, a clock of the test's own.
struct DispatcherStateTests {
    let t0 = ContinuousClock.now

    func state(runners: Int, prefetch: Int = 2) -> DispatcherState {
        var options = DispatcherOptions()
        options.prefetch = prefetch
        let addresses = (0..<runners).map { RunnerAddress(name: "r\($0)", endpoint: "tcp://r\($0):7600") }
        return DispatcherState(runners: addresses, options: options, now: t0)
    }

    func requests(_ ids: ClosedRange<UInt64>) -> [MeasureRequest] {
        ids.map { MeasureRequest(requestID: $0, workload: .dense(ci: 16, co: 16), schedule: Schedule()) }
    }

    func welcome(_ s: inout DispatcherState, _ i: Int, slots: Int, at t: Duration = .zero) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        let w = Welcome(runner: "r\(i)", slots: slots, backends: ["vta-sim"], simulatorVersion: "test")
        s.received(.welcome(w), from: i, now: t0 + t, actions: &actions)
        return actions
    }

    func sentRequests(_ actions: [DispatchAction], to runner: Int? = nil) -> [UInt64] {
        actions.compactMap {
            if case .send(let i, .measureRequest(let r)) = $0, runner == nil || i == runner { return r.requestID }
            return nil
        }
    }

    func delivered(_ actions: [DispatchAction]) -> [MeasureResult] {
        actions.compactMap { if case .deliver(let r) = $0 { return r } else { return nil } }
    }

    func result(_ id: UInt64) -> Message { .measureResult(MeasureResult(requestID: id, status: .ok, cycles: 7)) }

    @Test func greetsAndPingsUntilWelcomed() {
        var s = state(runners: 1)
        var actions: [DispatchAction] = []
        s.tick(now: t0, actions: &actions)
        #expect(actions.contains(.send(runner: 0, .hello(Hello(coordinator: s.options.coordinatorName)))))
        #expect(actions.contains { if case .send(0, .ping) = $0 { return true } else { return false } })
        actions = []
        s.tick(now: t0 + .milliseconds(10), actions: &actions)
        #expect(actions.isEmpty)  // nothing due before the next ping interval
        s.sendFailed(runner: 0, .hello(Hello(coordinator: "x")), now: t0 + .milliseconds(10))
        s.tick(now: t0 + .milliseconds(70), actions: &actions)
        #expect(actions.count == 1)  // a greeting that could not go out is tried again soon
    }

    @Test func creditsAreSlotsPlusPrefetch() {
        var s = state(runners: 2, prefetch: 1)
        var actions: [DispatchAction] = []
        s.submit(requests(1...10), actions: &actions)
        #expect(actions.isEmpty)  // no runner ready
        actions = welcome(&s, 0, slots: 2)
        #expect(sentRequests(actions) == [1, 2, 3])
        actions = welcome(&s, 1, slots: 1)
        #expect(sentRequests(actions) == [4, 5])
        actions = []
        s.received(result(2), from: 0, now: t0, actions: &actions)
        #expect(delivered(actions).map(\.requestID) == [2])
        #expect(delivered(actions).first?.runner == "r0")
        #expect(sentRequests(actions, to: 0) == [6])  // the freed credit is refilled at once
        #expect(s.statuses.map(\.inFlight) == [3, 2])
    }

    @Test func aLostRunnersWorkGoesElsewhereAndItRejoins() {
        var s = state(runners: 2, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 2)
        _ = welcome(&s, 1, slots: 2)
        s.submit(requests(1...6), actions: &actions)
        #expect(sentRequests(actions, to: 0) == [1, 2])
        #expect(sentRequests(actions, to: 1) == [3, 4])
        actions = []
        // Runner 1 keeps answering pings; runner 0 falls silent for more than 3 intervals.
        for second in 1...4 {
            s.received(
                .pong(Pong(nonce: 0, slots: 2, busySlots: 2, queueDepth: 0)), from: 1,
                now: t0 + .seconds(second), actions: &actions)
        }
        s.tick(now: t0 + .milliseconds(3100), actions: &actions)
        #expect(!s.statuses[0].reachable && s.statuses[0].inFlight == 0)
        actions = []
        s.received(result(3), from: 1, now: t0 + .seconds(4), actions: &actions)
        #expect(sentRequests(actions, to: 1) == [1])  // the lost runner's work first, in id order
        actions = []
        s.received(result(4), from: 1, now: t0 + .seconds(4), actions: &actions)
        #expect(sentRequests(actions, to: 1) == [2])
        // Runner 0 speaks again: it is greeted, and rejoins on its Welcome.
        actions = []
        s.received(
            .pong(Pong(nonce: 0, slots: 2, busySlots: 0, queueDepth: 0)), from: 0,
            now: t0 + .seconds(5), actions: &actions)
        #expect(actions.contains { if case .send(0, .hello) = $0 { return true } else { return false } })
        actions = welcome(&s, 0, slots: 2, at: .seconds(5))
        #expect(s.statuses[0].reachable)
        #expect(sentRequests(actions, to: 0) == [5, 6])
    }

    @Test func aDuplicateResultIsDroppedAndCounted() {
        var s = state(runners: 1)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 1)
        s.submit(requests(1...1), actions: &actions)
        actions = []
        s.received(result(1), from: 0, now: t0, actions: &actions)
        s.received(result(1), from: 0, now: t0, actions: &actions)
        #expect(delivered(actions).count == 1)
        #expect(s.duplicatesDropped == 1)
        #expect(!s.hasWork)
    }

    @Test func aRequestLostOnThreeRunnersIsReportedNotRetried() {
        var s = state(runners: 1, prefetch: 0)
        var actions: [DispatchAction] = []
        s.submit(requests(1...1), actions: &actions)
        var t: Duration = .zero
        var reported: [MeasureResult] = []
        for _ in 0..<3 {
            actions = welcome(&s, 0, slots: 1, at: t)
            #expect(sentRequests(actions) == [1])
            t += .seconds(4)
            actions = []
            s.tick(now: t0 + t, actions: &actions)
            reported += delivered(actions)
        }
        #expect(reported.map(\.status) == [.internalError])
        #expect(!s.hasWork)
        actions = welcome(&s, 0, slots: 1, at: t)
        #expect(sentRequests(actions).isEmpty)
        // The runner answered after all: too late, a duplicate.
        s.received(result(1), from: 0, now: t0 + t, actions: &actions)
        #expect(delivered(actions).isEmpty && s.duplicatesDropped == 1)
    }

    @Test func aRefusedOrUnsentRequestGoesBackToTheFront() {
        var s = state(runners: 1, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 2)
        s.submit(requests(1...4), actions: &actions)
        #expect(sentRequests(actions) == [1, 2])
        s.sendFailed(runner: 0, .measureRequest(requests(2...2)[0]), now: t0)
        actions = []
        s.received(.error(WireError(code: .tooLarge, message: "no", requestID: 1)), from: 0, now: t0, actions: &actions)
        #expect(sentRequests(actions) == [1, 2])
    }

    @Test func noRunnerReachableIsReportedAfterTheDeadline() {
        var s = state(runners: 2)
        var actions: [DispatchAction] = []
        s.tick(now: t0 + .seconds(20), actions: &actions)
        #expect(s.failure == nil)  // no work waits
        s.submit(requests(1...1), actions: &actions)
        #expect(s.nextDeadline() <= t0 + .seconds(10))
        s.tick(now: t0 + .seconds(11), actions: &actions)
        #expect(s.failure == .noRunnerReachable(["tcp://r0:7600", "tcp://r1:7600"]))
        _ = welcome(&s, 1, slots: 1, at: .seconds(12))
        s.tick(now: t0 + .seconds(12), actions: &actions)
        #expect(s.failure == nil)
    }

    @Test func theRingKeepsOrderAcrossGrowth() {
        var ring = Ring<Int>()
        for k in 0..<40 { ring.append(k) }
        for _ in 0..<30 { _ = ring.popFirst() }
        for k in 40..<100 { ring.append(k) }
        ring.pushFront(-1)
        var out: [Int] = []
        while let k = ring.popFirst() { out.append(k) }
        #expect(out == [-1] + Array(30..<100))
    }
}
