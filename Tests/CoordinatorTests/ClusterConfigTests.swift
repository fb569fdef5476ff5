import Foundation
import Testing
import VTA
import Wire

@testable import Coordinator

@Suite struct ClusterConfigTests {
    @Test func exampleFileParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = try ClusterConfig.load(path: root.appendingPathComponent("cluster.yaml").path)
        #expect(config.runners.count == 4)
        #expect(config.runners[0] == .init(name: "box-a", host: "box-a.lab", port: 7600, slots: 8, backend: "vta-sim"))
        #expect(config.runners[2].backend == "command:/opt/tsim/run-program")
        #expect(config.runners[3].endpoint == "tcp://localhost:7601")
        #expect(
            config.ssh.user == "vtafarm" && config.ssh.installPath == "/opt/vtafarm" && config.defaultTimeoutMs == 60000
        )
        #expect(config.curve == nil && config.tracker == nil && config.pool == nil)
    }

    @Test(arguments: [
        ("runners:\n  - {host: a, port: 99999}\n", 2, "runners[0].port"),
        ("runners:\n  - {host: a}\nsssh: {}\n", 3, "sssh"),
        ("defaults: {slots: 2}\nrunners:\n  - {host: a, slots: lots}\n", 3, "runners[0].slots"),
        ("runners:\n  - {port: 7600}\n", 2, "runners[0].host"),
        ("runners:\n  - {host: a, backend: gpu}\n", 2, "runners[0].backend"),
        ("runners:\n  - {host: a}\n  - {host: a}\n", 3, "runners[1]"),
        ("defaults: {backend: vta-sim}\n", 1, "runners"),
        ("runners: []\n", 1, "runners"),
        ("runners:\n  - {host: a, colour: red}\n", 2, "runners[0].colour"),
        ("runners:\n  - {host: a, name: \"x;touch PWNED;\"}\n", 2, "runners[0].name"),
        ("runners:\n  - {host: \"-oProxyCommand=sh\"}\n", 2, "runners[0].host"),
        ("runners:\n  - {host: \"a b\"}\n", 2, "runners[0].host"),
        ("runners:\n  - {host: ~}\n", 2, "runners[0].host"),
        ("runners:\n  - {host: \"a\\u0007\"}\n", 2, "runners[0].host"),
        ("runners:\n  - {host: Box-A}\n  - {host: box-a.}\n", 3, "runners[1]"),
        ("runners:\n  - {host: a, name: r}\n  - {host: b, name: r}\n", 3, "runners[1]"),
        ("runners:\n  - {host: a, backend: \"delay:-5\"}\n", 2, "runners[0].backend"),
        ("runners:\n  - {host: a, backend: \"delay:nan\"}\n", 2, "runners[0].backend"),
        ("tracker: head:7500\n", 1, "tracker"),
        ("tracker: \"tcp://*:7500\"\n", 1, "tracker"),
        ("tracker: tcp://head\n", 1, "tracker"),
        ("tracker: tcp://head:7500\npool: \"a b\"\n", 2, "pool"),
        ("tracker: tcp://head:7500\npool: \"x;rm\"\n", 2, "pool"),
        ("tracker: tcp://head:7500\npool: [a]\n", 2, "pool"),
        ("runners:\n  - {host: a}\npool: zcu104\n", 3, "pool"),
        ("tracker: tcp://head:7500\nrunners: {host: a}\n", 2, "runners"),
    ])
    func errorsNameLineAndField(yaml: String, line: Int, field: String) {
        do {
            _ = try ClusterConfig.parse(yaml, path: "c.yaml")
            Issue.record("accepted:\n\(yaml)")
        } catch let e as ClusterConfig.LoadError {
            #expect(e.field == field, "\(e)")
            #expect(e.line == line, "\(e)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func aTrackerMayStandInForTheRunnerList() throws {
        let alone = try ClusterConfig.parse("tracker: tcp://head.lab:7500\npool: zcu104\n")
        #expect(alone.runners.isEmpty && alone.tracker == "tcp://head.lab:7500" && alone.pool == "zcu104")
        let empty = try ClusterConfig.parse("tracker: tcp://head.lab:7500\nrunners: []\n")
        #expect(empty.runners.isEmpty && empty.pool == nil)
        let both = try ClusterConfig.parse("tracker: tcp://10.0.0.1:7500\nrunners:\n  - {host: a}\n")
        #expect(both.runners.map(\.endpoint) == ["tcp://a:7600"] && both.tracker == "tcp://10.0.0.1:7500")
        do {
            _ = try ClusterConfig.parse("tracker: \"tcp://*:7500\"\n", path: "c.yaml")
            Issue.record("a wildcard tracker endpoint was accepted")
        } catch let e as ClusterConfig.LoadError {
            #expect(e.description.contains("names no host a coordinator can dial"), "\(e)")
        }
    }

    @Test func theTrackersKeyComesFromTheCurveSection() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-keys-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var keys: [String: String] = [:]
        for name in ["runner", "coordinator", "tracker"] {
            let pair = try CurveKeys.generate()
            keys[name] = pair.publicKey
            try "# \(name)\n\(pair.publicKey)\n".write(
                toFile: "\(dir)/\(name).public", atomically: true, encoding: .utf8)
            try "\(pair.secretKey)\n".write(toFile: "\(dir)/\(name).secret", atomically: true, encoding: .utf8)
        }
        let yaml = """
            tracker: tcp://head:7500
            curve:
              runner_public_key: runner.public
              coordinator_public_key: coordinator.public
              coordinator_secret_key: coordinator.secret
              tracker_public_key: tracker.public
            """
        let config = try ClusterConfig.parse(yaml, path: "\(dir)/cluster.yaml")
        #expect(config.curve?.trackerPublicKey == keys["tracker"])
        #expect(config.curve?.runnerPublicKey == keys["runner"])
        do {
            _ = try ClusterConfig.parse(
                yaml.replacingOccurrences(of: "tracker.public", with: "nope.public"), path: "\(dir)/cluster.yaml")
            Issue.record("a missing tracker key file was accepted")
        } catch let e as ClusterConfig.LoadError {
            #expect(e.field == "curve.tracker_public_key" && e.line == 6, "\(e)")
        }
    }

    @Test func brokenYAMLIsAnError() {
        #expect(throws: ClusterConfig.LoadError.self) { try ClusterConfig.parse("runners: [\n") }
        #expect(throws: ClusterConfig.LoadError.self) { try ClusterConfig.parse("") }
    }
}
