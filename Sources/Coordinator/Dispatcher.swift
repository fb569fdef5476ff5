import Foundation
import Logging
import VTA
import Wire

/// Where a runner is, as cluster.yaml or the embedded local farm gives it.
public struct RunnerAddress: Sendable, Hashable {
    public var name: String
    public var endpoint: String
    /// With CURVE: the runner's Z85 public key.
    public var curveServerKey: String?
    public init(name: String, endpoint: String, curveServerKey: String? = nil) {
        self.name = name; self.endpoint = endpoint; self.curveServerKey = curveServerKey
    }
}

public struct DispatcherOptions: Sendable {
    /// Requests kept in flight per runner beyond its slots, so a runner never waits for work.
    public var prefetch = 2
    public var pingInterval: Duration = .seconds(1)
    /// A runner silent for this many ping intervals is lost; its work goes elsewhere.
    public var lostAfterIntervals = 3
    /// A request whose runner was lost this many times is reported, not retried again.
    public var maxAttempts = 3
    /// With work waiting and no runner ready for this long, `next` throws `noRunnerReachable`.
    public var unreachableAfter: Duration = .seconds(10)
    /// Shown to runners in Hello.
    public var coordinatorName = "vtafarm pid \(getpid())"
    /// CURVE client keys (Z85) for runners that have a `curveServerKey`.
    public var curvePublicKey: String?
    public var curveSecretKey: String?
    public init() {}
}

public enum DispatcherError: Error, CustomStringConvertible, Equatable {
    case noRunnerReachable([String])
    case closed
    public var description: String {
        switch self {
        case .noRunnerReachable(let endpoints):
            return "no runner is reachable (tried \(endpoints.joined(separator: ", "))): are the runners started, and the addresses and CURVE keys right?"
        case .closed: return "the dispatcher is closed"
        }
    }
}

/// What the dispatcher knows about one runner (for `vtafarm cluster status`).
public struct RunnerStatus: Sendable {
    public var address: RunnerAddress
    public var reachable: Bool
    public var runnerName: String?
    public var simulatorVersion: String?
    public var slots: Int?
    public var busySlots: Int?
    public var queueDepth: Int?
    public var roundTrip: Duration?
    public var inFlight: Int
    public var completed: Int
}

/// Ships measurement requests to runners and yields results as they arrive (no batch barrier:
/// one slow measurement never holds back the others).
///
/// Flow control gives each runner at most `slots + prefetch` requests in flight. Every runner is
/// pinged each `pingInterval`; one silent for `lostAfterIntervals` intervals is marked lost and
/// its in-flight requests go back to the front of the queue (measurements are pure functions of
/// their inputs, so a retry is safe). A lost runner that answers again is greeted again and
/// rejoins. Results are accepted once per request id; later copies are dropped.
public final class Dispatcher: @unchecked Sendable {
    public let options: DispatcherOptions
    let addresses: [RunnerAddress]
    let logger: Logger
    private let lock = NSCondition()
    private var submitted: [Pending] = []
    private var output: [MeasureResult] = []
    private var failure: DispatcherError?
    private var closing = false
    private var statuses: [RunnerStatus]
    private var thread: Thread?

    struct Pending {
        var request: MeasureRequest
        var attempts: Int
    }

    public init(runners: [RunnerAddress], options: DispatcherOptions = DispatcherOptions(),
                logger: Logger = Logger(label: "vtafarm.dispatcher")) throws {
        guard !runners.isEmpty else { throw DispatcherError.noRunnerReachable([]) }
        self.addresses = runners
        self.options = options
        self.logger = logger
        statuses = runners.map { RunnerStatus(address: $0, reachable: false, inFlight: 0, completed: 0) }
        let loop = Loop(dispatcher: self)
        try loop.setUp()
        let t = Thread { loop.run() }
        t.name = "dispatcher"
        thread = t
        t.start()
    }

    deinit { close() }

    private var lastRequestID: UInt64 = 0

    /// A request id no earlier call returned: jobs that share a dispatcher one after another
    /// (a flow's stages) take their ids here, since a repeated id is dropped as a duplicate.
    public func newRequestID() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        lastRequestID += 1
        return lastRequestID
    }

    /// Queues requests (ids must be unique for this dispatcher). Thread-safe.
    public func submit(_ requests: [MeasureRequest]) {
        lock.lock()
        submitted.append(contentsOf: requests.map { Pending(request: $0, attempts: 0) })
        lock.unlock()
    }

    /// The next result, waiting up to `timeout`; nil when none arrived in time. Throws when no
    /// runner has been reachable for `unreachableAfter` while work waits.
    public func next(timeout: Duration) throws -> MeasureResult? {
        let until = Date().addingTimeInterval(timeout.inSeconds)
        lock.lock()
        defer { lock.unlock() }
        while output.isEmpty {
            if let failure { throw failure }
            if !lock.wait(until: until) { break }
        }
        if output.isEmpty, let failure { throw failure }
        return output.isEmpty ? nil : output.removeFirst()
    }

    /// Submits a batch and collects all its results (in completion order).
    public func run(_ requests: [MeasureRequest], timeout: Duration = .seconds(3600)) throws -> [MeasureResult] {
        submit(requests)
        var results: [MeasureResult] = []
        let deadline = ContinuousClock.now + timeout
        while results.count < requests.count {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            if let r = try next(timeout: min(left, .seconds(1))) { results.append(r) }
        }
        return results
    }

    public var runnerStatuses: [RunnerStatus] {
        lock.lock(); defer { lock.unlock() }
        return statuses
    }

    /// Stops the dispatcher thread and closes its sockets. Unfinished requests are abandoned.
    public func close() {
        lock.lock()
        let t = thread
        closing = true
        thread = nil
        lock.unlock()
        guard let t else { return }
        while !t.isFinished { Thread.sleep(forTimeInterval: 0.001) }
    }

    // MARK: shared state accessed by the loop thread

    fileprivate func takeSubmitted() -> [Pending] {
        lock.lock(); defer { lock.unlock() }
        let s = submitted
        submitted = []
        return s
    }

    fileprivate func deliver(_ results: [MeasureResult], statuses: [RunnerStatus], duplicates: Int) {
        lock.lock()
        output.append(contentsOf: results)
        self.statuses = statuses
        if !results.isEmpty { lock.broadcast() }
        lock.unlock()
    }

    fileprivate func fail(_ error: DispatcherError?) {
        lock.lock()
        failure = error
        lock.broadcast()
        lock.unlock()
    }

    fileprivate var isClosing: Bool { lock.lock(); defer { lock.unlock() }; return closing }
}

/// The dispatcher's thread: owns the context and every socket.
private final class Loop: @unchecked Sendable {
    unowned let dispatcher: Dispatcher
    let context = ZMQContext()
    var runners: [RunnerState] = []
    var queue = PendingQueue()                 // waiting for a runner
    var owner: [UInt64: Int] = [:]             // request id -> runner index it is in flight on
    var done = Set<UInt64>()
    var readySince = ContinuousClock.now
    var options: DispatcherOptions { dispatcher.options }

    final class RunnerState {
        var address: RunnerAddress
        let socket: ZMQSocket
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
        var lastHeard = ContinuousClock.now
        var lastPing = ContinuousClock.now - .seconds(3600)
        var lastHello = ContinuousClock.now - .seconds(3600)
        var inFlight: [UInt64: Dispatcher.Pending] = [:]
        var completed = 0
        init(address: RunnerAddress, socket: ZMQSocket) { self.address = address; self.socket = socket }
    }

    init(dispatcher: Dispatcher) { self.dispatcher = dispatcher }

    func setUp() throws {
        for address in dispatcher.addresses {
            let socket = try ZMQSocket(context, .dealer)
            try socket.setImmediate(true)        // never queue requests for a runner not connected
            try socket.setReconnectInterval(ms: 100, maxMs: 1000)
            try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
            if let serverKey = address.curveServerKey {
                guard let pub = options.curvePublicKey, let sec = options.curveSecretKey else {
                    throw DispatcherError.noRunnerReachable(["\(address.endpoint) needs CURVE client keys"])
                }
                try socket.makeCurveClient(serverKey: serverKey, publicKey: pub, secretKey: sec)
            }
            try socket.connect(address.endpoint)
            runners.append(RunnerState(address: address, socket: socket))
        }
    }

    func send(_ r: RunnerState, _ message: Message) -> Bool {
        (try? r.socket.send(Codec.encode(message), dontWait: true)) ?? false
    }

    func run() {
        defer { for r in runners { r.socket.close() } }
        var results: [MeasureResult] = []
        var duplicates = 0
        var lastPublish = ContinuousClock.now
        while !dispatcher.isClosing {
            queue.append(contentsOf: dispatcher.takeSubmitted())
            let now = ContinuousClock.now
            heartbeat(now)
            dispatch()
            let ready = ZMQPoller.readable(runners.map(\.socket), timeoutMs: queue.isEmpty ? 20 : 2)
            for i in ready {
                var n = 0
                while n < 10_000, let frames = try? runners[i].socket.receive(dontWait: true) {
                    n += 1
                    receive(i, frames, &results, &duplicates)
                    dispatchTo(i)  // refill the credit this result freed
                }
            }
            let anyReady = runners.contains { $0.ready }
            if anyReady { readySince = ContinuousClock.now }
            let waiting = !queue.isEmpty || !owner.isEmpty
            if waiting && !anyReady && ContinuousClock.now - readySince > options.unreachableAfter {
                dispatcher.fail(.noRunnerReachable(runners.map(\.address.endpoint)))
            } else if anyReady {
                dispatcher.fail(nil)
            }
            if !results.isEmpty || duplicates > 0 || ContinuousClock.now - lastPublish > .milliseconds(200) {
                dispatcher.deliver(results, statuses: statuses(), duplicates: duplicates)
                results = []
                duplicates = 0
                lastPublish = ContinuousClock.now
            }
        }
    }

    func statuses() -> [RunnerStatus] {
        runners.map { r in
            RunnerStatus(address: r.address, reachable: r.ready, runnerName: r.name, simulatorVersion: r.version,
                         slots: r.everReady ? r.slots : nil, busySlots: r.busy, queueDepth: r.queued, roundTrip: r.rtt,
                         inFlight: r.inFlight.count, completed: r.completed)
        }
    }

    func heartbeat(_ now: ContinuousClock.Instant) {
        for (i, r) in runners.enumerated() {
            if !r.ready && now - r.lastHello > options.pingInterval {
                if send(r, .hello(Hello(coordinator: options.coordinatorName))) { r.lastHello = now }
            }
            if now - r.lastPing >= options.pingInterval {
                let nonce = UInt64(bitPattern: Int64(now.nanosecondsSinceStart))
                if send(r, .ping(nonce: nonce)) { r.lastPing = now }
            }
            if r.ready && now - r.lastHeard > options.pingInterval * options.lostAfterIntervals {
                markLost(i, reason: "silent for \(options.lostAfterIntervals) ping intervals")
            }
        }
    }

    func markLost(_ i: Int, reason: String) {
        let r = runners[i]
        r.ready = false
        r.lost = true
        dispatcher.logger.warning("runner \(r.name ?? r.address.endpoint) lost (\(reason)); re-dispatching \(r.inFlight.count) requests")
        var again: [Dispatcher.Pending] = []
        for (id, var p) in r.inFlight.sorted(by: { $0.key < $1.key }) {
            owner[id] = nil
            p.attempts += 1
            if p.attempts >= options.maxAttempts {
                done.insert(id)
                dispatcher.deliver([MeasureResult(requestID: id, status: .internalError,
                                                  error: "request \(id) was in flight on \(p.attempts) runners that were lost; not retried")],
                                   statuses: statuses(), duplicates: 0)
            } else {
                again.append(p)
            }
        }
        r.inFlight = [:]
        queue.pushFront(again)
    }

    func receive(_ i: Int, _ frames: [[UInt8]], _ results: inout [MeasureResult], _ duplicates: inout Int) {
        let r = runners[i]
        r.lastHeard = ContinuousClock.now
        guard frames.count == 1, let message = try? Codec.decode(frames[0]) else {
            dispatcher.logger.warning("runner \(r.address.endpoint) sent an unreadable message")
            return
        }
        if r.lost && !r.ready {
            if case .welcome = message {} else {
                _ = send(r, .hello(Hello(coordinator: options.coordinatorName)))  // greet a returning runner
                r.lastHello = ContinuousClock.now
            }
        }
        switch message {
        case .welcome(let w):
            if r.lost { dispatcher.logger.info("runner \(w.runner) at \(r.address.endpoint) is back") }
            r.ready = true
            r.everReady = true
            r.lost = false
            r.draining = false
            r.name = w.runner
            r.version = w.simulatorVersion
            r.slots = max(1, w.slots)
        case .pong(let p):
            let sent = Int64(bitPattern: p.nonce)
            r.rtt = .nanoseconds(ContinuousClock.now.nanosecondsSinceStart - sent)
            r.busy = p.busySlots
            r.queued = p.queueDepth
        case .measureResult(var result):
            if r.inFlight.removeValue(forKey: result.requestID) != nil, owner[result.requestID] == i { owner[result.requestID] = nil }
            guard !done.contains(result.requestID) else { duplicates += 1; return }
            if let other = owner[result.requestID], other != i {
                runners[other].inFlight[result.requestID] = nil  // a re-dispatched copy is no longer needed
                owner[result.requestID] = nil
            }
            done.insert(result.requestID)
            r.completed += 1
            if result.runner.isEmpty { result.runner = r.name ?? r.address.endpoint }
            results.append(result)
        case .error(let e):
            if e.code == .shuttingDown {
                r.draining = true
            }
            if e.requestID != 0, let p = r.inFlight.removeValue(forKey: e.requestID) {
                owner[e.requestID] = nil
                queue.pushFront([p])  // refused, not measured: try elsewhere
            } else {
                dispatcher.logger.warning("runner \(r.address.endpoint) answered with an error: \(e)")
            }
        case .hello, .measureRequest, .ping:
            dispatcher.logger.warning("runner \(r.address.endpoint) sent a message only coordinators send")
        }
    }

    func dispatch() {
        guard !queue.isEmpty else { return }
        // Least loaded first, relative to slots.
        let order = runners.indices.filter { runners[$0].ready && !runners[$0].draining }
            .sorted { Double(runners[$0].inFlight.count) / Double(runners[$0].slots) < Double(runners[$1].inFlight.count) / Double(runners[$1].slots) }
        for i in order { dispatchTo(i) }
    }

    func dispatchTo(_ i: Int) {
        let r = runners[i]
        guard r.ready && !r.draining else { return }
        while r.inFlight.count < r.slots + options.prefetch, let p = queue.popFirst() {
            if done.contains(p.request.requestID) { continue }  // a re-queued copy already answered
            guard send(r, .measureRequest(p.request)) else {
                queue.pushFront([p])
                return
            }
            r.inFlight[p.request.requestID] = p
            owner[p.request.requestID] = i
        }
    }
}

/// FIFO of waiting requests with cheap push-to-front (for re-dispatch) and O(1) pops.
struct PendingQueue {
    private var front: [Dispatcher.Pending] = []   // a stack: its last element comes out first
    private var items: [Dispatcher.Pending] = []
    private var head = 0

    var isEmpty: Bool { front.isEmpty && head == items.count }

    mutating func append(contentsOf ps: [Dispatcher.Pending]) { items.append(contentsOf: ps) }

    mutating func pushFront(_ ps: [Dispatcher.Pending]) { front.append(contentsOf: ps.reversed()) }

    mutating func popFirst() -> Dispatcher.Pending? {
        if let p = front.popLast() { return p }
        guard head < items.count else { return nil }
        let p = items[head]
        head += 1
        if head >= 4096 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return p
    }
}

extension ContinuousClock.Instant {
    /// Nanoseconds since an arbitrary fixed origin, for ping nonces.
    var nanosecondsSinceStart: Int64 {
        let d = self - Loop.origin
        return d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }
}

extension Loop {
    static let origin = ContinuousClock.now
}
