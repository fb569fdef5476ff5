import Foundation
import Testing
import VTA
import Wire
@testable import Coordinator

@Suite struct ClusterConfigTests {
    @Test func exampleFileParses() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let config = try ClusterConfig.load(path: root.appendingPathComponent("cluster.yaml").path)
        #expect(config.runners.count == 4)
        #expect(config.runners[0] == .init(name: "box-a", host: "box-a.lab", port: 7600, slots: 8, backend: "vta-sim"))
        #expect(config.runners[2].backend == "command:/opt/tsim/run-program")
        #expect(config.runners[3].endpoint == "tcp://localhost:7601")
        #expect(config.ssh.user == "vtafarm" && config.ssh.installPath == "/opt/vtafarm" && config.defaultTimeoutMs == 60000)
        #expect(config.curve == nil)
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

    @Test func brokenYAMLIsAnError() {
        #expect(throws: ClusterConfig.LoadError.self) { try ClusterConfig.parse("runners: [\n") }
        #expect(throws: ClusterConfig.LoadError.self) { try ClusterConfig.parse("") }
    }
}

@Suite(.serialized) struct CurveTests {
    func writeKey(_ dir: String, _ name: String, _ key: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data("\(key)\n".utf8))
        return path
    }

    @Test func onlyAllowedCoordinatorsAreServed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-curve-\(getpid())").path
        let clients = dir + "/clients"
        try FileManager.default.createDirectory(atPath: clients, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runner = try ZMQContext.curveKeyPair(), allowed = try ZMQContext.curveKeyPair(), stranger = try ZMQContext.curveKeyPair()
        #expect(try ZMQContext.curvePublicKey(secret: runner.secretKey) == runner.publicKey)
        let secretFile = writeKey(dir, "runner.secret", runner.secretKey)
        _ = writeKey(clients, "allowed.public", allowed.publicKey)
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1, backend: "delay:1",
                                 extraArguments: ["--curve-secret-key", secretFile, "--allow-clients", clients])
        defer { farm.stop() }
        let address = RunnerAddress(name: "curve", endpoint: farm.addresses[0].endpoint, curveServerKey: runner.publicKey)

        var options = dispatcherOptions(unreachableAfter: .seconds(2))
        options.curvePublicKey = allowed.publicKey
        options.curveSecretKey = allowed.secretKey
        let good = try Dispatcher(runners: [address], options: options)
        let results = try good.run(requests(5, backend: "delay"), timeout: .seconds(20))
        good.close()
        #expect(results.count == 5 && results.allSatisfy { $0.status == .ok })

        options.curvePublicKey = stranger.publicKey
        options.curveSecretKey = stranger.secretKey
        let refused = try Dispatcher(runners: [address], options: options)
        #expect(throws: DispatcherError.self) { _ = try refused.run(requests(1, backend: "delay"), timeout: .seconds(20)) }
        refused.close()

        let plain = try Dispatcher(runners: [RunnerAddress(name: "plain", endpoint: farm.addresses[0].endpoint)],
                                   options: dispatcherOptions(unreachableAfter: .seconds(2)))
        #expect(throws: DispatcherError.self) { _ = try plain.run(requests(1, backend: "delay"), timeout: .seconds(20)) }
        plain.close()
    }
}
