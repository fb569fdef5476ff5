import FarmTestSupport
import Foundation
import Testing
import VTA

@testable import Coordinator
@testable import Wire

@Suite(.serialized) struct CurveTests {
    @Test func onlyAllowedCoordinatorsAreServed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-curve-\(getpid())").path
        let clients = dir + "/clients"
        try FileManager.default.createDirectory(atPath: clients, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runner = try CurveKeys.generate()
        let allowed = try CurveKeys.generate()
        let stranger = try CurveKeys.generate()
        #expect(try CurveKeys.publicKey(secret: runner.secretKey) == runner.publicKey)
        let secretFile = writeKey(dir, "runner.secret", runner.secretKey)
        _ = writeKey(clients, "allowed.public", allowed.publicKey)
        let farm = try LocalFarm(
            executable: vtafarmBinary, runners: 1, slots: 1, backend: "delay:1",
            extraArguments: ["--curve-secret-key", secretFile, "--allow-clients", clients])
        defer { farm.stop() }
        let address = RunnerAddress(
            name: "curve", endpoint: farm.addresses[0].endpoint, curveServerKey: runner.publicKey)

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
        #expect(throws: DispatcherError.self) {
            _ = try refused.run(requests(1, backend: "delay"), timeout: .seconds(20))
        }
        refused.close()

        let plain = try Dispatcher(
            runners: [RunnerAddress(name: "plain", endpoint: farm.addresses[0].endpoint)],
            options: dispatcherOptions(unreachableAfter: .seconds(2)))
        #expect(throws: DispatcherError.self) {
            _ = try plain.run(requests(1, backend: "delay"), timeout: .seconds(20))
        }
        plain.close()
    }
}
