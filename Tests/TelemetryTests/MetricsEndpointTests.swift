import Foundation
import Testing

@testable import Telemetry

/// The /metrics listener on loopback, spoken to over real TCP (curl, as a scraper would, and raw).
@Suite struct MetricsEndpointTests {
    /// A TCP connection to the endpoint on loopback (-1 when it cannot connect).
    func connectTo(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    /// One HTTP/1.1 request over a raw socket, as a scraper sends it; the status code and body.
    func fetch(_ port: Int, _ path: String, method: String = "GET") throws -> (status: Int, body: String) {
        let fd = connectTo(port)
        try #require(fd >= 0)
        defer { close(fd) }
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var response = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let status = Int(parts[0].split(separator: " ").dropFirst().first ?? "") ?? -1
        return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test func servesTheDocumentAtMetricsOnly() throws {
        let endpoint = try MetricsEndpoint(address: "127.0.0.1:0") { "vtafarm_test_total 3\n" }
        defer { endpoint.stop() }
        #expect(endpoint.port > 0)
        let ok = try fetch(endpoint.port, "/metrics")
        #expect(ok.status == 200 && ok.body == "vtafarm_test_total 3\n")
        #expect(try fetch(endpoint.port, "/").status == 404)
        #expect(try fetch(endpoint.port, "/metrics", method: "POST").status == 405)
        #expect(try fetch(endpoint.port, "/metrics", method: "HEAD").body.isEmpty)
    }

    /// A client that connects and says nothing is dropped after the read timeout; the next is served.
    @Test func aSilentClientDoesNotHoldIt() throws {
        let endpoint = try MetricsEndpoint(address: "127.0.0.1:0") { "x 1\n" }
        defer { endpoint.stop() }
        let silent = connectTo(endpoint.port)
        #expect(silent >= 0)
        defer { close(silent) }
        let started = Date()
        #expect(try fetch(endpoint.port, "/metrics").status == 200)
        #expect(Date().timeIntervalSince(started) < 4.5)
    }

    @Test func badAddressesAreExplained() {
        for bad in ["9464", "host:port", "127.0.0.1:70000", ":80"] {
            #expect(throws: MetricsEndpoint.EndpointError.self) { try MetricsEndpoint.parse(bad) }
        }
        let any = try? MetricsEndpoint.parse("*:9464")
        #expect(any?.host == "0.0.0.0" && any?.port == 9464)
        let v6 = try? MetricsEndpoint.parse("[::1]:9464")
        #expect(v6?.host == "::1" && v6?.port == 9464)
    }
}
