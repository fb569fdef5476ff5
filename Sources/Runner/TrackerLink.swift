import Foundation
import Logging
import Wire

/// The runner's side of a tracker (`--tracker`): a DEALER socket on the runner's own I/O loop
/// that registers, heartbeats every interval the tracker asks for, registers again whenever the
/// tracker answers that it does not know the runner (it restarted, or expired it), and
/// deregisters when the runner drains. Nothing here waits: a tracker that is down only means
/// heartbeats queue (a few, then dropped) until it is back.
final class TrackerLink {
    let socket: ZMQSocket
    private(set) var info: RunnerInfo
    let logger: Logger
    var interval: Duration = .seconds(1)
    var registered = false
    var nextSend = ContinuousClock.now
    var deregistered = false

    /// Finds the endpoint to advertise again, for a runner whose endpoint came from the hostname
    /// fallback (a wildcard bind with no route to the tracker yet, as for a runner started before
    /// its network is up): asked before each Register until a route is found, so the runner
    /// registers at its address once the link comes up. Nil when the endpoint is settled.
    var findEndpoint: (() -> String?)?

    init(
        context: ZMQContext, tracker: String, info: RunnerInfo, logger: Logger,
        curve: CurveClientKeys? = nil, findEndpoint: (() -> String?)? = nil
    ) throws {
        socket = try ZMQSocket(context, .dealer)
        if let curve { try socket.makeCurveClient(curve) }
        try socket.setHighWaterMarks(send: 4, receive: 64)
        try socket.setMaxFrameBytes(maxEnvelopeBytes)
        try socket.setReconnectInterval(ms: 200, maxMs: 2000)
        // The Deregister sent while draining should reach the tracker even though the socket is
        // closed right after; a tracker that is gone must not hold the exit for long.
        try socket.setLinger(ms: 500)
        try socket.connect(tracker)
        self.info = info
        self.logger = logger
        self.findEndpoint = findEndpoint
    }

    /// Sends a Register or Heartbeat when one is due. `busy` and `queued` take the work queue's
    /// lock, and the runner's loop calls this on every turn: they are read only when a message
    /// goes out (read on every turn, `bench farm --tracker` measured the tracker path 15% slower).
    func tick(now: ContinuousClock.Instant, busy: @autoclosure () -> Int, queued: @autoclosure () -> Int) {
        guard !deregistered, now >= nextSend else { return }
        let (busy, queued) = (busy(), queued())
        nextSend = now + interval
        // Looked for on every turn while the endpoint is the host-name fallback, registered or not:
        // a Register sent while the link was down waits in the socket and reaches the tracker once
        // the link is up, so the runner may be registered at the fallback and must register again.
        if let find = findEndpoint, let found = find() {
            findEndpoint = nil
            if found != info.endpoint {
                logger.info("a route to the tracker appeared: advertising \(found) instead of \(info.endpoint)")
                info.endpoint = found
                registered = false
            }
        }
        if registered {
            send(
                .heartbeat(Heartbeat(name: info.name, instanceID: info.instanceID, busySlots: busy, queueDepth: queued))
            )
        } else {
            info.busySlots = busy
            info.queueDepth = queued
            send(.register(info))
        }
    }

    /// Reads what the tracker sent: acks (and refusals, logged).
    func receive() {
        let limits = ReceiveLimits(maxFrames: 2, maxFrameBytes: maxEnvelopeBytes)
        while let received = try? socket.receive(dontWait: true, limits: limits) {
            guard received.isComplete, received.frames.count == 1,
                let message = try? Codec.decode(received.frames[0])
            else {
                logger.warning("the tracker sent a frame that is not one Envelope")
                continue
            }
            switch message {
            case .trackerAck(let ack):
                if ack.heartbeatIntervalMs >= 50 && ack.heartbeatIntervalMs <= 60_000 {
                    let asked = Duration.milliseconds(Int(ack.heartbeatIntervalMs))
                    if asked != interval {  // the first heartbeat is due one asked interval after the ack
                        interval = asked
                        nextSend = .now + asked
                    }
                }
                if !ack.known && !deregistered {
                    if registered { logger.info("the tracker no longer knows this runner; registering again") }
                    registered = false
                    nextSend = .now  // at once
                } else if ack.known && !registered {
                    registered = true
                    logger.info("registered with the tracker as \(info.name) at \(info.endpoint), pool \(info.pool)")
                }
            case .error(let e):
                logger.warning("the tracker refused this runner: \(e.message.prefix(300))")
            default:
                logger.warning("the tracker sent a message a runner does not take")
            }
        }
    }

    /// Leaves the pool: coordinators re-dispatch nothing (the runner finishes what it holds) but
    /// stop sending it work.
    func deregister() {
        guard !deregistered else { return }
        deregistered = true
        send(.deregister(name: info.name, instanceID: info.instanceID))
    }

    private func send(_ message: Message) {
        _ = try? socket.send(Codec.encode(message), dontWait: true)
    }

    /// The endpoint to advertise: `--advertise HOST[:PORT]` (the port defaults to the bound
    /// one), or the bound endpoint with a wildcard address replaced by `route` (the
    /// address this host reaches the tracker from, `LocalRoute`), or by the host name when there
    /// is none.
    static func advertisedEndpoint(bound: String, advertise: String?, route: String?, hostName: String) -> String? {
        guard let colon = bound.lastIndex(of: ":"), let port = Int(bound[bound.index(after: colon)...]) else {
            return nil
        }
        if let advertise {
            if let c = advertise.lastIndex(of: ":"), !advertise.hasSuffix("]"),
                Int(advertise[advertise.index(after: c)...]) != nil
            {
                return "tcp://\(advertise)"
            }
            return "tcp://\(advertise):\(port)"
        }
        let host = String(bound.dropFirst("tcp://".count)[..<colon])
        return "tcp://\(isWildcard(bound) ? route ?? hostName : host):\(port)"
    }

    /// `bound` (tcp://HOST:PORT) listens on every address of the host.
    static func isWildcard(_ bound: String) -> Bool {
        guard let colon = bound.lastIndex(of: ":") else { return false }
        let host = bound.dropFirst("tcp://".count)[..<colon]
        return host == "0.0.0.0" || host == "*" || host == "[::]"
    }
}

struct TrackerLinkError: Error, CustomStringConvertible {
    let description: String
}
