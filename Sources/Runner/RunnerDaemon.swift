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
    /// Frames larger than this are answered with Error TOO_LARGE (libzmq drops peers above 64 MiB).
    public var maxFrameBytes = 1 << 20
    /// Timeout of a request that gives none.
    public var defaultTimeoutMs: UInt32 = 60_000
    /// Queued (not started) work of a coordinator silent this long is dropped: it is gone.
    public var clientSilenceSeconds: Double = 10
    /// CURVE: the runner's Z85 secret key, and the Z85 public keys allowed to connect.
    public var curveSecretKey: String?
    public var allowedClientKeys: Set<String>?
    /// Stop (drain and exit) when this process is gone: runners a coordinator started for
    /// itself must not outlive it, even when it is killed with SIGKILL.
    public var parentPID: Int32?

    public init() {}
}

/// The runner daemon: binds a ROUTER socket, answers Hello/Ping, queues MeasureRequests fairly
/// across coordinators, runs them on `slots` worker threads and sends the results back. Every
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
    let resultsEndpoint = "inproc://results-\(UUID().uuidString)"
    private let stopping = NSCondition()
    private var stopRequested = false
    /// The address actually bound, once `run()` has bound it.
    public private(set) var boundEndpoint: String?
    /// Sent in Welcome and Pong, so coordinators see a restart on the same endpoint at once.
    public let instanceID = InstanceID.random()

    public static let simulatorVersion = "vtafarm-vta-sim 1 (tsim timing, RTL-calibrated)"

    public init(
        options: RunnerOptions, backends: [MeasurementBackend], logger: Logger = Logger(label: "vtafarm.runner")
    ) {
        self.options = options
        var map: [String: MeasurementBackend] = [:]
        for b in backends { map[b.name] = b }
        self.backends = map
        self.logger = logger
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
        try router.setMaxMessageSize(64 << 20)
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
        logger.info(
            "runner \(options.name) serving on \(boundEndpoint ?? options.bind) with \(options.slots) slots, backends \(backends.keys.sorted().joined(separator: ", ")), default \(options.defaultBackend)"
        )

        var lastSeen: [[UInt8]: ContinuousClock.Instant] = [:]
        var lastSweep = ContinuousClock.now
        var draining = false
        var sockets = [router, results]
        if let zap { sockets.append(zap.socket) }
        while true {
            let ready = ZMQPoller.readable(sockets, timeoutMs: 100)
            if ready.contains(1) {
                while let frames = try results.receive(dontWait: true) {
                    _ = try? router.send(frames, dontWait: true)  // a coordinator that left: dropped
                }
            }
            if ready.contains(0) {
                var handled = 0
                while handled < 1000, let frames = try router.receive(dontWait: true) {
                    handled += 1
                    handle(frames, router: router, draining: draining, lastSeen: &lastSeen)
                }
            }
            if ready.contains(2) {
                zap?.serve { mechanism, key in logger.warning("refused a \(mechanism) client with key \(key)") }
            }
            let now = ContinuousClock.now
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
            }
            if !draining && isStopping {
                draining = true
                logger.info("stopping: refusing new work, finishing \(queue.busy) running and \(queue.depth) queued")
            }
            if draining && queue.idle {
                while let frames = try results.receive(dontWait: true) { _ = try? router.send(frames, dontWait: true) }
                break
            }
        }
        queue.shutdown()
        workers.wait()
        results.close()
        router.close()
        zap?.socket.close()
        logger.info("runner \(options.name) stopped")
    }

    private func handle(
        _ frames: [[UInt8]], router: ZMQSocket, draining: Bool, lastSeen: inout [[UInt8]: ContinuousClock.Instant]
    ) {
        guard let identity = frames.first else { return }
        func reply(_ message: Message) { _ = try? router.send([identity, Codec.encode(message)], dontWait: true) }
        guard frames.count == 2 else {
            reply(
                .error(
                    WireError(
                        code: .malformed, message: "expected exactly one frame per message, got \(frames.count - 1)")))
            return
        }
        let payload = frames[1]
        guard payload.count <= options.maxFrameBytes else {
            reply(
                .error(
                    WireError(
                        code: .tooLarge,
                        message: "frame of \(payload.count) bytes exceeds the limit of \(options.maxFrameBytes)")))
            return
        }
        let message: Message
        do { message = try Codec.decode(payload) } catch {
            logger.debug("bad frame: \(error)")
            reply(.error(error))
            return
        }
        lastSeen[identity] = ContinuousClock.now
        switch message {
        case .hello(let h):
            logger.info("hello from \(h.coordinator)")
            reply(
                .welcome(
                    Welcome(
                        runner: options.name, slots: options.slots, backends: backends.keys.sorted(),
                        simulatorVersion: Self.simulatorVersion, instanceID: instanceID)))
        case .ping(let nonce):
            reply(
                .pong(
                    Pong(
                        nonce: nonce, slots: options.slots, busySlots: queue.busy, queueDepth: queue.depth,
                        instanceID: instanceID)))
        case .measureRequest(let request):
            if draining {
                reply(
                    .error(
                        WireError(
                            code: .shuttingDown, message: "runner \(options.name) is shutting down",
                            requestID: request.requestID)))
                return
            }
            queue.push(Job(client: identity, request: request, received: .now), client: identity)
        default:
            reply(.error(WireError(code: .badRequest, message: "a runner takes Hello, Ping and MeasureRequest only")))
        }
    }

    private func workerLoop(_ index: Int) {
        guard let push = try? ZMQSocket(context, .push), (try? push.connect(resultsEndpoint)) != nil else {
            logger.error("worker \(index) cannot reach the result socket")
            return
        }
        defer { push.close() }
        while let job = queue.pop() {
            let request = job.request
            let backendName = request.backend.isEmpty ? options.defaultBackend : request.backend
            var result: MeasureResult
            if let backend = backends[backendName] ?? backends[String(backendName.prefix { $0 != ":" })] {
                let timeout = request.timeoutMs == 0 ? options.defaultTimeoutMs : request.timeoutMs
                result = backend.measure(request, deadline: job.received + .milliseconds(Int64(timeout)))
            } else {
                result = MeasureResult(
                    requestID: request.requestID, status: .unsupported,
                    error:
                        "runner \(options.name) has no backend '\(backendName)' (it has \(backends.keys.sorted().joined(separator: ", ")))"
                )
            }
            result.runner = options.name
            _ = try? push.send([job.client, Codec.encode(.measureResult(result))])
            queue.finished()  // after the push, so a draining daemon never exits with a result unsent
        }
    }
}

struct Job {
    let client: [UInt8]
    let request: MeasureRequest
    let received: ContinuousClock.Instant
}

/// Requests waiting to run, one FIFO per coordinator, served round-robin so that one busy
/// coordinator cannot starve another. `@unchecked Sendable`: every field is guarded by `condition`.
final class FairQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var queues: [[UInt8]: [Job]] = [:]
    private var order: [[UInt8]] = []
    private var next = 0
    private var running = 0
    private var closed = false

    func push(_ job: Job, client: [UInt8]) {
        condition.lock()
        if queues[client] == nil { order.append(client) }
        queues[client, default: []].append(job)
        condition.signal()
        condition.unlock()
    }

    /// The next job, round-robin over coordinators; nil once shut down.
    func pop() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if closed { return nil }
            if !order.isEmpty {
                next %= order.count
                let client = order[next]
                var q = queues[client]!
                let job = q.removeFirst()
                if q.isEmpty {
                    queues[client] = nil
                    order.remove(at: next)
                } else {
                    queues[client] = q
                    next += 1
                }
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

    /// Drops a coordinator's queued jobs; returns how many.
    func drop(client: [UInt8]) -> Int {
        condition.lock()
        defer { condition.unlock() }
        guard let q = queues[client] else { return 0 }
        queues[client] = nil
        order.removeAll { $0 == client }
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
        return queues.values.reduce(0) { $0 + $1.count }
    }
    var idle: Bool {
        condition.lock()
        defer { condition.unlock() }
        return running == 0 && queues.isEmpty
    }

    func shutdown() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
