import Foundation
import Logging
import Metrics
import VTA
import Wire

/// What the dispatcher's state machine asks its I/O loop to do.
public enum DispatchAction: Equatable {
    /// Send a message to runner `runner` (an index into the dispatcher's runners).
    case send(runner: Int, Message)
    /// Hand a result to the caller of `Dispatcher.next`.
    case deliver(MeasureResult)
    /// Runner `runner` left and nothing refers to it any more: close its socket, then call
    /// `reclaimed(runner)`, after which a later `addRunner` may take its index. The state never
    /// reuses an index on its own, so a socket still open is never mistaken for a new runner's.
    case close(runner: Int)
}

/// Why a runner leaves the dispatcher's set (a tracker's leave, typed at the Wire edge): it
/// decides whether the work it holds is still coming.
public enum RunnerDeparture: Equatable, Sendable {
    /// It deregistered to drain (SIGTERM): it answers what it holds, so that work stays with it
    /// until its results come, its result deadlines pass, or it is lost.
    case drained
    /// It is gone (expired, replaced, no longer listed): what it held goes elsewhere at once.
    case lost(String)

    /// A tracker's reason; one this version does not know is read as a loss, the safe side.
    public init(_ reason: PoolEvent.LeaveReason?) {
        switch reason {
        case .deregistered: self = .drained
        case .expired: self = .lost("expired at the tracker")
        case .replaced: self = .lost("replaced at the tracker by another process")
        case nil: self = .lost("left the tracker's pool")
        }
    }
}

/// The dispatcher without sockets: runners (handshake, slots, credits), in-flight ownership,
/// retries, lost, stalled and restarted runners, what runners send that cannot be trusted, and
/// the no-runner deadline. Events come in (a message from runner i, a tick at time t, submitted
/// requests, a send that could not go out) and actions come out, so tests drive it with a clock
/// of their own.
///
/// Each runner gets at most `slots + prefetch` requests in flight (its credits), with `slots`
/// from its Welcome clamped to `maxSlotsPerRunner`. Every runner is pinged each `pingInterval`;
/// one silent for `lostAfterIntervals` intervals is lost and its in-flight requests go back to
/// the front of the queue (measurements are pure functions of their inputs, so a retry is
/// safe). A runner whose instance id changes (a restart on the same endpoint) is treated as
/// lost at once, then greeted again. A request without a result by its deadline (its timeout
/// for each wave of the runner's credits, plus `resultMargin`) goes elsewhere, and that runner
/// gets no new work until it returns a result again: a runner that answers pings but not
/// requests cannot hold work (its late result is still taken while the request waits in the
/// queue, sent to nobody else). Each loss, missed deadline or refusal (an Error naming the
/// request) is an attempt; a request after `maxAttempts` is answered INTERNAL. Results are
/// accepted only for a request in flight on the runner that sends them, once, after
/// `ResultCheck`; the rest are dropped and counted.
///
/// Runners join (`addRunner`) and leave (`removeRunner`) mid-run as a tracker says. A drained
/// one keeps what it holds until it answers it; a lost one loses it at once. A runner that left
/// and holds nothing is closed (`DispatchAction.close`), and its index is reused once the I/O
/// loop reports the socket closed (`reclaimed`), so the runner list stays bounded under churn.
public struct DispatcherState {
    public typealias Instant = ContinuousClock.Instant

    struct Pending {
        var request: MeasureRequest
        var attempts: Int
    }

    /// A request sent to a runner, until its result, its deadline or the runner's loss.
    struct Flight {
        var runner: Int
        var pending: Pending
        var deadline: Instant
    }

    struct Runner {
        var address: RunnerAddress
        var ready = false
        var everReady = false
        var lost = false
        var draining = false
        /// Out of the set (`removeRunner`), its socket being closed: it is never greeted again
        /// and what it sends is ignored. Its index is reused once the I/O loop says it closed it.
        var removed = false
        /// Deregistered (drains): gets no new work, and is removed once it holds none.
        var departing = false
        /// Missed a result deadline: no new work until it returns a result or restarts.
        var stalled = false
        var name: String?
        var version: String?
        /// The runner process's instance id, once a Welcome named one (0 is never stored).
        var instance: UInt64?
        var slots = 1
        var busy: Int?
        var queued: Int?
        var rtt: Duration?
        var lastHeard: Instant
        var nextPing: Instant
        var nextHello: Instant
        /// Pings sent and not answered yet (the latest few), so a Pong is timed only against a
        /// nonce this side sent, never against a number from the wire.
        var pings: [(nonce: UInt64, sent: Instant)] = []
        var inFlight = 0
        var completed = 0
        /// Results from this runner dropped (not in flight there, or answered already).
        var dropped = 0
        /// Why its Welcome was refused, while it is.
        var refused: String?
        /// What its Welcome says it does beyond timing one schedule.
        var features: Set<RunnerFeature> = []
        /// Kinds of complaint already logged about it: the first of each kind is logged, the rest
        /// only counted, so a peer repeating itself cannot flood the log.
        var warned: Set<String> = []
    }

    /// A failed send (a runner not connected yet) is tried again this soon.
    static let sendRetry: Duration = .milliseconds(50)
    /// Unanswered pings remembered per runner.
    static let pingsKept = 8

    let options: DispatcherOptions
    let logger: Logger
    /// Ping nonces are nanoseconds since this instant.
    let origin: Instant
    var runners: [Runner]
    /// Indices of removed runners whose sockets the I/O loop closed: `addRunner` takes these
    /// first, so churn does not grow `runners`.
    var vacant: [Int] = []
    /// `runners` never holds more (the ones given up front plus `maxTrackerRunners`): a tracker
    /// naming more is refused, not followed into unbounded memory.
    public let maxRunners: Int
    var queue = Ring<Pending>()
    /// Request id -> the runner it is in flight on, the one place ownership is kept.
    var inFlight: [UInt64: Flight] = [:]
    var done = Set<UInt64>()
    var readySince: Instant
    /// The latest instant a tick or message brought: `submit` dispatches at this time.
    var clock: Instant
    /// No flight's deadline is earlier than this (it may be earlier than the earliest one: a
    /// flight that finished leaves it behind, and then `tick` scans and moves it on).
    var flightDeadline: Instant
    /// Overdue requests back in the queue -> the runner they were overdue on: its late result
    /// is still taken while no other runner has been sent the request.
    var overdue: [UInt64: (runner: Int, request: MeasureRequest)] = [:]
    /// Results dropped because their request was already answered.
    public private(set) var duplicatesDropped = 0
    /// Results dropped because their request was not in flight on the runner that sent them:
    /// an id never sent, or sent to another runner.
    public private(set) var unexpectedDropped = 0
    /// Set while work waits and no runner has been serving for `unreachableAfter`.
    public private(set) var failure: DispatcherError?
    /// Since when the request at the queue's head needs a feature no live runner offers.
    var featureMissingSince: Instant?

    public init(
        runners: [RunnerAddress], options: DispatcherOptions, now: Instant,
        logger: Logger = Logger(label: "vtafarm.dispatcher")
    ) {
        self.options = options
        self.logger = logger
        origin = now
        readySince = now
        clock = now
        flightDeadline = now + .seconds(3600)
        self.runners = runners.map { Runner(address: $0, lastHeard: now, nextPing: now, nextHello: now) }
        maxRunners = runners.count + options.maxTrackerRunners
    }

    /// Adds a runner (a tracker said it joined) and returns its index, a reclaimed one when
    /// there is one; nil when the list holds `maxRunners` already. It is greeted on the next
    /// tick, so it gets work as soon as its Welcome arrives.
    public mutating func addRunner(_ address: RunnerAddress, now: Instant) -> Int? {
        let runner = Runner(address: address, lastHeard: now, nextPing: now, nextHello: now)
        if let i = vacant.popLast() {
            runners[i] = runner
            return i
        }
        guard runners.count < maxRunners else { return nil }
        runners.append(runner)
        return runners.count - 1
    }

    /// Takes runner `i` out of the set (a tracker said it left). A lost one is like a runner
    /// silent for too long: its in-flight requests go back to the front of the queue at once. A
    /// drained one gets nothing new but keeps what it holds, since it finishes and answers it;
    /// it leaves once it holds nothing (results, overdue requests or its loss take them back).
    public mutating func removeRunner(_ i: Int, _ departure: RunnerDeparture, actions: inout [DispatchAction]) {
        guard runners.indices.contains(i), !runners[i].removed else { return }
        switch departure {
        case .drained where runners[i].inFlight > 0:
            if !runners[i].departing {
                logger.info("runner \(who(i)) drains; waiting for its \(runners[i].inFlight) requests")
            }
            runners[i].departing = true
        case .drained:
            vacate(i, &actions)
        case .lost(let reason):
            if runners[i].inFlight > 0 || runners[i].ready { markLost(i, reason: reason, &actions) }
            vacate(i, &actions)
        }
        dispatch(&actions)
    }

    /// A departing runner at an endpoint that joins again (it registered anew) is taken back
    /// into service; true when runner `i` was departing. Its instance id tells whether it is
    /// the same process (its work still coming) or a new one (its work goes elsewhere).
    public mutating func resume(_ i: Int, actions: inout [DispatchAction]) -> Bool {
        guard runners.indices.contains(i), !runners[i].removed, runners[i].departing else { return false }
        runners[i].departing = false
        dispatch(&actions)
        return true
    }

    /// The I/O loop closed runner `i`'s socket (after `DispatchAction.close`): its index is free.
    public mutating func reclaimed(_ i: Int) {
        guard runners.indices.contains(i), runners[i].removed, !vacant.contains(i) else { return }
        vacant.append(i)
    }

    /// Runners in the list, removed ones waiting for their index to be reused included.
    public var runnerSlots: Int { runners.count }

    /// The index of the runner at `endpoint` still in the set, if any.
    public func runnerIndex(endpoint: String) -> Int? {
        runners.indices.first { !runners[$0].removed && runners[$0].address.endpoint == endpoint }
    }

    /// Work that waits for a runner or for its result.
    public var hasWork: Bool { !queue.isEmpty || !inFlight.isEmpty }

    /// Queues requests and hands out what the runners' credits allow.
    public mutating func submit(_ requests: [MeasureRequest], actions: inout [DispatchAction]) {
        for r in requests { queue.append(Pending(request: r, attempts: 0)) }
        dispatch(&actions)
    }

    /// Heartbeat at `now`: greetings, pings, lost runners, result deadlines, dispatch, the
    /// no-runner deadline.
    public mutating func tick(now: Instant, actions: inout [DispatchAction]) {
        clock = max(clock, now)
        for i in runners.indices where !runners[i].removed {
            if !runners[i].ready && !runners[i].departing && now >= runners[i].nextHello {
                actions.append(.send(runner: i, .hello(Hello(coordinator: options.coordinatorName))))
                runners[i].nextHello = now + options.pingInterval
            }
            if now >= runners[i].nextPing {
                let nonce = UInt64(bitPattern: nanoseconds(now))
                actions.append(.send(runner: i, .ping(nonce: nonce)))
                runners[i].pings.append((nonce, now))
                if runners[i].pings.count > Self.pingsKept { runners[i].pings.removeFirst() }
                runners[i].nextPing = now + options.pingInterval
            }
            if runners[i].ready && now - runners[i].lastHeard > options.pingInterval * options.lostAfterIntervals {
                markLost(i, reason: "silent for \(options.lostAfterIntervals) ping intervals", &actions)
            }
        }
        if now >= flightDeadline { expireFlights(now: now, &actions) }
        for i in runners.indices where runners[i].departing { vacateIfDone(i, &actions) }
        dispatch(&actions)
        if runners.contains(where: \.alive) {
            readySince = now
            failure = nil
            noteMissingFeature(now: now)
        } else if hasWork && now - readySince > options.unreachableAfter {
            let stalled = runners.filter { $0.ready && $0.stalled }.map(\.address.endpoint)
            let tried = runners.filter { !$0.removed }.map { r in
                r.address.endpoint + (r.refused.map { " (refused: \($0))" } ?? "")
            }
            failure = stalled.isEmpty ? .noRunnerReachable(tried) : .noResults(stalled)
        }
    }

    /// When `tick` has something to do next (the I/O loop sleeps until then unless woken).
    public func nextDeadline() -> Instant {
        let anyAlive = runners.contains(where: \.alive)
        var next =
            readySince + (anyAlive || !hasWork || failure != nil ? .seconds(3600) : options.unreachableAfter)
        if !inFlight.isEmpty { next = min(next, flightDeadline) }
        for r in runners where !r.removed {
            next = min(next, r.nextPing)
            if !r.ready { next = min(next, r.nextHello) }
            if r.ready { next = min(next, r.lastHeard + options.pingInterval * options.lostAfterIntervals) }
        }
        return next
    }

    /// A send the I/O loop could not make (the runner is not connected). Requests go back to
    /// the front of the queue in the order given; a greeting or ping is tried again soon.
    public mutating func sendFailed(runner i: Int, _ message: Message, now: Instant) {
        switch message {
        case .measureRequest(let request):
            if let f = takeBack(request.requestID, from: i) { queue.pushFront(f.pending) }
        case .hello: runners[i].nextHello = now + Self.sendRetry
        case .ping(let nonce):
            runners[i].pings.removeAll { $0.nonce == nonce }
            runners[i].nextPing = now + Self.sendRetry
        default: break
        }
    }

    /// A message from runner `i` at `now`.
    public mutating func received(_ message: Message, from i: Int, now: Instant, actions: inout [DispatchAction]) {
        guard !runners[i].removed else { return }  // a late frame from a socket being closed
        runners[i].lastHeard = now
        clock = max(clock, now)
        var isWelcome: Bool {
            if case .welcome = message { return true }
            return false
        }
        if runners[i].lost && !runners[i].ready && !isWelcome {
            greet(i, now: now, &actions)  // a returning runner
        }
        switch message {
        case .welcome(let w):
            welcomed(w, from: i, now: now, &actions)
        case .pong(let p):
            if p.instanceID != 0, let known = runners[i].instance, known != p.instanceID {
                restarted(i, instance: p.instanceID, now: now, &actions)
                return
            }
            if let k = runners[i].pings.firstIndex(where: { $0.nonce == p.nonce }) {
                runners[i].rtt = now - runners[i].pings[k].sent
                runners[i].pings.removeSubrange(...k)  // older ones will not be answered now
            } else {
                warnOnce(i, "pong", "runner \(who(i)) answered a ping nonce this coordinator did not send (\(p.nonce))")
            }
            runners[i].busy = p.busySlots
            runners[i].queued = p.queueDepth
        case .measureResult(let result):
            let wasStalled = runners[i].stalled
            runners[i].stalled = false  // it returns results again
            let id = result.requestID
            let request: MeasureRequest
            if inFlight[id]?.runner == i {
                request = takeBack(id, from: i)!.pending.request
            } else if let o = overdue[id], o.runner == i, !done.contains(id) {
                request = o.request  // late, but nobody else has it yet: still worth taking
                overdue[id] = nil
            } else {
                if wasStalled { dispatchTo(i, &actions) }
                runners[i].dropped += 1
                if done.contains(id) {
                    duplicatesDropped += 1
                    DispatcherMetrics.shared.duplicateResults.increment()
                } else {
                    unexpectedDropped += 1
                    DispatcherMetrics.shared.unexpectedResults.increment()
                    let elsewhere = inFlight[id].map { "in flight on \(who($0.runner))" } ?? "never sent to it"
                    warnOnce(
                        i, "result",
                        "runner \(who(i)) sent a result for request \(id), \(elsewhere): dropped (and counted; further ones are only counted)"
                    )
                }
                return
            }
            done.insert(id)  // a queued copy (of an overdue request) is skipped from now on
            runners[i].completed += 1
            var checked = ResultCheck.checked(result, for: request)
            if checked.runner.isEmpty { checked.runner = who(i) }
            if checked.status != result.status {
                logger.warning("runner \(who(i)): request \(id) answered as INTERNAL: \(checked.error)")
            }
            actions.append(.deliver(checked))
            dispatchTo(i, &actions)  // refill the credit this result freed
            vacateIfDone(i, &actions)
        case .error(var e):
            e.message = ResultCheck.truncated(e.message, ResultCheck.maxErrorBytes)  // it reaches logs and records
            let first = e.code == .shuttingDown && !runners[i].draining
            if e.code == .shuttingDown { runners[i].draining = true }
            if e.requestID != 0, let f = takeBack(e.requestID, from: i) {
                // Refused, not measured: try elsewhere. It counts as an attempt (a request every
                // runner refuses must not bounce for ever), except the refusal that tells this
                // coordinator a runner drains: draining runners get no new work, so that one
                // cannot repeat.
                var p = f.pending
                if !first { p.attempts += 1 }
                retry(p, why: "refused by \(p.attempts) runners, last \(who(i)): \(e)", &actions)
                vacateIfDone(i, &actions)
                dispatch(&actions)
            } else {
                warnOnce(i, "error \(e.code)", "runner \(who(i)) answered with an error: \(e)")
            }
        case .hello, .measureRequest, .ping:
            warnOnce(i, "direction", "runner \(who(i)) sent a message only coordinators send")
        case .register, .heartbeat, .deregister, .trackerAck, .subscribe, .query, .poolListing, .poolEvent:
            warnOnce(i, "tracker", "runner \(who(i)) sent a tracker's message")
        }
    }

    public var statuses: [RunnerStatus] {
        runners.filter { !$0.removed }.map { r in
            RunnerStatus(
                address: r.address, reachable: r.ready, runnerName: r.name, simulatorVersion: r.version,
                slots: r.everReady ? r.slots : nil, busySlots: r.busy, queueDepth: r.queued,
                roundTrip: r.rtt, inFlight: r.inFlight, completed: r.completed, dropped: r.dropped,
                stalled: r.stalled, refused: r.refused)
        }
    }

    // MARK: rules

    mutating func welcomed(_ w: Welcome, from i: Int, now: Instant, _ actions: inout [DispatchAction]) {
        guard w.protocolVersion == Wire.protocolVersion else {
            let why =
                "its Welcome speaks protocol version \(w.protocolVersion), this coordinator \(Wire.protocolVersion)"
            if runners[i].refused != why { logger.error("runner \(who(i)) refused: \(why)") }
            runners[i].refused = why
            if runners[i].ready { markLost(i, reason: why, &actions) }
            return
        }
        runners[i].refused = nil
        let newInstance = w.instanceID != 0 && runners[i].instance != nil && runners[i].instance != w.instanceID
        if newInstance && runners[i].inFlight > 0 {
            markLost(i, reason: "restarted (a Welcome from another instance)", &actions)
        }
        if runners[i].lost {
            logger.info("runner \(ResultCheck.truncated(w.runner, 64)) at \(runners[i].address.endpoint) is back")
        }
        if runners[i].lost || newInstance || w.instanceID == 0 {
            runners[i].draining = false
            runners[i].stalled = false
        }
        if w.instanceID != 0 { runners[i].instance = w.instanceID }
        runners[i].ready = true
        runners[i].everReady = true
        runners[i].lost = false
        runners[i].name = ResultCheck.truncated(w.runner, ResultCheck.maxNameBytes)
        runners[i].version = ResultCheck.truncated(w.simulatorVersion, ResultCheck.maxNameBytes)
        if w.slots > options.maxSlotsPerRunner {
            logger.warning(
                "runner \(who(i)) claims \(w.slots) slots; using the cap of \(options.maxSlotsPerRunner)")
        }
        runners[i].slots = min(max(1, w.slots), options.maxSlotsPerRunner)
        runners[i].features = Set(w.features.compactMap(RunnerFeature.init(rawValue:)))
        dispatch(&actions)
    }

    /// Runner `i` answered as another process: what was in flight there died with the old one.
    mutating func restarted(_ i: Int, instance: UInt64, now: Instant, _ actions: inout [DispatchAction]) {
        let old = runners[i].instance.map { String($0, radix: 16) } ?? "?"
        let why = "restarted (instance \(old) is now \(String(instance, radix: 16)))"
        if runners[i].ready || runners[i].inFlight > 0 {
            markLost(i, reason: why, &actions)
        } else {
            logger.info("runner \(who(i)) \(why)")
        }
        runners[i].instance = nil  // the next Welcome names the new one
        runners[i].pings = []
        greet(i, now: now, &actions)
    }

    /// Out of the set: the I/O loop closes its socket and reports back (`reclaimed`). Overdue
    /// requests it held are no longer waited for there (no socket will bring their results).
    mutating func vacate(_ i: Int, _ actions: inout [DispatchAction]) {
        runners[i].removed = true
        runners[i].departing = false
        runners[i].ready = false
        runners[i].pings = []
        if !overdue.isEmpty { overdue = overdue.filter { $0.value.runner != i } }
        actions.append(.close(runner: i))
    }

    /// A departing runner that holds nothing more leaves.
    mutating func vacateIfDone(_ i: Int, _ actions: inout [DispatchAction]) {
        guard runners[i].departing, !runners[i].removed, runners[i].inFlight == 0 else { return }
        logger.info("runner \(who(i)) drained and left")
        vacate(i, &actions)
    }

    mutating func greet(_ i: Int, now: Instant, _ actions: inout [DispatchAction]) {
        actions.append(.send(runner: i, .hello(Hello(coordinator: options.coordinatorName))))
        runners[i].nextHello = now + options.pingInterval
    }

    /// Takes request `id` off runner `i`; nil when it is not in flight on that runner.
    mutating func takeBack(_ id: UInt64, from i: Int) -> Flight? {
        guard let f = inFlight[id], f.runner == i else { return nil }
        inFlight[id] = nil
        runners[i].inFlight -= 1
        return f
    }

    /// Back to the front of the queue, or answered INTERNAL after `maxAttempts`.
    mutating func retry(_ p: Pending, why: String, _ actions: inout [DispatchAction]) {
        DispatcherMetrics.shared.redispatched.increment()
        if p.attempts >= options.maxAttempts {
            let id = p.request.requestID
            done.insert(id)
            actions.append(
                .deliver(
                    MeasureResult(requestID: id, status: .internalError, error: "request \(id) \(why); not retried")))
        } else {
            queue.pushFront(p)
        }
    }

    mutating func markLost(_ i: Int, reason: String, _ actions: inout [DispatchAction]) {
        DispatcherMetrics.shared.lostRunners.increment()
        runners[i].ready = false
        runners[i].lost = true
        let mine = inFlight.filter { $0.value.runner == i }.sorted { $0.key < $1.key }
        logger.warning("runner \(who(i)) lost (\(reason)); re-dispatching \(mine.count) requests")
        for (id, _) in mine.reversed() {
            var p = takeBack(id, from: i)!.pending
            p.attempts += 1
            retry(p, why: "was in flight on \(p.attempts) runners that were lost", &actions)
        }
    }

    /// Takes back every request whose result is overdue; its runner is stalled until it answers.
    mutating func expireFlights(now: Instant, _ actions: inout [DispatchAction]) {
        let late = inFlight.filter { $0.value.deadline <= now }.sorted { $0.key < $1.key }
        for (id, f) in late.reversed() {
            let i = f.runner
            if !runners[i].stalled {
                logger.warning(
                    "runner \(who(i)) returned no result for request \(id) by its deadline; it gets no new work until it returns one"
                )
            }
            runners[i].stalled = true
            var p = takeBack(id, from: i)!.pending
            p.attempts += 1
            retry(p, why: "had no result by its deadline on \(p.attempts) runners", &actions)
            if !done.contains(id) { overdue[id] = (i, p.request) }
        }
        flightDeadline = inFlight.values.map(\.deadline).min() ?? now + .seconds(3600)
    }

    /// How long a request sent now may take on runner `i`: its timeout for each wave of the
    /// runner's credits (the ones sent before it may run first), plus `resultMargin`.
    func allowance(_ request: MeasureRequest, on i: Int) -> Duration {
        let timeout = request.timeoutMs == 0 ? options.defaultRequestTimeout : .milliseconds(Int(request.timeoutMs))
        let slots = runners[i].slots
        let waves = 1 + (options.prefetch + slots - 1) / slots
        return timeout * waves + options.resultMargin
    }

    mutating func dispatch(_ actions: inout [DispatchAction]) {
        guard !queue.isEmpty else { return }
        // Least loaded first, relative to slots.
        let order = runners.indices.filter { runners[$0].serving }.sorted {
            Double(runners[$0].inFlight) / Double(runners[$0].slots)
                < Double(runners[$1].inFlight) / Double(runners[$1].slots)
        }
        for i in order { dispatchTo(i, &actions) }
    }

    /// Deadlines count from `clock`, the latest instant a tick or message brought.
    mutating func dispatchTo(_ i: Int, _ actions: inout [DispatchAction]) {
        guard runners[i].serving else { return }
        while runners[i].inFlight < runners[i].slots + options.prefetch, let p = queue.popFirst() {
            if done.contains(p.request.requestID) { continue }  // a re-queued copy already answered
            if let feature = Self.feature(needed: p.request), !runners[i].features.contains(feature) {
                queue.pushFront(p)  // for a runner that offers it; this one waits for plain work
                break
            }
            actions.append(.send(runner: i, .measureRequest(p.request)))
            if !overdue.isEmpty { overdue[p.request.requestID] = nil }
            let deadline = clock + allowance(p.request, on: i)
            inFlight[p.request.requestID] = Flight(runner: i, pending: p, deadline: deadline)
            flightDeadline = min(flightDeadline, deadline)
            runners[i].inFlight += 1
        }
    }

    /// The feature a runner must offer to take `request`, if any.
    static func feature(needed request: MeasureRequest) -> RunnerFeature? {
        request.search == nil ? nil : .layerSearch
    }

    /// Work that needs a feature no live runner offers fails after `unreachableAfter`, naming it,
    /// rather than waiting for ever behind runners that cannot take it.
    mutating func noteMissingFeature(now: Instant) {
        guard let head = queue.first, let feature = Self.feature(needed: head.request),
            !runners.contains(where: { $0.alive && $0.features.contains(feature) })
        else {
            featureMissingSince = nil
            return
        }
        let since = featureMissingSince ?? now
        featureMissingSince = since
        if now - since > options.unreachableAfter {
            let lacking = runners.filter { $0.alive }.map { $0.name ?? $0.address.endpoint }
            failure = .missingFeature(feature.rawValue, lacking)
        }
    }

    /// Logs `text` unless a complaint of this `kind` was logged about runner `i` before.
    mutating func warnOnce(_ i: Int, _ kind: String, _ text: String) {
        guard runners[i].warned.insert(kind).inserted else { return }
        logger.warning("\(text)")
    }

    func who(_ i: Int) -> String { runners[i].name ?? runners[i].address.endpoint }

    func nanoseconds(_ t: Instant) -> Int64 {
        (t - origin).inNanoseconds
    }
}

extension DispatcherState.Runner {
    /// May take new work.
    var serving: Bool { ready && !draining && !stalled && !departing }
    /// Will answer what it holds (a draining runner finishes its work): while one is, no
    /// failure is reported.
    var alive: Bool { ready && !stalled }
}

/// A double-ended queue on a circular buffer: O(1) append, push to the front and pop.
struct Ring<Element> {
    private var storage: [Element?] = Array(repeating: nil, count: 16)
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }
    var first: Element? { count == 0 ? nil : storage[head] }

    mutating func append(_ e: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = e
        count += 1
    }

    mutating func pushFront(_ e: Element) {
        if count == storage.count { grow() }
        head = (head - 1 + storage.count) % storage.count
        storage[head] = e
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let e = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return e
    }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: storage.count * 2)
        for k in 0..<count { bigger[k] = storage[(head + k) % storage.count] }
        storage = bigger
        head = 0
    }
}
