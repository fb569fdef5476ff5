import CZmq
import Foundation

/// A libzmq failure, with libzmq's own text.
public struct ZMQError: Error, CustomStringConvertible {
    public let errno: Int32
    public let operation: String
    public var description: String { "\(operation): \(String(cString: zmq_strerror(errno)))" }
    static func last(_ operation: String) -> ZMQError { ZMQError(errno: zmq_errno(), operation: operation) }
}

/// A ZeroMQ context. Close every socket before the context goes away (sockets use linger 0).
/// `Sendable` truly: libzmq contexts are thread-safe.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var terminated = false

    public init() {
        handle = zmq_ctx_new()!
    }

    /// Waits until closed sockets have sent what they still hold (each for at most its linger),
    /// then frees the context. Only this waits: a process that exits without it drops whatever
    /// libzmq had not written yet. Every socket must be closed first. Once; deinit otherwise.
    public func terminate() {
        lock.lock()
        defer { lock.unlock() }
        guard !terminated else { return }
        terminated = true
        zmq_ctx_term(handle)
    }

    deinit { terminate() }
}

/// One ZeroMQ socket. Not thread-safe: each socket belongs to one thread, as libzmq requires.
/// `@unchecked Sendable` only so a socket can be created on one thread and handed to the thread
/// that then owns it (or be used under a lock, which is the full barrier libzmq asks for).
public final class ZMQSocket: @unchecked Sendable {
    public enum Kind {
        case router, dealer, push, pull, rep
        var raw: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .push: return ZMQ_PUSH
            case .pull: return ZMQ_PULL
            case .rep: return ZMQ_REP
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    private var closed = false

    public init(_ context: ZMQContext, _ kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.raw) else { throw ZMQError.last("zmq_socket") }
        handle = h
        try set(ZMQ_LINGER, 0)
    }

    deinit { close() }

    public func close() {
        if !closed {
            zmq_close(handle)
            closed = true
        }
    }

    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError.last("bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError.last("connect \(endpoint)") }
    }

    /// The endpoint actually bound (resolves `tcp://127.0.0.1:*` to a port).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(cString: buffer)
    }

    public func set(_ option: Int32, _ value: Int32) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) == 0 else {
            throw ZMQError.last("setsockopt \(option)")
        }
    }

    public func set(_ option: Int32, int64 value: Int64) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int64>.size) == 0 else {
            throw ZMQError.last("setsockopt \(option)")
        }
    }

    public func set(_ option: Int32, string value: String) throws {
        let bytes = Array(value.utf8)
        guard bytes.withUnsafeBytes({ zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }) == 0 else {
            throw ZMQError.last("setsockopt \(option)")
        }
    }

    /// Common options, named.
    public func setHighWaterMarks(send: Int32, receive: Int32) throws {
        try set(ZMQ_SNDHWM, send)
        try set(ZMQ_RCVHWM, receive)
    }
    /// ZMQ_MAXMSGSIZE: a peer that sends a frame larger than `bytes` is disconnected before the
    /// frame is buffered. libzmq (4.3) applies it to each frame, not to a whole multi-frame
    /// message, and only counts a message's frames once all of them have arrived: it bounds each
    /// frame, and `receive(dontWait:limits:)` bounds what is copied out of a many-frame message.
    public func setMaxFrameBytes(_ bytes: Int) throws { try set(ZMQ_MAXMSGSIZE, int64: Int64(bytes)) }
    public func setReconnectInterval(ms: Int32, maxMs: Int32) throws {
        try set(ZMQ_RECONNECT_IVL, ms)
        try set(ZMQ_RECONNECT_IVL_MAX, maxMs)
    }
    /// Messages are queued only for completed connections (a DEALER never queues work for a
    /// peer that is not there yet).
    /// How long close waits to deliver what is still queued (0 by default: never blocks).
    public func setLinger(ms: Int32) throws { try set(ZMQ_LINGER, ms) }
    public func setImmediate(_ on: Bool) throws { try set(ZMQ_IMMEDIATE, on ? 1 : 0) }
    /// The ZAP domain: with it set, libzmq asks the socket's context's ZAP handler about each peer.
    public func setZAPDomain(_ domain: String) throws { try set(ZMQ_ZAP_DOMAIN, string: domain) }

    /// Makes this socket a CURVE server with the given Z85 secret key.
    public func makeCurveServer(secretKey: String) throws {
        try set(ZMQ_CURVE_SERVER, 1)
        try set(ZMQ_CURVE_SECRETKEY, string: secretKey)
    }

    /// Makes this socket a CURVE client of a server with `serverKey`.
    public func makeCurveClient(serverKey: String, publicKey: String, secretKey: String) throws {
        try set(ZMQ_CURVE_SERVERKEY, string: serverKey)
        try set(ZMQ_CURVE_PUBLICKEY, string: publicKey)
        try set(ZMQ_CURVE_SECRETKEY, string: secretKey)
    }

    /// Sends a message of one or more frames. Returns false when it would block (with `dontWait`).
    @discardableResult
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        for (i, frame) in frames.enumerated() {
            var flags: Int32 = i < frames.count - 1 ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            if rc < 0 {
                if zmq_errno() == EAGAIN && i == 0 { return false }
                throw ZMQError.last("zmq_send")
            }
        }
        return true
    }

    public func send(_ frame: [UInt8], dontWait: Bool = false) throws -> Bool { try send([frame], dontWait: dontWait) }

    /// Receives all frames of one message, or nil when none is waiting (with `dontWait`).
    public func receive(dontWait: Bool = false) throws -> [[UInt8]]? {
        guard let m = try receive(dontWait: dontWait, limits: .none) else { return nil }
        return m.frames
    }

    /// Receives one message, copying only what is within `limits`: a peer's message of many or
    /// large frames is counted and drained (freeing libzmq's copy) but never copied in full.
    public func receive(dontWait: Bool = false, limits: ReceiveLimits) throws -> ReceivedMessage? {
        var received = ReceivedMessage()
        var message = zmq_msg_t()
        repeat {
            zmq_msg_init(&message)
            let first = received.frameCount == 0
            let rc = zmq_msg_recv(&message, handle, dontWait && first ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                let err = zmq_errno()
                zmq_msg_close(&message)
                if err == EAGAIN && first { return nil }
                throw ZMQError(errno: err, operation: "zmq_msg_recv")
            }
            let size = zmq_msg_size(&message)
            if limits.readsPeer && received.frameCount == 1 {
                // Set by libzmq on every frame from a connection: the peer's IP, and with ZAP
                // (CURVE) the user id the handler answered (the client's Z85 public key).
                received.peerAddress = zmq_msg_gets(&message, "Peer-Address").map { String(cString: $0) }
                received.userID = zmq_msg_gets(&message, "User-Id").map { String(cString: $0) }
            }
            received.frameCount += 1
            received.totalBytes += size
            if size > limits.maxFrameBytes {
                if received.oversizedFrame == nil { received.oversizedFrame = (received.frameCount - 1, size) }
            } else if received.frames.count < limits.maxFrames && received.oversizedFrame == nil {
                let data = zmq_msg_data(&message)!.assumingMemoryBound(to: UInt8.self)
                received.frames.append(Array(UnsafeBufferPointer(start: data, count: size)))
            }
            let more = zmq_msg_more(&message) != 0
            zmq_msg_close(&message)
            if !more { break }
        } while true
        return received
    }
}

/// What `ZMQSocket.receive(dontWait:limits:)` copies out of one message.
public struct ReceiveLimits: Sendable {
    /// Frames copied; later ones are only counted.
    public var maxFrames: Int
    /// A frame larger than this is not copied, and neither is any frame after it.
    public var maxFrameBytes: Int
    /// Read the second frame's Peer-Address and User-Id (a ROUTER's first payload frame).
    public var readsPeer: Bool
    public init(maxFrames: Int, maxFrameBytes: Int, readsPeer: Bool = false) {
        self.maxFrames = maxFrames
        self.maxFrameBytes = maxFrameBytes
        self.readsPeer = readsPeer
    }
    public static let none = ReceiveLimits(maxFrames: .max, maxFrameBytes: .max)
}

/// One received message: the frames copied (all of them when within the limits), and how many
/// frames and bytes the message really had.
public struct ReceivedMessage: Sendable {
    public var frames: [[UInt8]] = []
    public var frameCount = 0
    public var totalBytes = 0
    /// The first frame over `maxFrameBytes`: its index and size.
    public var oversizedFrame: (index: Int, bytes: Int)?
    /// With `readsPeer`: the sender's IP address, and its ZAP user id (nil without ZAP).
    public var peerAddress: String?
    public var userID: String?
    /// True when every frame was copied.
    public var isComplete: Bool { frames.count == frameCount }
}

/// Waits on several sockets at once.
public enum ZMQPoller {
    /// Indices of the sockets that have a message to read, after waiting up to `timeoutMs`
    /// (-1: forever). An interrupted wait (a signal) returns no index.
    public static func readable(_ sockets: [ZMQSocket], timeoutMs: Int) -> [Int] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let rc = zmq_poll(&items, Int32(items.count), timeoutMs)
        guard rc > 0 else { return [] }
        return items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
