import CZmq
import Foundation
import Logging
import Wire

/// ZeroMQ's authentication protocol (ZAP, RFC 27) for CURVE: libzmq asks this handler, over
/// inproc://zeromq.zap.01, whether a client's public key may connect. Allowed keys come from
/// `--allow-clients DIR` (one Z85 public key per file); nil allows any CURVE client (traffic is
/// still encrypted).
final class ZAPHandler {
    let socket: ZMQSocket
    let allowed: Set<String>?
    let logger: Logger

    init(context: ZMQContext, allowed: Set<String>?, logger: Logger) throws {
        socket = try ZMQSocket(context, .rep)
        try socket.bind("inproc://zeromq.zap.01")
        self.allowed = allowed
        self.logger = logger
    }

    /// Answers every waiting ZAP request.
    func serve() {
        while let frames = try? socket.receive(dontWait: true) {
            guard frames.count >= 6 else { continue }
            let requestID = frames[1]
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            var ok = false
            var who = "?"
            if mechanism == "CURVE", frames.count >= 7, frames[6].count == 32 {
                var text = [CChar](repeating: 0, count: 41)
                _ = frames[6].withUnsafeBufferPointer { zmq_z85_encode(&text, $0.baseAddress, 32) }
                who = String(cString: text)
                ok = allowed.map { $0.contains(who) } ?? true
            }
            if !ok { logger.warning("refused a \(mechanism) client with key \(who)") }
            _ = try? socket.send([Array("1.0".utf8), requestID, Array((ok ? "200" : "400").utf8),
                                  Array((ok ? "OK" : "client key not allowed").utf8), Array(who.utf8), []])
        }
    }

    /// Reads the Z85 public keys in a directory (one per file; blank lines and # comments ignored).
    static func keys(in directory: String) throws -> Set<String> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw BackendError("--allow-clients \(directory): not a readable directory")
        }
        var keys = Set<String>()
        for name in names {
            guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let key = line.trimmingCharacters(in: .whitespaces)
                if key.isEmpty || key.hasPrefix("#") { continue }
                guard key.utf8.count == 40 else { throw BackendError("\(directory)/\(name): '\(key)' is not a 40-character Z85 key") }
                keys.insert(key)
            }
        }
        return keys
    }
}

public enum CurveKeys {
    /// The allowed client keys of `--allow-clients DIR`.
    public static func allowedClients(in directory: String) throws -> Set<String> { try ZAPHandler.keys(in: directory) }
}
