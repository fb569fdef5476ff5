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

    // MARK: what runners send is not trusted

    func pong(_ nonce: UInt64 = 0, instance: UInt64 = 0) -> Message {
        .pong(Pong(nonce: nonce, slots: 1, busySlots: 0, queueDepth: 0, instanceID: instance))
    }

    func welcome(
        _ s: inout DispatcherState, _ i: Int, slots: Int, instance: UInt64, version: UInt32 = Wire.protocolVersion,
        at t: Duration = .zero
    ) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        let w = Welcome(
            runner: "r\(i)", slots: slots, backends: ["vta-sim"], simulatorVersion: "test", protocolVersion: version,
            instanceID: instance)
        s.received(.welcome(w), from: i, now: t0 + t, actions: &actions)
        return actions
    }

    @Test func aResultIsAcceptedOnlyFromTheRunnerItIsInFlightOn() {
        var s = state(runners: 2, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 1)
        _ = welcome(&s, 1, slots: 1)
        s.submit(requests(1...2), actions: &actions)
        #expect(sentRequests(actions, to: 0) == [1] && sentRequests(actions, to: 1) == [2])
        actions = []
        s.received(result(1), from: 1, now: t0, actions: &actions)  // in flight on runner 0, not 1
        for madeUp: UInt64 in 100..<120 { s.received(result(madeUp), from: 1, now: t0, actions: &actions) }
        #expect(delivered(actions).isEmpty)
        #expect(s.unexpectedDropped == 21 && s.duplicatesDropped == 0)
        #expect(s.statuses.map(\.dropped) == [0, 21])
        #expect(s.statuses.map(\.inFlight) == [1, 1], "nothing was taken off a runner by another's result")
        s.received(result(1), from: 0, now: t0, actions: &actions)
        s.received(result(2), from: 1, now: t0, actions: &actions)
        #expect(delivered(actions).map(\.requestID) == [1, 2])
        #expect(!s.hasWork)
    }

    @Test func implausibleCyclesAreAnsweredInternalNeverOK() {
        var s = state(runners: 1, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 1)
        // C2 of ResNet-18: 115.6 M MACs, at least 451,584 cycles on the stock 1x16x16 core.
        let c2 = Workload.conv2d(h: 56, w: 56, ci: 64, co: 64, k: 3, s: 1, p: 1)
        #expect(ResultCheck.computeBound(c2, .stock) == 451_584)
        let cases: [(UInt64, MeasureStatus)] = [
            (0, .internalError), (19, .internalError), (451_583, .internalError), (451_584, .ok),
            (1 << 62, .internalError),
            (UInt64.max, .internalError), ((1 << 62) - 1, .ok),
        ]
        let batch = cases.indices.map {
            MeasureRequest(requestID: UInt64($0 + 1), workload: c2, schedule: Schedule())
        }
        s.submit(batch, actions: &actions)
        var answers: [MeasureResult] = []
        for (k, (cycles, _)) in cases.enumerated() {
            actions = []
            let r = MeasureResult(requestID: UInt64(k + 1), status: .ok, cycles: cycles, runner: "r0")
            s.received(.measureResult(r), from: 0, now: t0, actions: &actions)
            answers += delivered(actions)
        }
        #expect(answers.map(\.status) == cases.map(\.1))
        for a in answers where a.status == .internalError {
            #expect(a.cycles == 0 && a.invalidReason == "implausible_cycles", "\(a)")
            #expect(a.error.hasPrefix("implausible_cycles: "), "\(a.error)")
        }
        // Made-up cycles are the delay backend's job: only 0 and absurd counts are refused there.
        let delay = MeasureRequest(requestID: 1, workload: c2, schedule: Schedule(), backend: "delay")
        #expect(ResultCheck.implausibility(19, for: delay) == nil)
        #expect(ResultCheck.implausibility(0, for: delay) != nil)
        #expect(
            ResultCheck.isSynthetic("delay:20") && !ResultCheck.isSynthetic("delayed") && !ResultCheck.isSynthetic(""))
        // A NaN wall time (JSON has none) and a 1 MB error text do not reach the records as they came.
        let wild = MeasureResult(
            requestID: 1, status: .runtimeError, error: String(repeating: "e", count: 1 << 20), wallSeconds: .nan)
        let kept = ResultCheck.checked(wild, for: delay)
        #expect(kept.wallSeconds == 0 && kept.error.utf8.count < 5000)
    }

    @Test func cycleArithmeticNeverTraps() {
        #expect(CycleMath.product(1 << 62, 4) == Int.max)
        #expect(CycleMath.sum(Int.max - 1, 5) == Int.max)
        #expect(CycleMath.int(UInt64.max) == Int.max)
        #expect(CycleMath.product(7, 3) == 21 && CycleMath.sum(2, 3) == 5)
        let layer = Model.Layer(name: "C2", workload: .dense(ci: 16, co: 16), count: 4)
        let summary = TuneSummary(
            hardware: .stock, layers: [LayerOutcome(layer: layer, best: (Schedule(), 1 << 62), measured: 1)],
            seconds: 0, secondsPerProposal: 0, resumed: 0)
        #expect(summary.modelCycles == nil, "a sum that overflows is no model latency (Model.latency), not a trap")
    }

    @Test func aRunnerThatAnswersPingsButNoResultsLosesItsWork() {
        var s = state(runners: 2, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 1)
        let batch = requests(1...5).map { r in
            var r = r
            r.timeoutMs = 1000
            return r
        }
        s.submit(Array(batch.prefix(3)), actions: &actions)
        #expect(sentRequests(actions, to: 0) == [1])
        actions = welcome(&s, 1, slots: 1)
        s.received(result(2), from: 1, now: t0 + .milliseconds(500), actions: &actions)
        s.received(result(3), from: 1, now: t0 + .milliseconds(500), actions: &actions)
        #expect(sentRequests(actions, to: 1) == [2, 3])
        // Runner 0 keeps answering pings but not request 1: overdue after 1 s timeout + 10 s margin.
        var t: Duration = .zero
        while t < .seconds(12) {
            t += .milliseconds(500)
            actions = []
            s.received(pong(), from: 0, now: t0 + t, actions: &actions)
            s.received(pong(), from: 1, now: t0 + t, actions: &actions)
            s.tick(now: t0 + t, actions: &actions)
            if !sentRequests(actions).isEmpty { break }
        }
        #expect(t == .seconds(11) && sentRequests(actions, to: 1) == [1], "the overdue request went to runner 1")
        #expect(s.statuses[0].stalled && s.statuses[0].reachable && s.statuses[0].inFlight == 0)
        actions = []
        s.received(result(1), from: 1, now: t0 + t, actions: &actions)
        #expect(delivered(actions).map(\.requestID) == [1])
        s.submit(Array(batch.suffix(2)), actions: &actions)
        #expect(
            sentRequests(actions, to: 1) == [4] && sentRequests(actions, to: 0).isEmpty, "a stalled runner gets no work"
        )
        // A late answer from runner 0 is dropped, but shows it works again: it gets work again.
        actions = []
        s.received(result(1), from: 0, now: t0 + t, actions: &actions)
        #expect(delivered(actions).isEmpty && s.duplicatesDropped == 1)
        #expect(!s.statuses[0].stalled && sentRequests(actions, to: 0) == [5])
    }

    @Test func aLateResultIsTakenWhileNoOtherRunnerHasTheRequest() {
        // One runner that overran its own timeout (a stuck backend): the overdue request waits
        // in the queue, and the late answer is accepted rather than measured again.
        var s = state(runners: 1, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 1)
        var r = requests(1...1)[0]
        r.timeoutMs = 100
        s.submit([r], actions: &actions)
        s.received(pong(), from: 0, now: t0 + .seconds(11), actions: &actions)
        s.tick(now: t0 + .seconds(11), actions: &actions)
        #expect(s.statuses[0].stalled && s.statuses[0].inFlight == 0)
        actions = []
        s.received(result(1), from: 0, now: t0 + .seconds(15), actions: &actions)
        #expect(delivered(actions).map(\.requestID) == [1] && sentRequests(actions).isEmpty)
        #expect(!s.hasWork && s.unexpectedDropped == 0)
    }

    @Test func overdueOnEveryRunnerIsReportedAndAllStalledIsAnError() {
        var s = state(runners: 3, prefetch: 0)
        var actions: [DispatchAction] = []
        for i in 0..<3 { _ = welcome(&s, i, slots: 1) }
        var r = requests(1...1)[0]
        r.timeoutMs = 100
        s.submit([r], actions: &actions)
        var reported: [MeasureResult] = []
        var t: Duration = .zero
        func heartbeat() {
            t += .seconds(11)
            actions = []
            for i in 0..<3 { s.received(pong(), from: i, now: t0 + t, actions: &actions) }
            s.tick(now: t0 + t, actions: &actions)
            reported += delivered(actions)
        }
        for _ in 0..<3 { heartbeat() }
        #expect(reported.map(\.status) == [.internalError], "\(reported)")
        #expect(reported.first?.error.contains("deadline on 3 runners") == true, "\(reported)")
        #expect(s.statuses.allSatisfy(\.stalled) && s.failure == nil)
        s.submit(requests(2...2), actions: &actions)
        heartbeat()
        #expect(s.failure == .noResults(["tcp://r0:7600", "tcp://r1:7600", "tcp://r2:7600"]))
    }

    @Test func aRestartedRunnerIsSeenByItsInstanceIDAndItsWorkGoesElsewhere() {
        var s = state(runners: 2, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 2, instance: 0xA)
        s.submit(requests(1...4), actions: &actions)
        #expect(sentRequests(actions, to: 0) == [1, 2])
        _ = welcome(&s, 1, slots: 1, instance: 0xB)
        actions = []
        s.received(pong(instance: 0xA), from: 0, now: t0 + .milliseconds(500), actions: &actions)
        #expect(actions.isEmpty && s.statuses[0].inFlight == 2, "the same process: nothing happens")
        // Well within the ping window, another process answers on runner 0's endpoint.
        s.received(pong(instance: 0xA2), from: 0, now: t0 + .seconds(1), actions: &actions)
        #expect(!s.statuses[0].reachable && s.statuses[0].inFlight == 0)
        #expect(actions.contains { if case .send(0, .hello) = $0 { return true } else { return false } })
        actions = []
        s.received(result(3), from: 1, now: t0 + .seconds(1), actions: &actions)
        #expect(sentRequests(actions, to: 1) == [1], "runner 0's work is re-dispatched at once")
        // The new process welcomes; it gets work, and a later Welcome of yet another instance
        // takes back what was in flight on the one before.
        actions = welcome(&s, 0, slots: 2, instance: 0xA2, at: .seconds(1))
        #expect(sentRequests(actions, to: 0) == [2, 4])
        actions = welcome(&s, 0, slots: 2, instance: 0xA3, at: .seconds(2))
        #expect(sentRequests(actions, to: 0) == [2, 4], "re-sent to the restarted process")
    }

    @Test func anErrorNamingARequestCountsAsAnAttempt() {
        var s = state(runners: 1, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 1)
        s.submit(requests(1...1), actions: &actions)
        var sends = sentRequests(actions).count
        var reported: [MeasureResult] = []
        for _ in 0..<10 {
            actions = []
            let refusal = WireError(code: .badRequest, message: String(repeating: "n", count: 1 << 20), requestID: 1)
            s.received(.error(refusal), from: 0, now: t0, actions: &actions)
            sends += sentRequests(actions).count
            reported += delivered(actions)
        }
        #expect(sends == 3, "sent, refused, re-sent: 3 attempts in all")
        #expect(reported.map(\.status) == [.internalError] && reported[0].error.contains("refused"))
        #expect(reported.first.map { $0.error.utf8.count < 5000 } == true, "a runner's 1 MB message is cut")
        #expect(!s.hasWork)
        // The refusal that tells a runner drains is free: it gets no work after it.
        var d = state(runners: 2, prefetch: 0)
        _ = welcome(&d, 0, slots: 1)
        d.submit(requests(1...1), actions: &actions)
        actions = []
        d.received(
            .error(WireError(code: .shuttingDown, message: "bye", requestID: 1)), from: 0, now: t0, actions: &actions)
        #expect(sentRequests(actions).isEmpty)
        actions = welcome(&d, 1, slots: 1)
        #expect(sentRequests(actions, to: 1) == [1])
        #expect(d.inFlight[1]?.pending.attempts == 0)
    }

    @Test func pongsAndWelcomesAreValidatedNotTrusted() {
        var s = state(runners: 2)
        var actions: [DispatchAction] = []
        // A nonce this side never sent (the RTT arithmetic on it used to trap).
        s.received(pong(1 << 63), from: 0, now: t0, actions: &actions)
        s.received(pong(UInt64.max), from: 0, now: t0, actions: &actions)
        #expect(s.statuses[0].roundTrip == nil)
        s.tick(now: t0, actions: &actions)
        let nonce = actions.compactMap { a -> UInt64? in
            if case .send(0, .ping(let n)) = a { return n } else { return nil }
        }.first!
        s.received(pong(nonce), from: 0, now: t0 + .milliseconds(3), actions: &actions)
        #expect(s.statuses[0].roundTrip == .milliseconds(3))
        // Another protocol version: refused, and told why; it gets no work.
        actions = welcome(&s, 0, slots: 4, instance: 1, version: 7)
        #expect(!s.statuses[0].reachable && s.statuses[0].refused?.contains("protocol version 7") == true)
        // 10^9 slots: clamped to the documented cap, so it cannot take every request.
        _ = welcome(&s, 1, slots: 1_000_000_000, instance: 2)
        #expect(s.statuses[1].slots == s.options.maxSlotsPerRunner)
        s.submit(requests(1...2000), actions: &actions)
        #expect(s.statuses[1].inFlight == s.options.maxSlotsPerRunner + s.options.prefetch)
    }

    func closed(_ actions: [DispatchAction]) -> [Int] {
        actions.compactMap { if case .close(let i) = $0 { return i } else { return nil } }
    }

    /// Two runners, each holding two requests (one slot, one prefetch: 1 and 2 on runner 0),
    /// and two more queued.
    func twoBusyRunners(timeoutMs: UInt32 = 0) -> (DispatcherState, onOne: [UInt64]) {
        var s = state(runners: 2, prefetch: 1)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 1)
        _ = welcome(&s, 1, slots: 1)
        s.submit(
            requests(1...6).map { r in
                var r = r
                r.timeoutMs = timeoutMs
                return r
            }, actions: &actions)
        return (s, sentRequests(actions, to: 1))
    }

    @Test func aDeregisteredRunnerKeepsAndAnswersWhatItHolds() {
        var (s, onOne) = twoBusyRunners()
        #expect(onOne.count == 2)
        var actions: [DispatchAction] = []
        s.removeRunner(1, .drained, actions: &actions)
        #expect(actions.isEmpty, "nothing re-dispatched, nothing closed while it holds work")
        #expect(s.statuses.map(\.inFlight) == [2, 2])
        // Runner 0 finishing gets the queue, never runner 1's requests; runner 1 gets nothing new.
        s.received(result(1), from: 0, now: t0, actions: &actions)
        #expect(sentRequests(actions, to: 0) == [5])
        actions = []
        s.received(result(onOne[0]), from: 1, now: t0 + .milliseconds(5), actions: &actions)
        #expect(delivered(actions).map(\.requestID) == [onOne[0]])
        #expect(sentRequests(actions).isEmpty && closed(actions).isEmpty)
        actions = []
        s.received(result(onOne[1]), from: 1, now: t0 + .milliseconds(6), actions: &actions)
        #expect(delivered(actions).map(\.requestID) == [onOne[1]])
        #expect(closed(actions) == [1], "it leaves once it holds nothing")
        #expect(s.duplicatesDropped == 0 && s.unexpectedDropped == 0)
        #expect(s.statuses.map(\.address.name) == ["r0"])
    }

    @Test func anExpiredOrReplacedRunnersWorkGoesElsewhereAtOnce() {
        for reason in [PoolEvent.LeaveReason.expired, .replaced, nil] {
            var (s, onOne) = twoBusyRunners()
            var actions: [DispatchAction] = []
            s.removeRunner(1, RunnerDeparture(reason), actions: &actions)
            #expect(closed(actions) == [1])
            actions = []
            s.received(result(1), from: 0, now: t0, actions: &actions)
            #expect(sentRequests(actions, to: 0) == [onOne[0]], "its first request is next, before the queue")
        }
    }

    @Test func aDrainedRunnersOverdueWorkGoesElsewhere() {
        var (s, onOne) = twoBusyRunners(timeoutMs: 1000)
        var actions: [DispatchAction] = []
        s.removeRunner(1, .drained, actions: &actions)
        // Deadlines: 1 s timeout x 2 waves + 10 s. Runner 1 answers pings, never its requests.
        s.received(pong(), from: 1, now: t0 + .milliseconds(11500), actions: &actions)
        s.received(result(1), from: 0, now: t0 + .milliseconds(11500), actions: &actions)
        s.received(result(2), from: 0, now: t0 + .milliseconds(11500), actions: &actions)
        s.tick(now: t0 + .milliseconds(11500), actions: &actions)
        #expect(closed(actions).isEmpty && sentRequests(actions, to: 0) == [5, 6])
        actions = []
        s.received(pong(), from: 0, now: t0 + .milliseconds(12500), actions: &actions)
        s.tick(now: t0 + .milliseconds(12500), actions: &actions)
        #expect(closed(actions) == [1], "its overdue requests went back to the queue")
        actions = []
        s.received(result(5), from: 0, now: t0 + .milliseconds(12500), actions: &actions)
        #expect(sentRequests(actions, to: 0) == [onOne[0]])
    }

    @Test func aDrainedRunnerThatFallsSilentIsLost() {
        var (s, onOne) = twoBusyRunners()
        var actions: [DispatchAction] = []
        s.removeRunner(1, .drained, actions: &actions)
        s.received(pong(), from: 0, now: t0 + .milliseconds(3500), actions: &actions)
        s.tick(now: t0 + .milliseconds(3500), actions: &actions)
        #expect(closed(actions) == [1], "silent for 3 ping intervals")
        actions = []
        s.received(result(1), from: 0, now: t0 + .milliseconds(3500), actions: &actions)
        #expect(sentRequests(actions, to: 0) == [onOne[0]])
    }

    @Test func aDepartingRunnerThatJoinsAgainGetsWorkAgain() {
        var (s, onOne) = twoBusyRunners()
        var actions: [DispatchAction] = []
        s.removeRunner(1, .drained, actions: &actions)
        #expect(s.runnerIndex(endpoint: "tcp://r1:7600") == 1)
        #expect(s.resume(1, actions: &actions))
        s.received(result(onOne[0]), from: 1, now: t0, actions: &actions)
        #expect(sentRequests(actions, to: 1).count == 1)
    }

    @Test func churnReusesRunnerIndicesAndTheListStaysBounded() {
        var s = state(runners: 1, prefetch: 0)
        var actions: [DispatchAction] = []
        _ = welcome(&s, 0, slots: 1)
        var t: Duration = .zero
        var id: UInt64 = 0
        for cycle in 0..<1000 {
            t += .milliseconds(1)
            let endpoint = "tcp://joiner\(cycle):7600"
            guard let i = s.addRunner(RunnerAddress(name: "j\(cycle)", endpoint: endpoint), now: t0 + t) else {
                Issue.record("cycle \(cycle): no index for a runner joining")
                return
            }
            let w = Welcome(runner: "j\(cycle)", slots: 1, backends: ["vta-sim"], simulatorVersion: "t")
            actions = []
            s.received(.welcome(w), from: i, now: t0 + t, actions: &actions)
            id += 1
            s.submit(requests(id...id), actions: &actions)
            // Every other joiner drains with a request in flight and answers it; the rest are lost.
            if cycle % 2 == 0 {
                s.removeRunner(i, .drained, actions: &actions)
                for r in sentRequests(actions, to: i) { s.received(result(r), from: i, now: t0 + t, actions: &actions) }
            } else {
                s.removeRunner(i, .lost("expired"), actions: &actions)
            }
            for k in closed(actions) { s.reclaimed(k) }  // what the I/O loop does after closing
        }
        #expect(s.runnerSlots == 2, "1,000 joins and leaves reuse indices: \(s.runnerSlots) runner slots")
        #expect(s.statuses.count == 1)
    }

    @Test func theRunnerListIsCapped() {
        var options = DispatcherOptions()
        options.maxTrackerRunners = 2
        var s = DispatcherState(runners: [], options: options, now: t0)
        let added = (0..<3).map { s.addRunner(RunnerAddress(name: "j\($0)", endpoint: "tcp://j\($0):1"), now: t0) }
        #expect(added == [0, 1, nil])
        var actions: [DispatchAction] = []
        s.removeRunner(0, .lost("expired"), actions: &actions)
        #expect(s.addRunner(RunnerAddress(name: "x", endpoint: "tcp://x:1"), now: t0) == nil, "not closed yet")
        s.reclaimed(0)
        #expect(s.addRunner(RunnerAddress(name: "x", endpoint: "tcp://x:1"), now: t0) == 0)
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
