import Foundation
import Testing
import VTA
import Wire

@testable import Coordinator

/// Runners joining and leaving the dispatcher's set mid-run (what a tracker tells it), driven
/// without sockets.
struct DispatcherMembershipTests {
    let t0 = ContinuousClock.now

    func sent(_ actions: [DispatchAction], to runner: Int) -> [UInt64] {
        actions.compactMap {
            if case .send(let i, .measureRequest(let r)) = $0, i == runner { return r.requestID }
            return nil
        }
    }

    func hellos(_ actions: [DispatchAction], to runner: Int) -> Int {
        actions.filter { if case .send(runner, .hello) = $0 { true } else { false } }.count
    }

    func prefetching(_ n: Int) -> DispatcherOptions {
        var options = DispatcherOptions()
        options.prefetch = n
        return options
    }

    /// Runners r0 and r1, both welcomed, and `count` requests submitted: the state and the
    /// actions of the submit.
    func twoWelcomedRunners(_ options: DispatcherOptions, submitting count: Int) -> (DispatcherState, [DispatchAction])
    {
        let addresses = (0..<2).map { RunnerAddress(name: "r\($0)", endpoint: "tcp://r\($0):1") }
        var s = DispatcherState(runners: addresses, options: options, now: t0)
        var actions: [DispatchAction] = []
        s.tick(now: t0, actions: &actions)
        _ = welcome(&s, 0, at: .zero)
        _ = welcome(&s, 1, at: .zero)
        actions = []
        s.submit(
            (1...count).map {
                MeasureRequest(requestID: UInt64($0), workload: .dense(ci: 16, co: 16), schedule: Schedule())
            },
            actions: &actions)
        return (s, actions)
    }

    func welcome(_ s: inout DispatcherState, _ i: Int, at t: Duration) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        let w = Welcome(
            runner: "r\(i)", slots: 1, backends: ["vta-sim"], simulatorVersion: "t", instanceID: UInt64(i + 1))
        s.received(.welcome(w), from: i, now: t0 + t, actions: &actions)
        return actions
    }

    @Test func aJoiningRunnerIsGreetedAndGetsQueuedWork() {
        var options = DispatcherOptions()
        options.prefetch = 0
        var s = DispatcherState(runners: [RunnerAddress(name: "r0", endpoint: "tcp://r0:1")], options: options, now: t0)
        var actions: [DispatchAction] = []
        s.tick(now: t0, actions: &actions)
        _ = welcome(&s, 0, at: .zero)
        s.submit(
            (1...4).map { MeasureRequest(requestID: $0, workload: .dense(ci: 16, co: 16), schedule: Schedule()) },
            actions: &actions)
        #expect(sent(actions, to: 0) == [1])
        let i = s.addRunner(RunnerAddress(name: "r1", endpoint: "tcp://r1:1"), now: t0 + .milliseconds(10))
        #expect(i == 1 && s.runnerIndex(endpoint: "tcp://r1:1") == 1)
        actions = []
        s.tick(now: t0 + .milliseconds(10), actions: &actions)
        #expect(hellos(actions, to: 1) == 1)
        #expect(sent(welcome(&s, 1, at: .milliseconds(20)), to: 1) == [2])
    }

    @Test func aLeavingRunnersWorkIsRedispatchedAndItIsForgotten() {
        var (s, actions) = twoWelcomedRunners(prefetching(0), submitting: 3)
        let onOne = sent(actions, to: 1)
        #expect(onOne.count == 1)
        actions = []
        s.removeRunner(1, .lost("expired"), actions: &actions)
        #expect(s.runnerIndex(endpoint: "tcp://r1:1") == nil)
        #expect(s.statuses.map(\.address.name) == ["r0"])
        // Runner 0 finishes its request and then gets the one runner 1 held, before request 3.
        actions = []
        let first = 1 + 2 - onOne[0]  // the request runner 0 had (ids 1 and 2 went out first)
        s.received(
            .measureResult(MeasureResult(requestID: first, status: .ok, cycles: 5)), from: 0, now: t0, actions: &actions
        )
        #expect(sent(actions, to: 0) == onOne)
        // The removed runner is never greeted or pinged again, and what it still sends is ignored.
        actions = []
        s.tick(now: t0 + .seconds(30), actions: &actions)
        #expect(!actions.contains { if case .send(1, _) = $0 { true } else { false } })
        s.received(.measureResult(MeasureResult(requestID: onOne[0], status: .ok)), from: 1, now: t0, actions: &actions)
        #expect(!actions.contains { if case .deliver(let r) = $0 { r.requestID == onOne[0] } else { false } })
    }

    /// A runner that deregistered drains: what it holds comes back from it (not measured again
    /// elsewhere, and not lost when every runner drains), it gets nothing new, and it leaves the
    /// set with its last result. Lost before that, its work is re-dispatched as usual.
    @Test func aDeregisteredRunnerAnswersWhatItHoldsAndThenLeaves() {
        let options = prefetching(1)
        var (s, actions) = twoWelcomedRunners(options, submitting: 6)
        let onOne = sent(actions, to: 1)
        #expect(onOne.count == 2 && sent(actions, to: 0).count == 2)
        actions = []
        s.removeRunner(1, .drained, actions: &actions)
        #expect(sent(actions, to: 0).isEmpty, "nothing of runner 1 is re-dispatched")
        #expect(s.runnerIndex(endpoint: "tcp://r1:1") == 1 && s.runners[1].departing && !s.runners[1].removed)
        s.received(
            .measureResult(MeasureResult(requestID: onOne[0], status: .ok, cycles: 5)), from: 1, now: t0,
            actions: &actions)
        #expect(actions.contains { if case .deliver(let r) = $0 { r.requestID == onOne[0] } else { false } })
        #expect(sent(actions, to: 1).isEmpty, "a retiring runner gets no new work")
        #expect(!s.runners[1].removed)
        actions = []
        s.received(
            .measureResult(MeasureResult(requestID: onOne[1], status: .ok, cycles: 5)), from: 1, now: t0,
            actions: &actions)
        #expect(actions.contains { if case .deliver(let r) = $0 { r.requestID == onOne[1] } else { false } })
        #expect(s.runners[1].removed && s.runnerIndex(endpoint: "tcp://r1:1") == nil)
        #expect(s.statuses.map(\.address.name) == ["r0"])

        // Runner 0 retires too and then goes silent: what it held is re-queued, and it is removed.
        actions = []
        s.removeRunner(0, .drained, actions: &actions)
        let held = s.inFlight.keys.sorted()
        #expect(held.count == 2 && !s.runners[0].removed)
        s.tick(now: t0 + options.pingInterval * (options.lostAfterIntervals + 1), actions: &actions)
        #expect(s.runners[0].removed && s.inFlight.isEmpty)
        #expect(s.queue.count == 4, "the 2 it held and the 2 never sent wait for a runner")
    }
}
