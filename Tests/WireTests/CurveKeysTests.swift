import Foundation
import Testing

@testable import Wire

/// The CURVE pieces Wire owns: key pairs, Z85, key directories, and the ZAP handler over inproc.
@Suite struct CurveKeysTests {
    @Test func keyPairsAndZ85() throws {
        let pair = try CurveKeys.generate()
        #expect(pair.publicKey.utf8.count == 40 && pair.secretKey.utf8.count == 40)
        #expect(try CurveKeys.publicKey(secret: pair.secretKey) == pair.publicKey)
        #expect(throws: CurveKeyError.self) { try CurveKeys.publicKey(secret: "short") }
        #expect(CurveKeys.z85([UInt8](repeating: 0, count: 32)) == String(repeating: "0", count: 40))
        #expect(CurveKeys.z85([1, 2, 3]) == nil)
    }

    @Test func keyDirectoriesAreCheckedLineByLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("curvekeys-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try CurveKeys.generate().publicKey
        try "# a coordinator\n\n\(key)\n".write(toFile: dir + "/a.public", atomically: true, encoding: .utf8)
        #expect(try CurveKeys.allowedClients(in: dir) == [key])
        try "not a key\n".write(toFile: dir + "/b.public", atomically: true, encoding: .utf8)
        #expect(throws: CurveKeyError.self) { try CurveKeys.allowedClients(in: dir) }
        #expect(throws: CurveKeyError.self) { try CurveKeys.allowedClients(in: dir + "/missing") }
    }

    @Test func zapRefusesKeysNotAllowed() throws {
        let context = ZMQContext()
        let allowed = [UInt8](repeating: 7, count: 32)
        let stranger = [UInt8](repeating: 9, count: 32)
        let zap = try ZAPHandler(context: context, allowed: [CurveKeys.z85(allowed)!])
        let asker = try ZMQSocket(context, .dealer)
        defer {
            asker.close()
            zap.socket.close()
        }
        try asker.connect("inproc://zeromq.zap.01")
        var answers: [String] = []
        var refused: [String] = []
        for key in [allowed, stranger] {
            // A REQ-style envelope (empty delimiter) then version, id, domain, address, identity, mechanism, key.
            try asker.send([[], Array("1.0".utf8), [1], Array("vtafarm".utf8), [], [], Array("CURVE".utf8), key])
            #expect(ZMQPoller.readable([zap.socket], timeoutMs: 5000) == [0])
            zap.serve { _, who in refused.append(who) }
            let reply = try #require(try asker.receive())
            answers.append(String(decoding: reply[3], as: UTF8.self))
        }
        #expect(answers == ["200", "400"])
        #expect(refused == [CurveKeys.z85(stranger)!])
    }
}
