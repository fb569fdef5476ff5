import Foundation
import Wire

/// A peer of the tracker's ROUTER socket: the identity frame ZeroMQ puts in front of its messages.
public typealias TrackerPeer = [UInt8]

/// What a tracker holds at most and how long it waits, so that a hostile or broken peer can make
/// it hold only a bounded amount: runners and subscribers are capped, and every string a runner
/// registers is short and checked before it is stored or passed on to coordinators.
public struct TrackerLimits: Sendable {
    public var maxRunners = 1024
    public var maxSubscribers = 256
    public var maxNameBytes = 128
    public var maxEndpointBytes = 256
    public var maxPoolBytes = 64
    public var maxBackends = 16
    public var maxBackendBytes = 256
    public var maxVersionBytes = 128
    public var maxSlots = 4096
    /// How often runners heartbeat (told to them in every TrackerAck) and subscribers renew.
    public var heartbeatInterval: Duration = .seconds(1)
    /// A runner or subscriber silent for this many intervals is forgotten.
    public var expiryIntervals = 3
    public init() {}

    var expiry: Duration { heartbeatInterval * expiryIntervals }
    var intervalMs: UInt32 {
        UInt32(
            clamping: heartbeatInterval.components.seconds * 1000 + heartbeatInterval.components.attoseconds
                / 1_000_000_000_000_000)
    }
}

/// One message for the tracker's I/O loop to send.
public struct TrackerSend: Equatable, Sendable {
    public var peer: TrackerPeer
    public var message: Message
    public init(peer: TrackerPeer, message: Message) {
        self.peer = peer
        self.message = message
    }
}

/// The tracker without sockets: registrations, heartbeats, expiry, pools and the join/leave
/// events of subscribed coordinators. Messages and ticks come in with a time of the caller's
/// clock and the messages to send come out, so tests drive it directly.
///
/// A runner is known by its name. A Register under a known name from another process (another
/// instance id) or with another endpoint or pool replaces the entry, announced as a leave
/// ("replaced") and a join, so a coordinator drops its connection to the old process. A
/// Heartbeat for a runner the tracker does not know (it restarted, or expired the runner) is
/// answered `known: false`, which makes the runner register again: that is how a restarted
/// tracker learns its farm back within one heartbeat. The tracker is only an address book:
/// measurements never pass through it, so losing it stops joins, not work.
public struct TrackerState {
    public typealias Instant = ContinuousClock.Instant

    struct Entry {
        var info: RunnerInfo
        var lastHeard: Instant
    }

    struct Subscriber {
        /// nil: every pool.
        var pool: String?
        var lastHeard: Instant
    }

    public let limits: TrackerLimits
    private(set) var runners: [String: Entry] = [:]
    private(set) var subscribers: [TrackerPeer: Subscriber] = [:]

    public init(limits: TrackerLimits = TrackerLimits()) {
        self.limits = limits
    }

    /// The runners of `pool` (every pool when nil), by name.
    public func listing(pool: String?) -> [RunnerInfo] {
        runners.values.map(\.info).filter { pool == nil || $0.pool == pool }.sorted { $0.name < $1.name }
    }

    public var subscriberCount: Int { subscribers.count }

    var ack: TrackerAck {
        TrackerAck(known: true, heartbeatIntervalMs: limits.intervalMs, expiryIntervals: UInt32(limits.expiryIntervals))
    }

    /// Handles one decoded message from `peer`.
    public mutating func received(_ message: Message, from peer: TrackerPeer, now: Instant) -> [TrackerSend] {
        func reply(_ m: Message) -> [TrackerSend] { [TrackerSend(peer: peer, message: m)] }
        func refuse(_ text: String) -> [TrackerSend] { reply(.error(WireError(code: .badRequest, message: text))) }
        switch message {
        case .register(let info):
            if let problem = problem(with: info) { return refuse("Register refused: \(problem)") }
            var out: [TrackerSend] = []
            if let old = runners[info.name] {
                if sameProcess(old.info, info) {
                    runners[info.name] = Entry(info: info, lastHeard: now)
                    return reply(.trackerAck(ack))
                }
                runners[info.name] = nil
                out += events(.left, old.info, reason: .replaced)
            } else if runners.count >= limits.maxRunners {
                return refuse("the tracker holds its limit of \(limits.maxRunners) runners")
            }
            runners[info.name] = Entry(info: info, lastHeard: now)
            out += events(.joined, info)
            return reply(.trackerAck(ack)) + out
        case .heartbeat(let h):
            guard var entry = runners[h.name], entry.info.instanceID == h.instanceID else {
                var unknown = ack
                unknown.known = false
                return reply(.trackerAck(unknown))
            }
            entry.lastHeard = now
            entry.info.busySlots = min(max(h.busySlots, 0), limits.maxSlots)
            entry.info.queueDepth = max(h.queueDepth, 0)
            runners[h.name] = entry
            return reply(.trackerAck(ack))
        case .deregister(let name, let instanceID):
            guard let entry = runners[name], entry.info.instanceID == instanceID else { return [] }
            runners[name] = nil
            return events(.left, entry.info, reason: .deregistered)
        case .subscribe(let pool, _):
            if let problem = limits.poolProblem(pool, allowEmpty: true) {
                return refuse("Subscribe refused: \(problem)")
            }
            if subscribers[peer] == nil && subscribers.count >= limits.maxSubscribers {
                return refuse("the tracker holds its limit of \(limits.maxSubscribers) subscribers")
            }
            let p: String? = pool.isEmpty ? nil : pool
            subscribers[peer] = Subscriber(pool: p, lastHeard: now)
            return reply(.poolListing(listingMessage(pool: p)))
        case .query(let pool):
            if let problem = limits.poolProblem(pool, allowEmpty: true) { return refuse("Query refused: \(problem)") }
            return reply(.poolListing(listingMessage(pool: pool.isEmpty ? nil : pool)))
        case .ping(let nonce):
            if subscribers[peer] != nil { subscribers[peer]?.lastHeard = now }
            return reply(.pong(Pong(nonce: nonce, slots: 0, busySlots: 0, queueDepth: 0)))
        case .hello, .welcome, .measureRequest, .measureResult, .pong, .error, .trackerAck, .poolListing, .poolEvent:
            return refuse("\(Self.kind(message)) is not a message for a tracker")
        }
    }

    /// Forgets runners and subscribers silent for the expiry; the runners' leaves are announced.
    public mutating func tick(now: Instant) -> [TrackerSend] {
        subscribers = subscribers.filter { now - $0.value.lastHeard <= limits.expiry }
        var out: [TrackerSend] = []
        for (name, entry) in runners.sorted(by: { $0.key < $1.key }) where now - entry.lastHeard > limits.expiry {
            runners[name] = nil
            out += events(.left, entry.info, reason: .expired)
        }
        return out
    }

    func listingMessage(pool: String?) -> PoolListing {
        PoolListing(
            runners: listing(pool: pool), heartbeatIntervalMs: limits.intervalMs,
            expiryIntervals: UInt32(limits.expiryIntervals))
    }

    func events(_ kind: PoolEvent.Kind, _ info: RunnerInfo, reason: PoolEvent.LeaveReason? = nil) -> [TrackerSend] {
        let event = Message.poolEvent(PoolEvent(kind: kind, runner: info, reason: reason))
        return subscribers.filter { $0.value.pool == nil || $0.value.pool == info.pool }.keys
            .sorted { $0.lexicographicallyPrecedes($1) }
            .map { TrackerSend(peer: $0, message: event) }
    }

    /// The same runner process at the same address: a re-registration, not a replacement.
    func sameProcess(_ a: RunnerInfo, _ b: RunnerInfo) -> Bool {
        a.instanceID == b.instanceID && a.endpoint == b.endpoint && a.pool == b.pool
            && a.curvePublicKey == b.curvePublicKey
    }

    /// What is wrong with a registration, or nil.
    func problem(with r: RunnerInfo) -> String? {
        if let p = limits.textProblem(r.name, "name", max: limits.maxNameBytes) { return p }
        if r.name.isEmpty { return "the runner has no name" }
        if let p = limits.endpointProblem(r.endpoint) { return "runner \(r.name): \(p)" }
        guard (1...limits.maxSlots).contains(r.slots) else {
            return "runner \(r.name): slots \(r.slots) outside 1...\(limits.maxSlots)"
        }
        guard r.backends.count <= limits.maxBackends else {
            return "runner \(r.name): \(r.backends.count) backends (at most \(limits.maxBackends))"
        }
        for b in r.backends {
            if let p = limits.textProblem(b, "backend", max: limits.maxBackendBytes) { return "runner \(r.name): \(p)" }
        }
        if let p = limits.textProblem(r.simulatorVersion, "simulator version", max: limits.maxVersionBytes) {
            return "runner \(r.name): \(p)"
        }
        guard r.curvePublicKey.isEmpty || r.curvePublicKey.count == 32 else {
            return "runner \(r.name): a CURVE public key of \(r.curvePublicKey.count) bytes (32 or none)"
        }
        if let p = limits.poolProblem(r.pool, allowEmpty: false) { return "runner \(r.name): \(p)" }
        guard r.instanceID != 0 else { return "runner \(r.name): instance id 0" }
        return nil
    }

    static func kind(_ m: Message) -> String {
        switch m {
        case .hello: "Hello"
        case .welcome: "Welcome"
        case .measureRequest: "MeasureRequest"
        case .measureResult: "MeasureResult"
        case .ping: "Ping"
        case .pong: "Pong"
        case .error: "Error"
        case .register: "Register"
        case .heartbeat: "Heartbeat"
        case .deregister: "Deregister"
        case .trackerAck: "TrackerAck"
        case .subscribe: "Subscribe"
        case .query: "Query"
        case .poolListing: "PoolListing"
        case .poolEvent: "PoolEvent"
        }
    }
}

/// The rules for what a tracker stores and what cluster.yaml names, in one place so that a
/// pool or endpoint cluster.yaml accepts is one the tracker accepts too.
extension TrackerLimits {
    public func textProblem(_ s: String, _ what: String, max: Int) -> String? {
        guard s.utf8.count <= max else { return "the \(what) has \(s.utf8.count) bytes (at most \(max))" }
        guard !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return "the \(what) holds a control character"
        }
        return nil
    }

    /// Pools are labels a user types: letters, digits, `.`, `_` and `-`.
    public func poolProblem(_ pool: String, allowEmpty: Bool) -> String? {
        if pool.isEmpty { return allowEmpty ? nil : "an empty pool" }
        guard pool.utf8.count <= maxPoolBytes else {
            return "the pool has \(pool.utf8.count) bytes (at most \(maxPoolBytes))"
        }
        guard
            pool.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || "0123456789._-".unicodeScalars.contains($0))
            })
        else { return "pool \"\(pool)\" holds a character other than letters, digits, '.', '_' and '-'" }
        return nil
    }

    /// An endpoint a coordinator can dial: tcp://HOST:PORT with a concrete host and a port.
    public func endpointProblem(_ e: String) -> String? {
        if let p = textProblem(e, "endpoint", max: maxEndpointBytes) { return p }
        guard e.hasPrefix("tcp://") else { return "endpoint \"\(e)\" is not tcp://HOST:PORT" }
        let rest = e.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":") else { return "endpoint \"\(e)\" has no port" }
        let host = rest[..<colon]
        guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
            return "endpoint \"\(e)\" has no port in 1...65535"
        }
        guard !host.isEmpty, host != "*", !host.contains(where: { $0 == " " || $0 == "/" }) else {
            return "endpoint \"\(e)\" names no host a coordinator can dial"
        }
        return nil
    }
}
