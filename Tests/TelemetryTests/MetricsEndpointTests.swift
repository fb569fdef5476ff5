import Foundation
import Testing

@testable import Telemetry

/// The /metrics listener on loopback, spoken to over real TCP (curl, as a scraper would, and raw).
@Suite struct MetricsEndpointTests {
    func fetch(_ url: String, method: String = "GET") throws -> (status: Int, body: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "-X", method, "-w", "\n%{http_code}", "--max-time", "5", url]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? -1, lines.dropLast().joined(separator: "\n"))
    }

    @Test func servesTheDocumentAtMetricsOnly() throws {
        let endpoint = try MetricsEndpoint(address: "127.0.0.1:0") { "vtafarm_test_total 3\n" }
        defer { endpoint.stop() }
        #expect(endpoint.port > 0)
        let ok = try fetch("http://127.0.0.1:\(endpoint.port)/metrics")
        #expect(ok.status == 200 && ok.body == "vtafarm_test_total 3\n")
        #expect(try fetch("http://127.0.0.1:\(endpoint.port)/").status == 404)
        #expect(try fetch("http://127.0.0.1:\(endpoint.port)/metrics", method: "POST").status == 405)
    }

    /// A client that connects and says nothing is dropped after the read timeout; the next is served.
    @Test func aSilentClientDoesNotHoldIt() throws {
        let endpoint = try MetricsEndpoint(address: "127.0.0.1:0") { "x 1\n" }
        defer { endpoint.stop() }
        let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(silent) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(endpoint.port).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(silent, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(rc == 0)
        let started = Date()
        #expect(try fetch("http://127.0.0.1:\(endpoint.port)/metrics").status == 200)
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
