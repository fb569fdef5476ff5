import CZmq
import Foundation

/// A key file or key directory that does not hold what CURVE needs. Its own type (not the
/// runner's `BackendError`): keys are read by runners and coordinators alike.
public struct CurveKeyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum CurveKeys {
    /// A CURVE key pair in Z85 text (40 characters each).
    public static func generate() throws -> (publicKey: String, secretKey: String) {
        var pub = [CChar](repeating: 0, count: 41)
        var sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else {
            throw ZMQError.last("zmq_curve_keypair (is libzmq built with CURVE?)")
        }
        return (String(cString: pub), String(cString: sec))
    }

    /// The Z85 public key belonging to a Z85 secret key.
    public static func publicKey(secret: String) throws -> String {
        var pub = [CChar](repeating: 0, count: 41)
        guard secret.utf8.count == 40, zmq_curve_public(&pub, secret) == 0 else {
            throw CurveKeyError("curve secret key must be 40 characters of Z85")
        }
        return String(cString: pub)
    }

    /// Z85 text of a 32-byte binary key (as ZAP hands client keys over).
    public static func z85(_ key: [UInt8]) -> String? {
        guard key.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        guard key.withUnsafeBufferPointer({ zmq_z85_encode(&text, $0.baseAddress, 32) }) != nil else { return nil }
        return String(cString: text)
    }

    /// The 32 bytes of a Z85 key (40 characters), as a runner registers its public key with a tracker.
    public static func binary(z85 text: String) -> [UInt8]? {
        guard text.utf8.count == 40 else { return nil }
        var key = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&key, text) != nil else { return nil }
        return key
    }

    /// Reads a secret key file for `--curve-secret-key`. It must not be readable by others (it is the
    /// runner's identity) and must not be a public key file handed over by mistake.
    public static func readSecret(from file: String) throws -> String {
        var info = stat()
        guard stat(file, &info) == 0, let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw CurveKeyError("\(file): cannot read the secret key")
        }
        if file.hasSuffix(".public") || text.contains("CURVE public key") {
            throw CurveKeyError("\(file) is a public key; --curve-secret-key takes the .secret file")
        }
        if info.st_mode & 0o004 != 0 {
            throw CurveKeyError("\(file): the secret key is world-readable; chmod 600 it")
        }
        let key = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let key, key.utf8.count == 40 else {
            throw CurveKeyError("\(file): no 40-character Z85 secret key in it")
        }
        return key
    }

    /// Reads a public key file for a client to name its server (`--tracker-curve-key`); a secret
    /// key here is refused, since only its owner should ever hold it.
    public static func readPublic(from file: String) throws -> String {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw CurveKeyError("\(file): cannot read the public key")
        }
        if file.hasSuffix(".secret") || text.contains("CURVE secret key") {
            throw CurveKeyError("\(file) is a secret key; give the server's .public file")
        }
        let key = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let key, key.utf8.count == 40, binary(z85: key) != nil else {
            throw CurveKeyError("\(file): no 40-character Z85 public key in it")
        }
        return key
    }

    /// Reads the Z85 public keys in a directory (one per file; blank lines and # comments ignored),
    /// as `--allow-clients DIR` names it.
    public static func allowedClients(in directory: String) throws -> Set<String> {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw CurveKeyError("--allow-clients \(directory): not a readable directory")
        }
        var keys = Set<String>()
        for name in names {
            guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { continue }
            // A secret key here means it was shipped to the runner boxes: refuse it rather than serve with it.
            if name.hasSuffix(".secret") || text.contains("CURVE secret key") {
                throw CurveKeyError(
                    "\(directory)/\(name) is a secret key: --allow-clients takes public keys only (keep the secret one on the coordinator)"
                )
            }
            for line in text.split(separator: "\n") {
                let key = line.trimmingCharacters(in: .whitespaces)
                if key.isEmpty || key.hasPrefix("#") { continue }
                guard key.utf8.count == 40 else {
                    throw CurveKeyError("\(directory)/\(name): '\(key)' is not a 40-character Z85 key")
                }
                keys.insert(key)
            }
        }
        return keys
    }
}

/// What a CURVE client socket needs (Z85): the server's public key and the client's own pair.
public struct CurveClientKeys: Sendable, Equatable {
    public var serverKey: String
    public var publicKey: String
    public var secretKey: String

    public init(serverKey: String, publicKey: String, secretKey: String) {
        self.serverKey = serverKey
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh pair for a client that has none of its own: its traffic is encrypted and the
    /// server is authenticated, but a server with an allow list refuses it.
    public static func ephemeral(serverKey: String) throws -> CurveClientKeys {
        let pair = try CurveKeys.generate()
        return CurveClientKeys(serverKey: serverKey, publicKey: pair.publicKey, secretKey: pair.secretKey)
    }
}

extension ZMQSocket {
    public func makeCurveClient(_ keys: CurveClientKeys) throws {
        try makeCurveClient(serverKey: keys.serverKey, publicKey: keys.publicKey, secretKey: keys.secretKey)
    }
}

/// ZeroMQ's authentication protocol (ZAP, RFC 27) for CURVE: libzmq asks this handler, over
/// inproc://zeromq.zap.01, whether a client's public key may connect. `allowed` nil allows any
/// CURVE client (traffic is still encrypted). The handler's socket belongs to the thread that
/// polls it, like every socket.
public final class ZAPHandler {
    public let socket: ZMQSocket
    let allowed: Set<String>?

    public init(context: ZMQContext, allowed: Set<String>?) throws {
        socket = try ZMQSocket(context, .rep)
        try socket.bind("inproc://zeromq.zap.01")
        self.allowed = allowed
    }

    /// Answers every waiting ZAP request; `refused` hears of each client turned away
    /// (mechanism, Z85 key or "?").
    public func serve(refused: (String, String) -> Void) {
        while let frames = try? socket.receive(dontWait: true) {
            guard frames.count >= 6 else { continue }
            let requestID = frames[1]
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            var ok = false
            var who = "?"
            if mechanism == "CURVE", frames.count >= 7, let key = CurveKeys.z85(frames[6]) {
                who = key
                ok = allowed.map { $0.contains(who) } ?? true
            }
            if !ok { refused(mechanism, who) }
            _ = try? socket.send([
                Array("1.0".utf8), requestID, Array((ok ? "200" : "400").utf8),
                Array((ok ? "OK" : "client key not allowed").utf8), Array(who.utf8), [],
            ])
        }
    }
}
