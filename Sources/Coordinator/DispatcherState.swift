import Foundation
import Logging
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
/// retries, lost and rejoining runners, duplicate results and the no-runner deadline. Events come
/// in (a message from runner i, a tick at time t, submitted requests, a send that could not go
/// out) and actions come out, so tests drive it with a clock of their own.
///
/// Each runner gets at most `slots + prefetch` requests in flight (its credits). Every runner is
/// pinged each `pingInterval`; one silent for `lostAfterIntervals` intervals is lost and its
/// in-flight requests go back to the front of the queue (measurements are pure functions of
/// their inputs, so a retry is safe); a request in flight on `maxAttempts` lost runners is
/// answered INTERNAL. A lost runner that speaks again is greeted again and rejoins. Results
/// are accepted once per request id; later copies are dropped and counted.
public struct DispatcherState {
    public typealias Instant = ContinuousClock.Instant

    struct Pending {
        var request: MeasureRequest
        var attempts: Int
    }

    struct Runner {
        var address: RunnerAddress
        var ready = false
        var everReady = false
        var lost = false
        var draining = false
        var name: String?
        var version: String?
        var slots = 1
        var busy: Int?
        var queued: Int?
        var rtt: Duration?
        var lastHeard: Instant
        var nextPing: Instant
        var nextHello: Instant
        var inFlight = 0
        var completed = 0
    }

    /// A failed send (a runner not connected yet) is tried again this soon.
    static let sendRetry: Duration = .milliseconds(50)

    let options: DispatcherOptions
    let logger: Logger
    /// Ping nonces are nanoseconds since this instant.
    let origin: Instant
    var runners: [Runner]
    var queue = Ring<Pending>()
    /// Request id -> the runner it is in flight on, the one place ownership is kept.
    var inFlight: [UInt64: (runner: Int, pending: Pending)] = [:]
    var done = Set<UInt64>()
    var readySince: Instant
    /// Results dropped because their request was already answered.
    public private(set) var duplicatesDropped = 0
    /// Set while work waits and no runner has been ready for `unreachableAfter`.
    public private(set) var failure: DispatcherError?

    public init(
        runners: [RunnerAddress], options: DispatcherOptions, now: Instant,
        logger: Logger = Logger(label: "vtafarm.dispatcher")
    ) {
        self.options = options
        self.logger = logger
        origin = now
        readySince = now
        self.runners = runners.map { Runner(address: $0, lastHeard: now, nextPing: now, nextHello: now) }
    }

    /// Work that waits for a runner or for its result.
    public var hasWork: Bool { !queue.isEmpty || !inFlight.isEmpty }

    /// Queues requests and hands out what the runners' credits allow.
    public mutating func submit(_ requests: [MeasureRequest], actions: inout [DispatchAction]) {
        for r in requests { queue.append(Pending(request: r, attempts: 0)) }
        dispatch(&actions)
    }

    /// Heartbeat at `now`: greetings, pings, lost runners, dispatch, the no-runner deadline.
    public mutating func tick(now: Instant, actions: inout [DispatchAction]) {
        for i in runners.indices {
            if !runners[i].ready && now >= runners[i].nextHello {
                actions.append(.send(runner: i, .hello(Hello(coordinator: options.coordinatorName))))
                runners[i].nextHello = now + options.pingInterval
            }
            if now >= runners[i].nextPing {
                actions.append(.send(runner: i, .ping(nonce: UInt64(bitPattern: nanoseconds(now)))))
                runners[i].nextPing = now + options.pingInterval
            }
            if runners[i].ready && now - runners[i].lastHeard > options.pingInterval * options.lostAfterIntervals {
                markLost(i, reason: "silent for \(options.lostAfterIntervals) ping intervals", &actions)
            }
        }
        dispatch(&actions)
        let anyReady = runners.contains { $0.ready }
        if anyReady {
            readySince = now
            failure = nil
        } else if hasWork && now - readySince > options.unreachableAfter {
            failure = .noRunnerReachable(runners.map(\.address.endpoint))
        }
    }

    /// When `tick` has something to do next (the I/O loop sleeps until then unless woken).
    public func nextDeadline() -> Instant {
        let anyReady = runners.contains { $0.ready }
        var next = readySince + (anyReady || !hasWork || failure != nil ? .seconds(3600) : options.unreachableAfter)
        for r in runners {
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
            requeue(request.requestID, from: i)
        case .hello: runners[i].nextHello = now + Self.sendRetry
        case .ping: runners[i].nextPing = now + Self.sendRetry
        default: break
        }
    }

    /// A message from runner `i` at `now`.
    public mutating func received(_ message: Message, from i: Int, now: Instant, actions: inout [DispatchAction]) {
        runners[i].lastHeard = now
        var isWelcome: Bool {
            if case .welcome = message { return true }
            return false
        }
        if runners[i].lost && !runners[i].ready && !isWelcome {
            // Greet a returning runner.
            actions.append(.send(runner: i, .hello(Hello(coordinator: options.coordinatorName))))
            runners[i].nextHello = now + options.pingInterval
        }
        switch message {
        case .welcome(let w):
            if runners[i].lost { logger.info("runner \(w.runner) at \(runners[i].address.endpoint) is back") }
            runners[i].ready = true
            runners[i].everReady = true
            runners[i].lost = false
            runners[i].draining = false
            runners[i].name = w.runner
            runners[i].version = w.simulatorVersion
            runners[i].slots = max(1, w.slots)
            dispatch(&actions)
        case .pong(let p):
            runners[i].rtt = .nanoseconds(nanoseconds(now) - Int64(bitPattern: p.nonce))
            runners[i].busy = p.busySlots
            runners[i].queued = p.queueDepth
        case .measureResult(var result):
            let id = result.requestID
            if let f = inFlight.removeValue(forKey: id) { runners[f.runner].inFlight -= 1 }
            guard done.insert(id).inserted else {
                duplicatesDropped += 1
                return
            }
            runners[i].completed += 1
            if result.runner.isEmpty { result.runner = runners[i].name ?? runners[i].address.endpoint }
            actions.append(.deliver(result))
            dispatchTo(i, &actions)  // refill the credit this result freed
        case .error(let e):
            if e.code == .shuttingDown { runners[i].draining = true }
            if e.requestID != 0, requeue(e.requestID, from: i) {
                dispatch(&actions)  // refused, not measured: try elsewhere
            } else {
                logger.warning("runner \(runners[i].address.endpoint) answered with an error: \(e)")
            }
        case .hello, .measureRequest, .ping:
            logger.warning("runner \(runners[i].address.endpoint) sent a message only coordinators send")
        }
    }

    public var statuses: [RunnerStatus] {
        runners.map { r in
            RunnerStatus(
                address: r.address, reachable: r.ready, runnerName: r.name, simulatorVersion: r.version,
                slots: r.everReady ? r.slots : nil, busySlots: r.busy, queueDepth: r.queued,
                roundTrip: r.rtt, inFlight: r.inFlight, completed: r.completed)
        }
    }

    /// Takes request `id` back from runner `i` (it was not measured there) to the front of the
    /// queue; false when it is not in flight on that runner.
    @discardableResult
    mutating func requeue(_ id: UInt64, from i: Int) -> Bool {
        guard let f = inFlight[id], f.runner == i else { return false }
        inFlight[id] = nil
        runners[i].inFlight -= 1
        queue.pushFront(f.pending)
        return true
    }

    mutating func markLost(_ i: Int, reason: String, _ actions: inout [DispatchAction]) {
        runners[i].ready = false
        runners[i].lost = true
        let mine = inFlight.filter { $0.value.runner == i }.sorted { $0.key < $1.key }
        let who = runners[i].name ?? runners[i].address.endpoint
        logger.warning("runner \(who) lost (\(reason)); re-dispatching \(mine.count) requests")
        var again: [Pending] = []
        for (id, f) in mine {
            inFlight[id] = nil
            var p = f.pending
            p.attempts += 1
            if p.attempts >= options.maxAttempts {
                done.insert(id)
                let why = "request \(id) was in flight on \(p.attempts) runners that were lost; not retried"
                actions.append(.deliver(MeasureResult(requestID: id, status: .internalError, error: why)))
            } else {
                again.append(p)
            }
        }
        runners[i].inFlight = 0
        for p in again.reversed() { queue.pushFront(p) }
    }

    mutating func dispatch(_ actions: inout [DispatchAction]) {
        guard !queue.isEmpty else { return }
        // Least loaded first, relative to slots.
        let order = runners.indices.filter { runners[$0].ready && !runners[$0].draining }.sorted {
            Double(runners[$0].inFlight) / Double(runners[$0].slots)
                < Double(runners[$1].inFlight) / Double(runners[$1].slots)
        }
        for i in order { dispatchTo(i, &actions) }
    }

    mutating func dispatchTo(_ i: Int, _ actions: inout [DispatchAction]) {
        guard runners[i].ready && !runners[i].draining else { return }
        while runners[i].inFlight < runners[i].slots + options.prefetch, let p = queue.popFirst() {
            if done.contains(p.request.requestID) { continue }  // a re-queued copy already answered
            actions.append(.send(runner: i, .measureRequest(p.request)))
            inFlight[p.request.requestID] = (i, p)
            runners[i].inFlight += 1
        }
    }

    func nanoseconds(_ t: Instant) -> Int64 {
        (t - origin).inNanoseconds
    }
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
