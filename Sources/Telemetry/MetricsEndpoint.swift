import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 listener that serves a few generated documents: `/metrics` (Prometheus's
/// text format) and, for `--dashboard`, the page and its JSON. A scraper asks a few times a minute, so connections are served one at a time on one
/// thread, each closed after its answer; a request is read up to 8 KiB with a 2 s timeout, so a
/// client that sends nothing cannot hold the listener. A full HTTP stack (swift-nio's HTTP1, a
/// web framework) would add minutes to every clean build for this one GET.
public final class MetricsEndpoint: @unchecked Sendable {
    // `@unchecked Sendable`: `fd` is set once in init; `stopped` is only read and written under `lock`.
    public let host: String
    /// The bound port (the one asked for, or the one the system chose for port 0).
    public let port: Int
    private let fd: Int32
    /// What a path serves: its content type and a function that makes the body when asked.
    public struct Route: Sendable {
        public let contentType: String
        public let body: @Sendable () -> String
        public init(contentType: String, body: @escaping @Sendable () -> String) {
            self.contentType = contentType
            self.body = body
        }
    }

    private let routes: [String: Route]
    private let lock = NSLock()
    private var stopped = false
    private let thread: Thread

    public struct EndpointError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses `HOST:PORT` (`*:PORT` for every interface, `[::1]:PORT` for IPv6).
    public static func parse(_ address: String) throws -> (host: String, port: Int) {
        guard let colon = address.lastIndex(of: ":") else {
            throw EndpointError(description: "--metrics \(address): expected HOST:PORT, e.g. 127.0.0.1:9464")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port), !host.isEmpty else {
            throw EndpointError(description: "--metrics \(address): expected HOST:PORT with a port from 0 to 65535")
        }
        return (host == "*" ? "0.0.0.0" : host, port)
    }

    /// Binds and starts serving `body()` at /metrics.
    public convenience init(address: String, body: @escaping @Sendable () -> String) throws {
        try self.init(
            address: address,
            routes: ["/metrics": Route(contentType: "text/plain; version=0.0.4; charset=utf-8", body: body)])
    }

    /// Binds and starts serving `routes` (path -> document).
    public init(address: String, routes: [String: Route]) throws {
        let (host, asked) = try Self.parse(address)
        self.host = host
        self.routes = routes
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(asked), &hints, &list)
        guard rc == 0, let info = list else {
            throw EndpointError(description: "--metrics \(address): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let s = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw EndpointError(description: "--metrics: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(s, 16) == 0 else {
            let why = String(cString: strerror(errno))
            close(s)
            throw EndpointError(description: "--metrics \(address): cannot listen: \(why)")
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) }
        }
        port = Int(
            bound.ss_family == sa_family_t(AF_INET6)
                ? withUnsafePointer(to: &bound) {
                    $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                }
                : withUnsafePointer(to: &bound) {
                    $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
                })
        fd = s
        let box = ThreadBox()
        thread = Thread { box.endpoint?.serve() }
        box.endpoint = self
        thread.name = "metrics-http"
        thread.start()
    }

    /// Stops listening (a connection being answered is finished first).
    public func stop() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        if !already { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    deinit {
        stop()
        close(fd)
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    private func serve() {
        while !isStopped {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            answer(c)
            close(c)
        }
    }

    /// Reads one request head and answers it.
    private func answer(_ c: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 2048)
        let end: [UInt8] = [13, 10, 13, 10]
        while head.count < 8192 {
            let n = read(c, &chunk, chunk.count)
            if n <= 0 { return }
            head += chunk[0..<n]
            if head.count >= 4, (0...(head.count - 4)).contains(where: { Array(head[$0..<$0 + 4]) == end }) { break }
        }
        let line = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        guard line.count == 3, line[2].hasPrefix("HTTP/1.") else {
            return respond(c, 400, "Bad Request", "bad request\n")
        }
        guard line[0] == "GET" || line[0] == "HEAD" else {
            return respond(c, 405, "Method Not Allowed", "only GET\n", extra: "Allow: GET, HEAD\r\n")
        }
        let path = line[1].split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        guard let route = routes[path] else {
            return respond(c, 404, "Not Found", "vtafarm serves \(routes.keys.sorted().joined(separator: ", "))\n")
        }
        respond(c, 200, "OK", route.body(), contentType: route.contentType, headOnly: line[0] == "HEAD")
    }

    private func respond(
        _ c: Int32, _ code: Int, _ reason: String, _ text: String, contentType: String = "text/plain; charset=utf-8",
        extra: String = "", headOnly: Bool = false
    ) {
        let payload = Array(text.utf8)
        var bytes = Array(
            "HTTP/1.1 \(code) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(payload.count)\r\n\(extra)Connection: close\r\n\r\n"
                .utf8)
        if !headOnly { bytes += payload }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            sent += n
        }
    }
}

/// Hands the endpoint to its thread after `init` has set every field.
private final class ThreadBox: @unchecked Sendable {
    // `@unchecked Sendable`: written once before `Thread.start`, which is a full barrier.
    weak var endpoint: MetricsEndpoint?
}
