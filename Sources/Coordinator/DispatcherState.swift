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
        /// Taken out of the set (`removeRunner`: a tracker said it left). Its index stays, so
        /// indices held by the I/O loop keep meaning the same runner; it is never greeted again.
        var removed = false
        /// Deregistered from the tracker (it drains): why, until nothing is in flight on it and
        /// it is removed. It takes no new work, but what it holds still comes back from it.
        var leaving: String?
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
    }

    /// Adds a runner (a tracker said it joined) and returns its index; it is greeted on the next
    /// tick, so it gets work as soon as its Welcome arrives.
    public mutating func addRunner(_ address: RunnerAddress, now: Instant) -> Int {
        runners.append(Runner(address: address, lastHeard: now, nextPing: now, nextHello: now))
        return runners.count - 1
    }

    /// Takes runner `i` out of the set (a tracker said it left): like a lost runner, its
    /// in-flight requests go back to the front of the queue, and it gets nothing more.
    public mutating func removeRunner(_ i: Int, reason: String, actions: inout [DispatchAction]) {
        guard runners.indices.contains(i), !runners[i].removed else { return }
        if inFlight.values.contains(where: { $0.runner == i }) || (runners[i].ready && runners[i].leaving == nil) {
            markLost(i, reason: reason, &actions)
        } else if runners[i].leaving != nil {
            logger.info("runner \(who(i)) answered what it held and leaves the set (\(reason))")
        }
        runners[i].removed = true
        runners[i].ready = false
        runners[i].pings = []
        dispatch(&actions)
    }

    /// Takes runner `i` out of the set once it has answered what it holds (a tracker said it
    /// deregistered: it drains, finishing its work, so that work is not measured again
    /// elsewhere, nor lost when every runner of the pool drains at once). It gets no new work
    /// from now on; lost or restarted before it is done, its requests are re-dispatched as
    /// any lost runner's.
    public mutating func retireRunner(_ i: Int, reason: String, actions: inout [DispatchAction]) {
        guard runners.indices.contains(i), !runners[i].removed, runners[i].leaving == nil else { return }
        runners[i].leaving = reason
        runners[i].draining = true
        removeRetired(&actions)
    }

    /// Whether runner `i` is out of the set (removed, or retired and done), so its socket can go.
    public func isRemoved(_ i: Int) -> Bool { runners[i].removed }

    /// Whether runner `i` is draining before its removal (`retireRunner`).
    public func isLeaving(_ i: Int) -> Bool { runners[i].leaving != nil }

    /// Removes the retiring runners with nothing in flight.
    mutating func removeRetired(_ actions: inout [DispatchAction]) {
        for i in runners.indices where !runners[i].removed && runners[i].inFlight == 0 {
            if let reason = runners[i].leaving { removeRunner(i, reason: reason, actions: &actions) }
        }
    }

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
            if !runners[i].ready && now >= runners[i].nextHello {
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
        removeRetired(&actions)
        dispatch(&actions)
        if runners.contains(where: \.alive) {
            readySince = now
            failure = nil
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
        defer { if runners[i].leaving != nil { removeRetired(&actions) } }
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
            runners[i].draining = runners[i].leaving != nil  // a retiring runner never takes work again
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
            actions.append(.send(runner: i, .measureRequest(p.request)))
            if !overdue.isEmpty { overdue[p.request.requestID] = nil }
            let deadline = clock + allowance(p.request, on: i)
            inFlight[p.request.requestID] = Flight(runner: i, pending: p, deadline: deadline)
            flightDeadline = min(flightDeadline, deadline)
            runners[i].inFlight += 1
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
    var serving: Bool { ready && !draining && !stalled }
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
