import Foundation
import Logging
import VTA
import Wire

/// How a runner is started (`vtafarm runner --help` documents each).
public struct RunnerOptions: Sendable {
    public var bind = "tcp://*:7600"
    public var slots = ProcessInfo.processInfo.activeProcessorCount
    public var name = ProcessInfo.processInfo.hostName
    /// The backend used when a request names none.
    public var defaultBackend = "vta-sim"
    /// Frames larger than this are answered with Error TOO_LARGE; a peer sending a frame over
    /// twice this is disconnected by libzmq before the frame is buffered (ZMQ_MAXMSGSIZE).
    public var maxFrameBytes = maxEnvelopeBytes
    /// Requests queued (received, not started) per peer and in total, where a peer is a
    /// coordinator's host, or its CURVE key when clients authenticate: beyond either, a request is
    /// answered with Error QUEUE_FULL naming the limit, so no peer can make a runner hold more than
    /// `maxQueued` requests (a few hundred bytes each), and no host, however many connections it
    /// opens, more than its share. A coordinator keeps at most slots + prefetch in flight per
    /// runner, far below.
    public var maxQueuedPerPeer = 4096
    public var maxQueued = 65_536
    /// Timeout of a request that gives none.
    public var defaultTimeoutMs: UInt32 = 60_000
    /// Queued (not started) work of a coordinator silent this long is dropped: it is gone.
    public var clientSilenceSeconds: Double = 10
    /// How long a drained runner stays up after its last result, answering pings (and refusing
    /// work). A coordinator's DEALER (ZMQ_IMMEDIATE) drops what it has not read yet when the
    /// connection closes, so exiting right after the last send lost that result now and then.
    public var drainGrace: Duration = .seconds(1)
    /// CURVE: the runner's Z85 secret key, and the Z85 public keys allowed to connect.
    public var curveSecretKey: String?
    public var allowedClientKeys: Set<String>?
    /// Stop (drain and exit) when this process is gone: runners a coordinator started for
    /// itself must not outlive it, even when it is killed with SIGKILL.
    public var parentPID: Int32?
    /// `--tracker`: register with this tracker, heartbeat, deregister on drain.
    public var tracker: String?
    /// `--advertise HOST[:PORT]`: what the tracker hands coordinators (default: the bound
    /// endpoint, a wildcard address replaced by the address this host reaches the tracker from).
    public var advertise: String?
    /// `--pool`: the tracker's label for this runner.
    public var pool = RunnerInfo.defaultPool
    /// `--tracker-curve-key`: the tracker's Z85 public key. The runner then talks CURVE to it,
    /// as a client with its own key pair (`curveSecretKey`), the key a tracker's allow list names.
    public var trackerServerKey: String?

    public init() {}
}

/// The runner daemon: binds a ROUTER socket, answers Hello/Ping, queues MeasureRequests fairly
/// across peers (hosts, or CURVE keys) and within bounds, runs them on `slots` worker threads and sends the results back. Every
/// frame it cannot understand is answered with an Error; nothing a peer sends stops it. `stop()`
/// (SIGTERM) makes it refuse new work, finish what is running or queued, and return from `run()`.
///
/// `@unchecked Sendable`: `stopRequested` is guarded by `stopping`; `boundEndpoint` is written
/// once by `run()` before it serves; the sockets live inside `run()` on its thread (workers
/// reach the results PULL through PUSH sockets of their own).
public final class RunnerDaemon: @unchecked Sendable {
    public let options: RunnerOptions
    let backends: [String: MeasurementBackend]
    let logger: Logger
    let context = ZMQContext()
    let queue = FairQueue()
    /// Its Prometheus metrics (no-ops unless `--metrics` bootstrapped them before `init`).
    let metrics: RunnerMetrics
    let resultsEndpoint = "inproc://results-\(UUID().uuidString)"
    private let stopping = NSCondition()
    private var stopRequested = false
    /// The address actually bound, once `run()` has bound it.
    public private(set) var boundEndpoint: String?
    /// Sent in Welcome and Pong, so coordinators see a restart on the same endpoint at once.
    public let instanceID = InstanceID.random()

    public static let simulatorVersion = "vtafarm-vta-sim 1 (tsim timing, RTL-calibrated)"

    /// systemd's notify socket when started by a `Type=notify` unit (READY, STOPPING, WATCHDOG).
    let notifier: ServiceNotifier?

    public init(
        options: RunnerOptions, backends: [MeasurementBackend], logger: Logger = Logger(label: "vtafarm.runner"),
        notifier: ServiceNotifier? = nil
    ) {
        self.options = options
        self.notifier = notifier
        var map: [String: MeasurementBackend] = [:]
        for b in backends { map[b.name] = b }
        self.backends = map
        self.logger = logger
        metrics = RunnerMetrics(slots: options.slots)
    }

    /// Asks the daemon to drain and exit; safe from any thread or a signal handler's queue.
    public func stop() {
        stopping.lock()
        stopRequested = true
        stopping.unlock()
    }

    var isStopping: Bool {
        stopping.lock()
        defer { stopping.unlock() }
        return stopRequested
    }

    /// Serves until `stop()` and the drain finish. Throws only when the socket cannot be set up.
    /// `onListening` gets the bound endpoint (a `tcp://host:*` bind resolved to its port).
    public func run(onListening: ((String) -> Void)? = nil) throws {
        let router = try ZMQSocket(context, .router)
        try router.setMaxFrameBytes(2 * options.maxFrameBytes)
        try router.setHighWaterMarks(send: 100_000, receive: 100_000)
        var zap: ZAPHandler? = nil
        if let secret = options.curveSecretKey {
            zap = try ZAPHandler(context: context, allowed: options.allowedClientKeys)
            try router.setZAPDomain("vtafarm")
            try router.makeCurveServer(secretKey: secret)
        }
        try router.bind(options.bind)
        boundEndpoint = router.lastEndpoint
        onListening?(router.lastEndpoint)
        let results = try ZMQSocket(context, .pull)
        try results.bind(resultsEndpoint)
        let workers = DispatchGroup()
        for i in 0..<options.slots {
            workers.enter()
            let t = Thread { [self] in
                workerLoop(i)
                workers.leave()
            }
            t.name = "runner-worker-\(i)"
            t.start()
        }
        notifier?.ready(status: "serving on \(boundEndpoint ?? options.bind) with \(options.slots) slots")
        logger.info(
            "runner \(options.name) serving on \(boundEndpoint ?? options.bind) with \(options.slots) slots, backends \(backends.keys.sorted().joined(separator: ", ")), default \(options.defaultBackend)"
        )

        var lastSeen: [[UInt8]: ContinuousClock.Instant] = [:]
        var lastSweep = ContinuousClock.now
        var draining = false
        var drainedAt: ContinuousClock.Instant?
        var sockets = [router, results]
        if let zap { sockets.append(zap.socket) }
        let link = try trackerLink()
        if let link { sockets.append(link.socket) }
        while true {
            let ready = ZMQPoller.readable(sockets, timeoutMs: 100)
            if ready.contains(1) {
                while let frames = try results.receive(dontWait: true) {
                    _ = try? router.send(frames, dontWait: true)  // a coordinator that left: dropped
                }
            }
            if ready.contains(0) {
                var handled = 0
                // Identity, payload, and one more to tell that there were too many: a peer's
                // message of many or huge frames is drained, never copied whole.
                let limits = ReceiveLimits(maxFrames: 3, maxFrameBytes: options.maxFrameBytes, readsPeer: true)
                while handled < 1000, let received = try router.receive(dontWait: true, limits: limits) {
                    handled += 1
                    handle(received, router: router, draining: draining, lastSeen: &lastSeen)
                }
            }
            if ready.contains(2) {
                zap?.serve { mechanism, key in
                    logger.warning("refused a \(printable(mechanism)) client with key \(printable(key))")
                }
            }
            let now = ContinuousClock.now
            notifier?.tick(now: now)
            if let link {
                if ready.contains(sockets.count - 1) { link.receive() }
                if !draining { link.tick(now: now, busy: queue.busy, queued: queue.depth) }
            }
            if now - lastSweep > .seconds(1) {
                lastSweep = now
                if let parent = options.parentPID, kill(parent, 0) != 0 && errno == ESRCH, !isStopping {
                    logger.info("parent process \(parent) is gone; stopping")
                    stop()
                }
                for (client, seen) in lastSeen where now - seen > .seconds(options.clientSilenceSeconds) {
                    let dropped = queue.drop(client: client)
                    if dropped > 0 {
                        logger.info(
                            "dropped \(dropped) queued requests of a coordinator silent for \(Int(options.clientSilenceSeconds)) s"
                        )
                    }
                    lastSeen[client] = nil
                }
                metrics.coordinators.record(lastSeen.count)
            }
            if !draining && isStopping {
                draining = true
                notifier?.stopping(status: "draining: \(queue.busy) running, \(queue.depth) queued")
                link?.deregister()  // before the drain, so coordinators stop sending it work now
                logger.info("stopping: refusing new work, finishing \(queue.busy) running and \(queue.depth) queued")
            }
            if draining && queue.idle {
                while let frames = try results.receive(dontWait: true) { _ = try? router.send(frames, dontWait: true) }
                let since = drainedAt ?? now
                drainedAt = since
                if now - since >= options.drainGrace { break }
            }
        }
        queue.shutdown()
        workers.wait()
        while let frames = try results.receive(dontWait: true) { _ = try? router.send(frames, dontWait: true) }
        results.close()
        // Every socket lingers 0 ms by default, so closing the router right after the last
        // result is sent could discard it, still queued for the coordinator, and a drain would
        // lose the very work it waited to finish. Up to 2 s to flush it (a coordinator that is
        // gone cannot hold the exit longer), waited for by terminating the context: the process
        // may exit right after this returns.
        try? router.setLinger(ms: 2000)
        router.close()
        zap?.socket.close()
        link?.socket.close()
        context.terminate()
        logger.info("runner \(options.name) stopped")
    }

    /// The tracker link of `--tracker`, once the router is bound (the advertised port is the bound one).
    private func trackerLink() throws -> TrackerLink? {
        guard let tracker = options.tracker else { return nil }
        let bound = boundEndpoint ?? options.bind
        let advertise = options.advertise
        let hostName = ProcessInfo.processInfo.hostName
        let route = LocalRoute.sourceAddress(toward: tracker)
        guard
            let endpoint = TrackerLink.advertisedEndpoint(
                bound: bound, advertise: advertise, route: route, hostName: hostName)
        else { throw TrackerLinkError(description: "cannot advertise the bound endpoint \(bound)") }
        // Without a route yet, a wildcard bind fell back to the host name: look again at each
        // Register. Only then, since a lookup of the tracker's name may block on DNS.
        let fallback = advertise == nil && route == nil && TrackerLink.isWildcard(bound)
        let findEndpoint: (() -> String?)? =
            fallback
            ? {
                LocalRoute.sourceAddress(toward: tracker).flatMap {
                    TrackerLink.advertisedEndpoint(bound: bound, advertise: nil, route: $0, hostName: hostName)
                }
            } : nil
        let key = try options.curveSecretKey.map { try CurveKeys.binary(z85: CurveKeys.publicKey(secret: $0)) ?? [] }
        let info = RunnerInfo(
            name: options.name, endpoint: endpoint, slots: options.slots, backends: backends.keys.sorted(),
            simulatorVersion: Self.simulatorVersion, curvePublicKey: key ?? [], pool: options.pool,
            instanceID: instanceID)
        logger.info(
            "tracker \(tracker): advertising \(endpoint) in pool \(options.pool)\(fallback ? " (no route to the tracker yet: the host name)" : "")"
        )
        let curve = try options.trackerServerKey.map { server in
            guard let secret = options.curveSecretKey else {
                throw TrackerLinkError(description: "a CURVE tracker needs the runner's own key (--curve-secret-key)")
            }
            return CurveClientKeys(
                serverKey: server, publicKey: try CurveKeys.publicKey(secret: secret), secretKey: secret)
        }
        return try TrackerLink(
            context: context, tracker: tracker, info: info, logger: logger, curve: curve, findEndpoint: findEndpoint)
    }

    private func handle(
        _ received: ReceivedMessage, router: ZMQSocket, draining: Bool,
        lastSeen: inout [[UInt8]: ContinuousClock.Instant]
    ) {
        guard received.oversizedFrame?.index != 0, let identity = received.frames.first else { return }
        func reply(_ message: Message) {
            if case .error(let e) = message { metrics.answeredError(e.code) }
            _ = try? router.send([identity, Codec.encode(message)], dontWait: true)
        }
        if let (index, bytes) = received.oversizedFrame, index == 1 {
            reply(
                .error(
                    WireError(
                        code: .tooLarge,
                        message: "frame of \(bytes) bytes exceeds the limit of \(options.maxFrameBytes)")))
            return
        }
        guard received.frameCount == 2, received.isComplete else {
            reply(
                .error(
                    WireError(
                        code: .malformed,
                        message: "expected exactly one frame per message, got \(received.frameCount - 1)")))
            return
        }
        let message: Message
        do { message = try Codec.decode(received.frames[1]) } catch {
            logger.debug("bad frame: \(printable(error.description))")
            reply(.error(error))
            return
        }
        if lastSeen.updateValue(ContinuousClock.now, forKey: identity) == nil {
            metrics.coordinators.record(lastSeen.count)
        }
        switch message {
        case .hello(let h):
            logger.info("hello from \(printable(h.coordinator))")
            reply(
                .welcome(
                    Welcome(
                        runner: options.name, slots: options.slots, backends: backends.keys.sorted(),
                        simulatorVersion: Self.simulatorVersion, instanceID: instanceID,
                        features: RunnerFeature.allCases.map(\.rawValue))))
        case .ping(let nonce):
            reply(
                .pong(
                    Pong(
                        nonce: nonce, slots: options.slots, busySlots: queue.busy, queueDepth: queue.depth,
                        instanceID: instanceID)))
        case .measureRequest(let request):
            metrics.received.increment()
            if draining {
                reply(
                    .error(
                        WireError(
                            code: .shuttingDown, message: "runner \(options.name) is shutting down",
                            requestID: request.requestID)))
                return
            }
            let refusal = queue.push(
                Job(client: identity, request: request), client: identity, peer: peer(of: received),
                limits: (perPeer: options.maxQueuedPerPeer, total: options.maxQueued))
            if let refusal {
                reply(.error(WireError(code: .queueFull, message: refusal, requestID: request.requestID)))
            }
            metrics.queue(depth: queue.depth, busy: queue.busy)
        default:
            reply(.error(WireError(code: .badRequest, message: "a runner takes Hello, Ping and MeasureRequest only")))
        }
    }

    /// Who a request's share of the runner belongs to: its CURVE key when clients authenticate,
    /// else its host. Not the connection: a peer opening 50 connections must not get 50 shares.
    func peer(of received: ReceivedMessage) -> String {
        if let key = received.userID, !key.isEmpty { return "client key \(key)" }
        return "host \(received.peerAddress ?? "?")"
    }

    /// The backend a request names: "" is the default; "name" is that backend; "name:ARG" is it only
    /// when it was started with exactly ARG (a request for command:/other must not be run by the
    /// configured program). Else why not, for an UNSUPPORTED answer.
    func backend(for requested: String) -> Result<MeasurementBackend, BackendError> {
        let spec = requested.isEmpty ? options.defaultBackend : requested
        let have = backends.values.map(\.spec).sorted().joined(separator: ", ")
        guard !spec.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return .failure(BackendError("backend name \(printable(spec)) holds control characters"))
        }
        let name = String(spec.prefix { $0 != ":" })
        guard let backend = backends[name] else {
            return .failure(BackendError("runner \(options.name) has no backend '\(printable(spec))' (it has \(have))"))
        }
        if spec != name && spec != backend.spec {
            return .failure(
                BackendError("runner \(options.name) serves \(backend.spec), not \(printable(spec)) (it has \(have))"))
        }
        return .success(backend)
    }

    private func workerLoop(_ index: Int) {
        guard let push = try? ZMQSocket(context, .push), (try? push.connect(resultsEndpoint)) != nil else {
            logger.error("worker \(index) cannot reach the result socket")
            return
        }
        defer { push.close() }
        while let job = queue.pop() {
            metrics.queue(depth: queue.depth, busy: queue.busy)
            var request = job.request
            var result: MeasureResult
            var backendName = "none"  // a label from our own fixed set, never the peer's string
            switch backend(for: request.backend) {
            case .success(let backend):
                backendName = backend.name
                // The timeout runs from now, when the measurement starts: time spent queued behind
                // other requests is not the request's. The backend sees the timeout in force.
                if request.timeoutMs == 0 { request.timeoutMs = options.defaultTimeoutMs }
                let deadline = ContinuousClock.now + .milliseconds(Int64(request.timeoutMs))
                if let search = request.search {
                    result = LayerSearchRun.run(request, search, on: backend, deadline: deadline)
                } else {
                    result = backend.measure(request, deadline: deadline)
                }
            case .failure(let why):
                result = MeasureResult(requestID: request.requestID, status: .unsupported, error: why.description)
            }
            result.runner = options.name
            _ = try? push.send([job.client, Codec.encode(.measureResult(result))])
            queue.finished()  // after the push, so a draining daemon never exits with a result unsent
            metrics.finished(result, backend: backendName)
            metrics.queue(depth: queue.depth, busy: queue.busy)
        }
    }
}

/// A peer-supplied string as it may go into a log line or an answer: control characters shown
/// as "?", and at most `limit` characters (100 Hellos with 1 MB names must not write 100 MB of log).
func printable(_ text: String, limit: Int = 120) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == limit {
            return out + "… (\(text.utf8.count) bytes)"
        }
        out.unicodeScalars.append(scalar.properties.generalCategory == .control ? "?" : scalar)
        count += 1
    }
    return out
}

struct Job {
    let client: [UInt8]
    let request: MeasureRequest
}

/// A first-in first-out queue with O(1) push and pop: pops advance a head index instead of
/// moving the elements up (an array's removeFirst is O(n): 10,000 queued took 5 s to drain).
struct FIFO<Element> {
    private var items: [Element?] = []
    private var head = 0

    var count: Int { items.count - head }
    var isEmpty: Bool { head == items.count }

    mutating func append(_ element: Element) { items.append(element) }

    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let element = items[head]
        items[head] = nil
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= items.count {
            items.removeFirst(head)  // amortized O(1): at least as many pops as elements moved
            head = 0
        }
        return element
    }

    /// Removes every element matching; O(n), for the rare sweeps.
    mutating func removeAll(where matches: (Element) -> Bool) {
        items = items[head...].filter { $0.map { !matches($0) } ?? false }
        head = 0
    }
}

/// Requests waiting to run, bounded per peer and in total, served round-robin at two levels:
/// over peers (a coordinator host, or a CURVE key), then over the connections of each peer,
/// each with its FIFO. So one busy coordinator cannot starve another, and neither can a host
/// that opens many connections: 50 connections from one host share one host's turn.
/// `@unchecked Sendable`: every field is guarded by `condition`.
final class FairQueue: @unchecked Sendable {
    private struct Peer {
        var queues: [[UInt8]: FIFO<Job>] = [:]
        /// Its connections with queued work, in round-robin order; each key of `queues` once.
        var ring = FIFO<[UInt8]>()
        var queued = 0
    }
    private let condition = NSCondition()
    private var peers: [String: Peer] = [:]
    /// The peers with queued work, in round-robin order: each pop serves the first and puts it
    /// at the back if it has more. Every key of `peers` is here exactly once.
    private var ring = FIFO<String>()
    /// The peer each connection with queued work was queued under (for `drop(client:)`).
    private var peerOf: [[UInt8]: String] = [:]
    private var queued = 0
    private var running = 0
    private var closed = false

    /// Queues `job`, or says which limit it would pass (nil: queued).
    func push(
        _ job: Job, client: [UInt8], peer requested: String = "", limits: (perPeer: Int, total: Int) = (.max, .max)
    ) -> String? {
        condition.lock()
        defer { condition.unlock() }
        let peer = peerOf[client] ?? requested
        if queued >= limits.total {
            return "the runner's queue holds its limit of \(limits.total) requests (all coordinators)"
        }
        if let p = peers[peer], p.queued >= limits.perPeer {
            return "the runner's queue holds its limit of \(limits.perPeer) requests for this \(peer)"
        }
        if peers[peer] == nil {
            peers[peer] = Peer()
            ring.append(peer)
        }
        if peers[peer]!.queues[client] == nil {
            peers[peer]!.queues[client] = FIFO()
            peers[peer]!.ring.append(client)
            peerOf[client] = peer
        }
        peers[peer]!.queues[client]!.append(job)  // in place: nothing here copies a FIFO
        peers[peer]!.queued += 1
        queued += 1
        condition.signal()
        return nil
    }

    /// The next job, round-robin over peers and then over their connections; nil once shut down.
    func pop() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if closed { return nil }
            if let peer = ring.popFirst() {
                let client = peers[peer]!.ring.popFirst()!
                let job = peers[peer]!.queues[client]!.popFirst()!
                if peers[peer]!.queues[client]!.isEmpty {
                    peers[peer]!.queues[client] = nil
                    peerOf[client] = nil
                } else {
                    peers[peer]!.ring.append(client)
                }
                peers[peer]!.queued -= 1
                if peers[peer]!.queued == 0 {
                    peers[peer] = nil
                } else {
                    ring.append(peer)
                }
                queued -= 1
                running += 1
                return job
            }
            condition.wait()
        }
    }

    func finished() {
        condition.lock()
        running -= 1
        condition.unlock()
    }

    /// Drops a connection's queued jobs; returns how many.
    func drop(client: [UInt8]) -> Int {
        condition.lock()
        defer { condition.unlock() }
        guard let peer = peerOf.removeValue(forKey: client), let q = peers[peer]?.queues.removeValue(forKey: client)
        else { return 0 }
        peers[peer]!.ring.removeAll { $0 == client }
        peers[peer]!.queued -= q.count
        if peers[peer]!.queued == 0 {
            peers[peer] = nil
            ring.removeAll { $0 == peer }
        }
        queued -= q.count
        return q.count
    }

    var busy: Int {
        condition.lock()
        defer { condition.unlock() }
        return running
    }
    var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queued
    }
    var idle: Bool {
        condition.lock()
        defer { condition.unlock() }
        return running == 0 && queued == 0
    }

    func shutdown() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
