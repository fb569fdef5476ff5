import Coordinator
import FarmTestSupport
import Foundation
import Testing
import Wire

/// A CURVE tracker with an allow list, as real processes: the allowed runner registers and the
/// allowed coordinator sees it and measures on it; a runner or a query under another key, or in
/// plain text, gets nothing.
@Suite(.serialized) struct TrackerCurveTests {
    @Test func allowedKeysAreServedAndUnknownKeysRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-tcurve-\(getpid())").path
        let allow = dir + "/allow"
        try FileManager.default.createDirectory(atPath: allow, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tracker = try CurveKeys.generate()
        let runner = try CurveKeys.generate()
        let stranger = try CurveKeys.generate()
        let coordinator = try CurveKeys.generate()
        _ = writeKey(allow, "runner.public", runner.publicKey)
        _ = writeKey(allow, "coordinator.public", coordinator.publicKey)
        let trackerPublic = writeKey(dir, "tracker.public", tracker.publicKey)
        let server = try FarmProcess([
            "tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200",
            "--curve-secret-key", writeKey(dir, "tracker.secret", tracker.secretKey), "--allow-clients", allow,
        ])
        func runnerProcess(_ name: String, secret: String) throws -> FarmProcess {
            try FarmProcess([
                "runner", "--bind", "tcp://127.0.0.1:*", "--slots", "1", "--backend", "delay:1", "--name", name,
                "--curve-secret-key", writeKey(dir, "\(name).secret", secret), "--tracker", server.endpoint,
                "--tracker-curve-key", trackerPublic, "--exit-with-parent", "\(getpid())",
            ])
        }
        let good = try runnerProcess("allowed", secret: runner.secretKey)
        let bad = try runnerProcess("stranger", secret: stranger.secretKey)
        defer {
            good.stop()
            bad.stop()
        }
        let keys = CurveClientKeys(
            serverKey: tracker.publicKey, publicKey: coordinator.publicKey, secretKey: coordinator.secretKey)
        var listed: [RunnerInfo] = []
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            listed =
                (try? TrackerQuery.listing(tracker: server.endpoint, pool: nil, wait: .seconds(1), curve: keys))?
                .runners ?? []
            if !listed.isEmpty && server.log.contains(stranger.publicKey) { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        // Both runners have heartbeated several times by now: only the allowed one is listed.
        Thread.sleep(forTimeInterval: 0.5)
        listed = try TrackerQuery.listing(tracker: server.endpoint, pool: nil, wait: .seconds(3), curve: keys).runners
        #expect(listed.map(\.name) == ["allowed"], "\(server.log)")
        #expect(listed.first?.curvePublicKey == CurveKeys.binary(z85: runner.publicKey))
        #expect(server.log.contains("refused a CURVE client with key \(stranger.publicKey)"), "\(server.log)")

        // A query under a fresh key, or in plain text, is never answered.
        #expect(throws: TrackerQuery.Failure.self) {
            try TrackerQuery.listing(
                tracker: server.endpoint, pool: nil, wait: .milliseconds(800),
                curve: .ephemeral(serverKey: tracker.publicKey))
        }
        #expect(throws: TrackerQuery.Failure.self) {
            try TrackerQuery.listing(tracker: server.endpoint, pool: nil, wait: .milliseconds(800))
        }

        // The coordinator's subscription goes over CURVE too, and it measures on the runner it learns of.
        var options = dispatcherOptions()
        options.tracker = server.endpoint
        options.trackerServerKey = tracker.publicKey
        options.curvePublicKey = coordinator.publicKey
        options.curveSecretKey = coordinator.secretKey
        let dispatcher = try Dispatcher(runners: [], options: options)
        defer { dispatcher.close() }
        let results = try dispatcher.run(requests(4, backend: "delay"), timeout: .seconds(30))
        #expect(results.count == 4 && results.allSatisfy { $0.status == .ok && $0.runner == "allowed" })
    }
}
