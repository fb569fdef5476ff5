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
        self.name = name
        self.endpoint = endpoint
        self.curveServerKey = curveServerKey
    }
}

public struct DispatcherOptions: Sendable {
    /// Requests kept in flight per runner beyond its slots, so a runner never waits for work.
    public var prefetch = 2
    public var pingInterval: Duration = .seconds(1)
    /// A runner silent for this many ping intervals is lost; its work goes elsewhere.
    public var lostAfterIntervals = 3
    /// A request lost, overdue or refused this many times is reported INTERNAL, not retried.
    public var maxAttempts = 3
    /// A runner's Welcome claiming more slots is clamped to this (and logged): credits follow
    /// slots, and one runner claiming 10^9 must not take every request of the batch.
    public var maxSlotsPerRunner = 1024
    /// The timeout of a request with `timeoutMs` 0 (the runners' default, `--timeout-ms`).
    public var defaultRequestTimeout: Duration = .seconds(60)
    /// Added to a request's timeout(s) before its result is overdue and it goes elsewhere.
    public var resultMargin: Duration = .seconds(10)
    /// Largest message accepted from a runner (ZMQ_MAXMSGSIZE on each DEALER: libzmq drops the
    /// connection of a peer that sends more, before buffering it). Runners send results, pongs
    /// and errors of a few KB.
    public var maxMessageBytes = 1 << 20
    /// With work waiting and no runner ready for this long, `next` throws `noRunnerReachable`.
    public var unreachableAfter: Duration = .seconds(10)
    /// Shown to runners in Hello.
    public var coordinatorName = "vtafarm pid \(getpid())"
    /// CURVE client keys (Z85) for runners that have a `curveServerKey`.
    public var curvePublicKey: String?
    public var curveSecretKey: String?
    /// `--tracker`: subscribe to this tracker and add (remove) the runners that join (leave) its
    /// pool, beside any runners given up front.
    public var tracker: String?
    /// `--pool`: only the tracker's runners of this pool (nil: every pool).
    public var pool: String?
    /// `--tracker-curve-key`: the tracker's Z85 public key, to subscribe over CURVE.
    public var trackerServerKey: String?
    /// The CURVE keys the tracker subscription uses: the coordinator's own pair (what a tracker's
    /// allow list names), or a fresh one when it has none (encrypted, refused by an allow list).
    public func trackerCurveKeys() throws -> CurveClientKeys? {
        guard let server = trackerServerKey else { return nil }
        if let pub = curvePublicKey, let sec = curveSecretKey {
            return CurveClientKeys(serverKey: server, publicKey: pub, secretKey: sec)
        }
        return try CurveClientKeys.ephemeral(serverKey: server)
    }
    /// Runners taken from the tracker at most: it is a peer too, and each one costs a socket.
    public var maxTrackerRunners = 1024
    public init() {}
}

public enum DispatcherError: Error, CustomStringConvertible, Equatable {
    case noRunnerReachable([String])
    /// Runners that answer pings but returned no result by a request's deadline.
    case noResults([String])
    /// Work needs a feature (`RunnerFeature`) that none of these live runners offers.
    case missingFeature(String, [String])
    case closed
    public var description: String {
        switch self {
        case .noRunnerReachable(let endpoints):
            return
                "no runner is reachable (tried \(endpoints.joined(separator: ", "))): are the runners started, and the addresses and CURVE keys right?"
        case .noResults(let endpoints):
            return
                "runners answer pings but return no results (\(endpoints.joined(separator: ", ")) missed a request's deadline): is a backend stuck?"
        case .missingFeature(let feature, let runners):
            return
                "no runner offers \(feature) (\(runners.joined(separator: ", ")) do not): they run an older vtafarm; update them"
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
    /// Results from it that were dropped: not in flight there (never sent, or sent elsewhere),
    /// or answered already.
    public var dropped = 0
    /// It missed a result deadline and gets no new work until it returns a result.
    public var stalled = false
    /// Why its Welcome was refused (another protocol version), while it is.
    public var refused: String?
}

/// Ships measurement requests to runners and yields results as they arrive (no batch barrier:
/// one slow measurement never holds back the others). The rules (credits, retries, lost and
/// rejoining runners) are `DispatcherState`'s; this class is its I/O: one thread owns every
/// socket and sleeps in zmq_poll until a runner speaks, the state's next deadline comes, or
/// `submit`/`close` wake it through an inproc socket.
///
/// `@unchecked Sendable`: every mutable field is guarded by `lock`; the wake-up PUSH socket is
/// only touched under `lock` (libzmq lets a socket move between threads behind a full barrier).
public final class Dispatcher: @unchecked Sendable {
    public let options: DispatcherOptions
    let addresses: [RunnerAddress]
    let logger: Logger
    private let lock = NSCondition()
    private var submitted: [MeasureRequest] = []
    private var output = Ring<MeasureResult>()
    private var failure: DispatcherError?
    private var closing = false
    private var statuses: [RunnerStatus]
    private var loop: Loop?
    private let stopped = DispatchSemaphore(value: 0)
    private let wake: ZMQSocket
    private var lastRequestID: UInt64 = 0
    private var dropCounts = (duplicates: 0, unexpected: 0)

    public init(
        runners: [RunnerAddress], options: DispatcherOptions = DispatcherOptions(),
        logger: Logger = Logger(label: "vtafarm.dispatcher")
    ) throws {
        guard !runners.isEmpty || options.tracker != nil else { throw DispatcherError.noRunnerReachable([]) }
        _ = DispatcherMetrics.shared  // its series exist (at 0) from the start, not from the first event
        self.addresses = runners
        self.options = options
        self.logger = logger
        statuses = runners.map { RunnerStatus(address: $0, reachable: false, inFlight: 0, completed: 0) }
        let loop = try Loop(runners: runners, options: options, logger: logger)
        wake = try ZMQSocket(loop.context, .push)
        try wake.connect(loop.wakeEndpoint)
        self.loop = loop
        let t = Thread { [unowned self, stopped] in
            loop.run(self)
            stopped.signal()
        }
        t.name = "dispatcher"
        t.start()
    }

    deinit { close() }

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
        submitted.append(contentsOf: requests)
        signalLoop()
        lock.unlock()
    }

    /// Under `lock`: one byte tells the loop to look at `submitted` and `closing`.
    private func signalLoop() {
        _ = try? wake.send([0], dontWait: true)  // a full pipe already holds a wake-up
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
        return output.popFirst()
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

    /// Results dropped so far: `unexpected` ones were for requests not in flight on the runner
    /// that sent them (never sent, or sent to another runner), `duplicates` answered already
    /// (normal after a lost runner comes back). `tune` reports them when nonzero.
    public var droppedResults: (duplicates: Int, unexpected: Int) {
        lock.lock()
        defer { lock.unlock() }
        return dropCounts
    }

    public var runnerStatuses: [RunnerStatus] {
        lock.lock()
        defer { lock.unlock() }
        return statuses
    }

    /// Stops the dispatcher thread and closes its sockets. Unfinished requests are abandoned.
    public func close() {
        lock.lock()
        let running = loop != nil
        loop = nil
        if running {
            closing = true
            signalLoop()
        }
        lock.unlock()
        guard running else { return }
        stopped.wait()
        lock.lock()
        wake.close()
        lock.unlock()
    }

    // MARK: called by the loop thread

    fileprivate func take() -> (requests: [MeasureRequest], closing: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let s = submitted
        submitted = []
        return (s, closing)
    }

    fileprivate func publish(
        _ results: [MeasureResult], statuses: [RunnerStatus], dropped: (duplicates: Int, unexpected: Int),
        failure: DispatcherError?
    ) {
        lock.lock()
        for r in results { output.append(r) }
        self.statuses = statuses
        dropCounts = dropped
        let changed = failure != self.failure
        self.failure = failure
        if !results.isEmpty || changed { lock.broadcast() }
        lock.unlock()
    }
}

/// The dispatcher's I/O: the context, one DEALER per runner and the wake-up PULL socket, all
/// used by the dispatcher thread only (`Dispatcher.init` hands it over before the thread starts;
/// the PUSH end it creates stays with `Dispatcher`). `@unchecked Sendable` for that hand-over.
private final class Loop: @unchecked Sendable {
    let context = ZMQContext()
    /// One per runner index of the state; nil once the runner was removed (its socket closed).
    var sockets: [ZMQSocket?]
    let wakeSocket: ZMQSocket
    let wakeEndpoint: String
    var state: DispatcherState
    let options: DispatcherOptions
    let logger: Logger
    /// The tracker subscription (`options.tracker`), renewed every ping interval.
    let trackerSocket: ZMQSocket?
    var nextSubscribe = ContinuousClock.now
    /// Endpoints added from the tracker (runners given up front are never removed by it).
    var fromTracker = Set<String>()

    init(runners: [RunnerAddress], options: DispatcherOptions, logger: Logger) throws {
        self.options = options
        self.logger = logger
        sockets = []
        wakeSocket = try ZMQSocket(context, .pull)
        wakeEndpoint = "inproc://dispatcher-wake"  // inproc names are per context: this one is ours
        try wakeSocket.bind(wakeEndpoint)
        state = DispatcherState(runners: runners, options: options, now: .now, logger: logger)
        if let tracker = options.tracker {
            let t = try ZMQSocket(context, .dealer)
            try t.setReconnectInterval(ms: 100, maxMs: 1000)
            try t.setHighWaterMarks(send: 16, receive: 10_000)
            try t.setMaxFrameBytes(16 << 20)  // a listing of maxRunners entries
            if let keys = try options.trackerCurveKeys() { try t.makeCurveClient(keys) }
            try t.connect(tracker)
            trackerSocket = t
        } else {
            trackerSocket = nil
        }
        for address in runners { sockets.append(try makeSocket(address)) }
    }

    func makeSocket(_ address: RunnerAddress) throws -> ZMQSocket {
        let socket = try ZMQSocket(context, .dealer)
        try socket.setImmediate(true)  // never queue requests for a runner not connected
        try socket.setReconnectInterval(ms: 100, maxMs: 1000)
        try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
        try socket.setMaxFrameBytes(options.maxMessageBytes)  // per frame: a result is one frame
        if let serverKey = address.curveServerKey {
            guard let pub = options.curvePublicKey, let sec = options.curveSecretKey else {
                throw DispatcherError.noRunnerReachable(["\(address.endpoint) needs CURVE client keys"])
            }
            try socket.makeCurveClient(serverKey: serverKey, publicKey: pub, secretKey: sec)
        }
        try socket.connect(address.endpoint)
        return socket
    }

    /// A runner the tracker says joined: a socket and a place in the state, unless it is known
    /// already, malformed, over the cap, or needs CURVE keys this coordinator lacks (logged).
    func join(_ info: RunnerInfo, _ actions: inout [DispatchAction]) {
        if let i = state.runnerIndex(endpoint: info.endpoint) {
            // Known: given up front, or from the tracker (a departing one is back in service).
            if state.resume(i, actions: &actions) { fromTracker.insert(info.endpoint) }
            return
        }
        guard info.endpoint.hasPrefix("tcp://"), info.endpoint.utf8.count <= 256, !info.name.isEmpty,
            info.name.utf8.count <= 128
        else {
            logger.warning("the tracker named a runner that cannot be dialled; ignored")
            return
        }
        guard fromTracker.count < options.maxTrackerRunners else {
            logger.warning("the tracker names over \(options.maxTrackerRunners) runners; \(info.name) ignored")
            return
        }
        var address = RunnerAddress(name: info.name, endpoint: info.endpoint)
        if !info.curvePublicKey.isEmpty { address.curveServerKey = CurveKeys.z85(info.curvePublicKey) }
        do {
            let socket = try makeSocket(address)
            guard let i = state.addRunner(address, now: .now) else {
                socket.close()
                logger.warning("\(state.maxRunners) runners are in the set already; \(info.name) ignored")
                return
            }
            if i == sockets.count {
                sockets.append(socket)
            } else {
                sockets[i] = socket  // a reclaimed index: its old socket was closed (`.close`)
            }
            fromTracker.insert(info.endpoint)
            logger.info("runner \(info.name) at \(info.endpoint) joined (tracker)")
        } catch {
            logger.warning("runner \(info.name) at \(info.endpoint) from the tracker: \(error)")
        }
    }

    /// A runner the tracker says left: the state decides what its work becomes, and asks for
    /// its socket to be closed (`.close`) once nothing refers to it.
    func leave(endpoint: String, _ departure: RunnerDeparture, _ actions: inout [DispatchAction]) {
        guard fromTracker.contains(endpoint), let i = state.runnerIndex(endpoint: endpoint) else { return }
        state.removeRunner(i, departure, actions: &actions)
        fromTracker.remove(endpoint)
    }

    /// Renews the subscription and applies the tracker's listings and events.
    func followTracker(_ actions: inout [DispatchAction], readable: Bool) {
        guard let t = trackerSocket else { return }
        let now = ContinuousClock.now
        if now >= nextSubscribe {
            let coordinator = options.coordinatorName
            _ = try? t.send(
                Codec.encode(.subscribe(pool: options.pool ?? "", coordinator: coordinator)), dontWait: true)
            nextSubscribe = now + options.pingInterval
        }
        guard readable else { return }
        var n = 0
        while n < 10_000, let frames = try? t.receive(dontWait: true) {
            n += 1
            guard frames.count == 1, let message = try? Codec.decode(frames[0]) else { continue }
            switch message {
            case .poolListing(let l):
                let listed = Set(l.runners.map(\.endpoint))
                for e in fromTracker.subtracting(listed).sorted() {
                    leave(endpoint: e, .lost("no longer listed by the tracker"), &actions)
                }
                for r in l.runners { join(r, &actions) }
            case .poolEvent(let e) where e.kind == .joined: join(e.runner, &actions)
            case .poolEvent(let e): leave(endpoint: e.runner.endpoint, RunnerDeparture(e.reason), &actions)
            case .error(let e): logger.warning("the tracker refused the subscription: \(e.message.prefix(200))")
            default: break
            }
        }
    }

    func run(_ dispatcher: Dispatcher) {
        defer {
            for s in sockets { s?.close() }
            trackerSocket?.close()
            wakeSocket.close()
        }
        var actions: [DispatchAction] = []
        var results: [MeasureResult] = []
        var trackerReadable = false
        while true {
            let (requests, closing) = dispatcher.take()
            if closing { return }
            followTracker(&actions, readable: trackerReadable)
            if !requests.isEmpty { state.submit(requests, actions: &actions) }
            state.tick(now: .now, actions: &actions)
            perform(&actions, &results)
            var wait = max(.zero, state.nextDeadline() - .now)
            if trackerSocket != nil { wait = min(wait, max(.zero, nextSubscribe - .now)) }
            let ms = Int(min(wait, .seconds(1)).inSeconds * 1000) + 1
            let live = sockets.indices.filter { sockets[$0] != nil }
            let polled = live.map { sockets[$0]! } + [wakeSocket] + (trackerSocket.map { [$0] } ?? [])
            trackerReadable = false
            for k in ZMQPoller.readable(polled, timeoutMs: ms) {
                if k == live.count {
                    while (try? wakeSocket.receive(dontWait: true)) ?? nil != nil {}
                    continue
                }
                if k == live.count + 1 {
                    trackerReadable = true
                    continue
                }
                let i = live[k]
                guard let socket = sockets[i] else { continue }
                var n = 0
                // `perform` may close this socket (a drained runner's last result): stop reading then.
                while n < 10_000, sockets[i] != nil, let frames = try? socket.receive(dontWait: true) {
                    n += 1
                    guard frames.count == 1, let message = try? Codec.decode(frames[0]) else {
                        let endpoint = state.runners[i].address.endpoint
                        dispatcher.logger.warning("runner \(endpoint) sent an unreadable message")
                        continue
                    }
                    state.received(message, from: i, now: .now, actions: &actions)
                    perform(&actions, &results)
                }
            }
            dispatcher.publish(
                results, statuses: state.statuses,
                dropped: (state.duplicatesDropped, state.unexpectedDropped), failure: state.failure)
            results = []
        }
    }

    /// Sends what the state asked for. After one request could not go to a runner the rest for
    /// it are not tried either; all go back to the queue's front in their order.
    func perform(_ actions: inout [DispatchAction], _ results: inout [MeasureResult]) {
        var blocked = Set<Int>()
        var unsent: [(Int, Message)] = []
        for action in actions {
            switch action {
            case .deliver(let r): results.append(r)
            case .close(let i):
                sockets[i]?.close()
                sockets[i] = nil
                state.reclaimed(i)
            case .send(let i, let message):
                if case .measureRequest = message, blocked.contains(i) {
                    unsent.append((i, message))
                    continue
                }
                let sent = (try? sockets[i]?.send(Codec.encode(message), dontWait: true)) ?? false
                if !sent {
                    if case .measureRequest = message {
                        blocked.insert(i)
                        unsent.append((i, message))
                    } else {
                        state.sendFailed(runner: i, message, now: .now)
                    }
                }
            }
        }
        actions.removeAll(keepingCapacity: true)
        for (i, message) in unsent.reversed() { state.sendFailed(runner: i, message, now: .now) }
    }
}
