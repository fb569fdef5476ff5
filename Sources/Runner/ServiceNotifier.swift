import Foundation

/// systemd's readiness protocol (sd_notify(3)) spoken directly, so `Type=notify` units work
/// without linking libsystemd: one datagram per state change over the AF_UNIX socket systemd
/// names in NOTIFY_SOCKET. Runner and tracker both hold one (nil when not under systemd) and
/// tell it when they are listening (READY=1), when they begin to drain (STOPPING=1), and, from
/// their own I/O loop, that they are alive (WATCHDOG=1). Pets come from the loop rather than a
/// timer thread on purpose: a loop that wedges stops petting, and systemd restarts the service.
///
/// `@unchecked Sendable`: the socket descriptor and paths are fixed at init; `nextPet` is only
/// touched by `tick`, which the one loop thread calls.
public final class ServiceNotifier: @unchecked Sendable {
    /// The environment did not describe a notify socket or a watchdog the notifier can use.
    public struct ConfigurationError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Where datagrams go: a filesystem path, or an abstract name (NOTIFY_SOCKET="@name").
    public enum Address: Equatable, Sendable {
        case path(String)
        case abstract(String)
    }

    public let address: Address
    /// How often WATCHDOG=1 is sent: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises;
    /// nil when no watchdog applies to this process.
    public let watchdogInterval: Duration?
    private let fd: Int32
    private var nextPet = ContinuousClock.now

    /// The notifier systemd asked for through `environment`, or nil when NOTIFY_SOCKET is unset
    /// (started by hand, by a script, or by a coordinator). WATCHDOG_USEC applies only when
    /// WATCHDOG_PID is unset or names this process, so a child that inherited the variables
    /// never pets on its parent's behalf.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, pid: Int32 = getpid()
    ) throws(ConfigurationError) -> ServiceNotifier? {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
        let address: Address
        if socket.hasPrefix("/") {
            address = .path(socket)
        } else if socket.hasPrefix("@"), socket.utf8.count > 1 {
            address = .abstract(String(socket.dropFirst()))
        } else {
            throw ConfigurationError(
                description: "NOTIFY_SOCKET=\(socket): expected an absolute path or @abstract-name")
        }
        // sun_path holds 108 bytes, one of them the path's NUL or the abstract name's leading NUL.
        if socket.utf8.count > 107 {
            throw ConfigurationError(
                description: "NOTIFY_SOCKET=\(socket): longer than a socket address holds (107 bytes)")
        }
        var interval: Duration? = nil
        if let usec = environment["WATCHDOG_USEC"], !usec.isEmpty {
            guard let micros = UInt64(usec), micros > 0 else {
                throw ConfigurationError(
                    description: "WATCHDOG_USEC=\(usec): expected a positive whole number of microseconds")
            }
            var applies = true
            if let owner = environment["WATCHDOG_PID"], !owner.isEmpty {
                guard let ownerPID = Int32(owner) else {
                    throw ConfigurationError(description: "WATCHDOG_PID=\(owner): expected a process id")
                }
                applies = ownerPID == pid
            }
            if applies { interval = .microseconds(Int64(clamping: micros / 2)) }
        }
        return try ServiceNotifier(address: address, watchdogInterval: interval)
    }

    public init(address: Address, watchdogInterval: Duration?) throws(ConfigurationError) {
        self.address = address
        self.watchdogInterval = watchdogInterval
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw ConfigurationError(description: "cannot open a datagram socket for NOTIFY_SOCKET: errno \(errno)")
        }
    }

    deinit { close(fd) }

    /// READY=1: the daemon's socket is bound and it serves. `status` is shown by `systemctl status`.
    @discardableResult public func ready(status: String) -> Bool { send("READY=1\nSTATUS=\(status)") }

    /// STOPPING=1: the daemon drains and will exit; systemd waits (up to TimeoutStopSec) rather than
    /// counting the exit as a failure.
    @discardableResult public func stopping(status: String) -> Bool { send("STOPPING=1\nSTATUS=\(status)") }

    /// Sends WATCHDOG=1 when one is due; the daemon's loop calls this every turn.
    public func tick(now: ContinuousClock.Instant = .now) {
        guard let watchdogInterval, now >= nextPet else { return }
        nextPet = now + watchdogInterval
        send("WATCHDOG=1")
    }

    /// One datagram, never blocking: systemd reads them as they come, and a notify socket that is
    /// gone (a manager restarting) must not stall the daemon. False when it was not sent.
    @discardableResult public func send(_ state: String) -> Bool {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let name: [UInt8]
        switch address {
        case .path(let p): name = Array(p.utf8)
        case .abstract(let a): name = [0] + Array(a.utf8)
        }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard name.count < capacity else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, byte) in name.enumerated() { raw[i] = byte }
        }
        // An abstract name's length counts exactly its bytes (no trailing NUL); a path's may include it.
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + name.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &addr) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), sa, length)
                }
            }
        }
        return sent == bytes.count
    }
}
