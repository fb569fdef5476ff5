import Foundation
import Logging
import Runner
import Wire

/// `vtafarm tracker`: TrackerState behind a ROUTER socket. The loop only decodes, hands each
/// message to the state machine, sends what it returns and ticks it; every rule is in
/// TrackerState, tested without sockets.
///
/// `@unchecked Sendable` because `stop()` is called from a signal-handling thread: everything but
/// `stopRequested` (behind its lock) is touched only by the one thread inside `run`, which owns
/// the sockets and the state.
public final class TrackerServer: @unchecked Sendable {
    let context = ZMQContext()
    let bind: String
    var state: TrackerState
    let logger: Logger
    /// systemd's notify socket when started by a `Type=notify` unit (READY, STOPPING, WATCHDOG).
    let notifier: ServiceNotifier?
    /// `--curve-secret-key`: encrypt everything, and with `allowedClients` (runners' and
    /// coordinators' public keys) serve only those: without it, any peer that reaches the tracker
    /// could register a name.
    let curveSecretKey: String?
    let allowedClients: Set<String>?
    private let stopping = NSLock()
    private var stopRequested = false

    public init(
        bind: String, limits: TrackerLimits = TrackerLimits(), logger: Logger, notifier: ServiceNotifier? = nil,
        curveSecretKey: String? = nil, allowedClients: Set<String>? = nil
    ) {
        self.bind = bind
        self.curveSecretKey = curveSecretKey
        self.allowedClients = allowedClients
        self.notifier = notifier
        state = TrackerState(limits: limits)
        self.logger = logger
    }

    /// Asks the loop to exit; safe from any thread.
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

    /// Serves until `stop()`. `onListening` gets the bound endpoint.
    public func run(onListening: ((String) -> Void)? = nil) throws {
        let router = try ZMQSocket(context, .router)
        try router.setMaxFrameBytes(2 * maxEnvelopeBytes)
        try router.setHighWaterMarks(send: 10_000, receive: 10_000)
        var zap: ZAPHandler? = nil
        if let curveSecretKey {
            zap = try ZAPHandler(context: context, allowed: allowedClients)
            try router.setZAPDomain("vtafarm")
            try router.makeCurveServer(secretKey: curveSecretKey)
        }
        defer { zap?.socket.close() }
        try router.bind(bind)
        onListening?(router.lastEndpoint)
        logger.info("tracker serving on \(router.lastEndpoint)")
        notifier?.ready(status: "serving on \(router.lastEndpoint)")
        defer {
            // A tracker holds no work, so stopping is immediate; systemd still hears it is deliberate.
            notifier?.stopping(status: "stopping")
            router.close()
        }
        let limits = ReceiveLimits(maxFrames: 3, maxFrameBytes: maxEnvelopeBytes)
        var known = Set<String>()
        while !isStopping {
            let ready = ZMQPoller.readable([router] + (zap.map { [$0.socket] } ?? []), timeoutMs: 100)
            if ready.contains(1) {
                zap?.serve { mechanism, key in
                    logger.warning("refused a \(mechanism.prefix(20)) client with key \(key.prefix(40))")
                }
            }
            var sends: [TrackerSend] = []
            if ready.contains(0) {
                var handled = 0
                while handled < 1000, let received = try router.receive(dontWait: true, limits: limits) {
                    handled += 1
                    guard let identity = received.frames.first else { continue }
                    guard received.isComplete, received.frames.count == 2, received.oversizedFrame == nil else {
                        sends.append(
                            TrackerSend(
                                peer: identity,
                                message: .error(
                                    WireError(
                                        code: .malformed,
                                        message: "a tracker takes one frame of at most \(maxEnvelopeBytes) bytes"))))
                        continue
                    }
                    do {
                        let message = try Codec.decode(received.frames[1])
                        sends += state.received(message, from: identity, now: .now)
                    } catch {
                        sends.append(TrackerSend(peer: identity, message: .error(error)))
                    }
                }
            }
            sends += state.tick(now: .now)
            notifier?.tick()
            for s in sends { _ = try? router.send([s.peer, Codec.encode(s.message)], dontWait: true) }
            // What joined and left, logged from the state rather than from peers' claims.
            let now = Set(state.listing(pool: nil).map { "\($0.name) \($0.endpoint) pool \($0.pool)" })
            for j in now.subtracting(known).sorted() { logger.info("joined: \(j)") }
            for l in known.subtracting(now).sorted() { logger.info("left: \(l)") }
            known = now
        }
    }
}

/// Asks a tracker once for a pool's runners (`cluster status --tracker`, and coordinators that
/// start from a tracker).
public enum TrackerQuery {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func listing(
        tracker: String, pool: String?, wait: Duration = .seconds(3), curve: CurveClientKeys? = nil
    ) throws(Failure)
        -> PoolListing
    {
        do {
            let context = ZMQContext()
            let socket = try ZMQSocket(context, .dealer)
            defer { socket.close() }
            try socket.setMaxFrameBytes(16 << 20)
            if let curve { try socket.makeCurveClient(curve) }
            try socket.connect(tracker)
            _ = try socket.send(Codec.encode(.query(pool: pool ?? "")))
            let deadline = ContinuousClock.now + wait
            while ContinuousClock.now < deadline {
                guard !ZMQPoller.readable([socket], timeoutMs: 100).isEmpty,
                    let frames = try socket.receive(dontWait: true), frames.count == 1
                else { continue }
                switch try Codec.decode(frames[0]) {
                case .poolListing(let l): return l
                case .error(let e): throw Failure(description: "tracker \(tracker) refused the query: \(e.message)")
                default: continue
                }
            }
            throw Failure(
                description:
                    "tracker \(tracker) did not answer within \(wait)\(curve == nil ? "" : " (is its CURVE key right, and are we allowed?)")"
            )
        } catch let f as Failure {
            throw f
        } catch {
            throw Failure(description: "tracker \(tracker): \(error)")
        }
    }
}
