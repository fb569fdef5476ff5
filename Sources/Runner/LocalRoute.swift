import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The address this host sends from to reach a peer, as its routing table decides. A runner
/// bound to a wildcard advertises it to its tracker: the tracker's network reaches the runner
/// there, whereas the host name may not resolve on other boxes, or resolves to loopback (Debian's
/// /etc/hosts maps it to 127.0.1.1; containers and network namespaces share one name and
/// often map it to 127.0.0.1), so coordinators would dial themselves.
enum LocalRoute {
    /// The IPv4 source address towards `endpoint` (tcp://HOST:PORT), or nil when HOST has no IPv4
    /// address or no route. IPv4 only: the runner's ROUTER binds without ZMQ_IPV6, so a wildcard
    /// bind serves IPv4 alone. A connected UDP socket makes the kernel pick the route and its
    /// source address without sending anything.
    static func sourceAddress(toward endpoint: String) -> String? {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return nil }
        let host = String(endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon])
        let port = String(endpoint[endpoint.index(after: colon)...])
        guard !host.isEmpty, !host.hasPrefix("["), UInt16(port) != nil else { return nil }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, port, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else { return nil }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0, local.sin_addr.s_addr != 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &local.sin_addr, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
