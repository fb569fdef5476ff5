import Foundation
import Runner
import Yams

/// cluster.yaml: the runner boxes a coordinator uses (listed, or a tracker's pool, or both), their
/// defaults, CURVE keys, and how the launch scripts reach the boxes. Errors name the file, the
/// line and the field.
public struct ClusterConfig: Sendable {
    public struct Runner: Sendable, Equatable {
        public var name: String
        public var host: String
        public var port: Int
        public var slots: Int
        public var backend: String
        public var endpoint: String { "tcp://\(host):\(port)" }
    }
    public struct SSH: Sendable, Equatable {
        public var user: String?
        public var port: Int = 22
        public var installPath = "/opt/vtafarm"
    }
    /// Z85 keys, read from the files cluster.yaml names (paths relative to cluster.yaml).
    public struct Curve: Sendable, Equatable {
        public var runnerPublicKey: String
        public var runnerSecretKeyFile: String?
        public var coordinatorPublicKey: String
        public var coordinatorSecretKey: String
        public var allowClientsDirectory: String?
        /// `tracker_public_key`: the tracker's key, so coordinators subscribe over CURVE (with
        /// the coordinator key pair above, the one a tracker's `--allow-clients` names).
        public var trackerPublicKey: String? = nil
    }

    public var runners: [Runner]
    /// `tracker:`: a coordinator also takes the runners registered there (tcp://HOST:PORT), so
    /// a file may list no runners at all.
    public var tracker: String?
    /// `pool:`: only the tracker's runners of this pool (nil: every pool).
    public var pool: String?
    public var defaultBackend = "vta-sim"
    public var defaultTimeoutMs = 60_000
    public var ssh = SSH()
    public var curve: Curve?

    public var addresses: [RunnerAddress] {
        runners.map { RunnerAddress(name: $0.name, endpoint: $0.endpoint, curveServerKey: curve?.runnerPublicKey) }
    }

    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let line: Int?
        public let field: String
        public let message: String
        public var description: String {
            "\(path)\(line.map { ":\($0)" } ?? ""): \(field.isEmpty ? "" : "\(field): ")\(message)"
        }
    }

    public static func load(path: String) throws -> ClusterConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LoadError(path: path, line: nil, field: "", message: "cannot read the file")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String = "cluster.yaml") throws -> ClusterConfig {
        func fail(_ node: Node?, _ field: String, _ message: String) -> LoadError {
            LoadError(path: path, line: node?.mark.map { $0.line }, field: field, message: message)
        }
        let root: Node
        do {
            guard let r = try Yams.compose(yaml: text) else { throw fail(nil, "", "the file is empty") }
            root = r
        } catch let e as LoadError {
            throw e
        } catch let e as YamlError {
            throw LoadError(path: path, line: nil, field: "", message: "not valid YAML: \(e)")
        } catch {
            throw LoadError(path: path, line: nil, field: "", message: "not valid YAML: \(error)")
        }
        guard let top = root.mapping else {
            throw fail(root, "", "expected a mapping with runners:, tracker:, pool:, defaults:, ssh:, curve:")
        }
        let known = ["runners", "tracker", "pool", "defaults", "ssh", "curve"]
        for (key, _) in top {
            guard let k = key.string, known.contains(k) else {
                throw fail(key, key.string ?? "?", "unknown field (known: \(known.joined(separator: ", ")))")
            }
        }
        func mapping(_ node: Node, _ field: String, allowed: [String]) throws -> Node.Mapping {
            guard let m = node.mapping else { throw fail(node, field, "expected a mapping") }
            for (key, _) in m where !allowed.contains(key.string ?? "") {
                throw fail(
                    key, "\(field).\(key.string ?? "?")", "unknown field (known: \(allowed.joined(separator: ", ")))")
            }
            return m
        }
        func int(_ node: Node?, _ field: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let node else { return nil }
            guard let v = node.int, range.contains(v) else {
                throw fail(
                    node, field,
                    "'\(node.string ?? "?")' is not an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        func string(_ node: Node?, _ field: String) throws -> String? {
            guard let node else { return nil }
            guard let s = node.string, !s.isEmpty, node.scalar != nil else {
                throw fail(node, field, "expected a non-empty string")
            }
            return s
        }
        /// Host names and runner names reach a remote shell and ssh's command line in the launch scripts: only
        /// letters, digits and `.-_:[]` (IPv6 in brackets), never a leading `-` that ssh would read as an option.
        func word(_ node: Node?, _ field: String) throws -> String? {
            guard let w = try string(node, field) else { return nil }
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]")
            if w.hasPrefix("-") || w.count > 253 || !w.allSatisfy(allowed.contains) {
                throw fail(node, field, "'\(w.prefix(80))' may hold only letters, digits and .-_:[] (no leading -)")
            }
            return w
        }
        func backend(_ node: Node?, _ field: String) throws -> String? {
            guard let b = try string(node, field) else { return nil }
            if BackendKind.problem(with: b) != nil {
                throw fail(node, field, "'\(b)' is not \(BackendKind.choices)")
            }
            return b
        }

        var config = ClusterConfig(runners: [])
        var defaultSlots = 1
        if let d = top["defaults"] {
            let m = try mapping(d, "defaults", allowed: ["backend", "timeout_ms", "slots"])
            config.defaultBackend = try backend(m["backend"], "defaults.backend") ?? config.defaultBackend
            config.defaultTimeoutMs =
                try int(m["timeout_ms"], "defaults.timeout_ms", 1...86_400_000) ?? config.defaultTimeoutMs
            defaultSlots = try int(m["slots"], "defaults.slots", 1...1024) ?? defaultSlots
        }
        if let s = top["ssh"] {
            let m = try mapping(s, "ssh", allowed: ["user", "port", "install_path"])
            config.ssh.user = try string(m["user"], "ssh.user")
            config.ssh.port = try int(m["port"], "ssh.port", 1...65535) ?? 22
            config.ssh.installPath = try string(m["install_path"], "ssh.install_path") ?? config.ssh.installPath
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func keyFile(_ node: Node?, _ field: String) throws -> (path: String, key: String)? {
            guard let file = try string(node, field) else { return nil }
            let full = file.hasPrefix("/") ? file : base.appendingPathComponent(file).path
            guard let text = try? String(contentsOfFile: full, encoding: .utf8) else {
                throw fail(node, field, "cannot read key file \(full)")
            }
            guard
                let key = text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) })
                    .first(where: { !$0.isEmpty && !$0.hasPrefix("#") }), key.utf8.count == 40
            else {
                throw fail(node, field, "\(full) holds no 40-character Z85 key")
            }
            return (full, key)
        }
        if let c = top["curve"] {
            let m = try mapping(
                c, "curve",
                allowed: [
                    "runner_public_key", "runner_secret_key", "coordinator_public_key",
                    "coordinator_secret_key", "allow_clients", "tracker_public_key",
                ])
            guard let rp = try keyFile(m["runner_public_key"], "curve.runner_public_key"),
                let cp = try keyFile(m["coordinator_public_key"], "curve.coordinator_public_key"),
                let cs = try keyFile(m["coordinator_secret_key"], "curve.coordinator_secret_key")
            else {
                throw fail(c, "curve", "needs runner_public_key, coordinator_public_key and coordinator_secret_key")
            }
            // The runner's secret key file lives on the runner boxes; it is not read here.
            let rs = try string(m["runner_secret_key"], "curve.runner_secret_key")
            let allow = try string(m["allow_clients"], "curve.allow_clients")
            config.curve = Curve(
                runnerPublicKey: rp.key, runnerSecretKeyFile: rs, coordinatorPublicKey: cp.key,
                coordinatorSecretKey: cs.key, allowClientsDirectory: allow,
                trackerPublicKey: try keyFile(m["tracker_public_key"], "curve.tracker_public_key")?.key)
        }
        // The tracker's own rules, so an endpoint or pool accepted here is one it accepts too.
        let rules = TrackerLimits()
        if let node = top["tracker"], let endpoint = try string(node, "tracker") {
            if let problem = rules.endpointProblem(endpoint) { throw fail(node, "tracker", problem) }
            config.tracker = endpoint
        }
        if let node = top["pool"], let pool = try string(node, "pool") {
            if let problem = rules.poolProblem(pool, allowEmpty: false) { throw fail(node, "pool", problem) }
            guard config.tracker != nil else { throw fail(node, "pool", "a pool needs tracker: (the pool is its)") }
            config.pool = pool
        }
        guard let runnersNode = top["runners"] else {
            if config.tracker != nil { return config }
            throw fail(root, "runners", "missing: list the runner boxes, or name a tracker:")
        }
        guard let list = runnersNode.sequence else {
            throw fail(runnersNode, "runners", "expected a list of {host, port, slots}")
        }
        var seen = Set<String>()
        var names = Set<String>()
        for (i, item) in list.enumerated() {
            let field = "runners[\(i)]"
            let m = try mapping(item, field, allowed: ["host", "port", "slots", "name", "backend"])
            guard let host = try word(m["host"], "\(field).host") else { throw fail(item, "\(field).host", "missing") }
            let port = try int(m["port"], "\(field).port", 1...65535) ?? 7600
            let runner = Runner(
                name: try word(m["name"], "\(field).name") ?? "\(host):\(port)", host: host, port: port,
                slots: try int(m["slots"], "\(field).slots", 1...1024) ?? defaultSlots,
                backend: try backend(m["backend"], "\(field).backend") ?? config.defaultBackend)
            // The same box spelled twice (case, a trailing dot) is still the same box.
            var canonicalHost = runner.host.lowercased()
            if canonicalHost.hasSuffix(".") { canonicalHost.removeLast() }
            guard seen.insert("\(canonicalHost):\(runner.port)").inserted else {
                throw fail(item, field, "\(runner.endpoint) is listed twice")
            }
            guard names.insert(runner.name).inserted else {
                throw fail(item, field, "the name \(runner.name) is used twice")
            }
            config.runners.append(runner)
        }
        if config.runners.isEmpty && config.tracker == nil {
            throw fail(runnersNode, "runners", "the list is empty (and no tracker: names where runners register)")
        }
        return config
    }
}
