import ArgumentParser
import Coordinator
import Foundation
import Logging
import VTA
import Wire

/// Where a coordinator finds runners: --cluster FILE or --runner ENDPOINT (repeatable).
struct RunnerSelection: ParsableArguments {
    @Option(help: ArgumentHelp("A cluster.yaml listing the runners.", valueName: "cluster.yaml")) var cluster: String?
    @Option(help: ArgumentHelp("A runner endpoint, e.g. tcp://box-a:7600 (repeatable).", valueName: "endpoint"))
    var runner: [String] = []
    @Option(
        help: ArgumentHelp(
            "A tracker (vtafarm tracker): use the runners of its pool as they join and leave, beside any others.",
            valueName: "endpoint"))
    var tracker: String?
    @Option(help: "With --tracker: only runners of this pool.") var pool: String?
    @Option(
        help: ArgumentHelp(
            "With --tracker: the tracker's Z85 public key file, to talk CURVE to it (client keys: cluster.yaml's curve).",
            valueName: "file"))
    var trackerCurveKey: String?

    func validate() throws {
        if pool != nil && tracker == nil && cluster == nil {
            throw ValidationError("--pool needs --tracker (or a --cluster file naming a tracker:)")
        }
        if trackerCurveKey != nil && tracker == nil && cluster == nil {
            throw ValidationError("--tracker-curve-key needs --tracker (or a --cluster file naming a tracker:)")
        }
        if let tracker, let problem = TrackerLimits().endpointProblem(tracker) {
            throw ValidationError("--tracker: \(problem)")
        }
    }

    func load() throws -> (addresses: [RunnerAddress], config: ClusterConfig?) {
        if let cluster {
            do {
                let config = try ClusterConfig.load(path: cluster)
                if pool != nil && tracker == nil && config.tracker == nil {
                    throw UserError("--pool needs --tracker, and \(cluster) names no tracker:")
                }
                return (config.addresses, config)
            } catch let e as ClusterConfig.LoadError { throw UserError(e.description) }
        }
        guard !runner.isEmpty || tracker != nil else {
            throw UserError("give --cluster cluster.yaml, --tracker ENDPOINT or at least one --runner ENDPOINT")
        }
        return (runner.map { RunnerAddress(name: $0, endpoint: $0) }, nil)
    }

    func dispatcherOptions(_ config: ClusterConfig?) throws -> DispatcherOptions {
        var o = Self.clusterOptions(config)
        // Flags win over cluster.yaml; a --tracker of its own does not inherit the file's pool.
        o.tracker = tracker ?? config?.tracker
        o.pool = tracker != nil ? pool : (pool ?? config?.pool)
        o.trackerServerKey = try Self.trackerServerKey(trackerCurveKey) ?? o.trackerServerKey
        return o
    }

    /// The public key in `--tracker-curve-key FILE`, read with an error naming the file.
    static func trackerServerKey(_ file: String?) throws -> String? {
        do { return try file.map { try CurveKeys.readPublic(from: $0) } } catch let e as CurveKeyError {
            throw UserError("--tracker-curve-key: \(e.description)")
        }
    }

    /// What cluster.yaml sets; static, because `cluster status` has no parsed RunnerSelection
    /// (reading an unparsed option of one traps).
    static func clusterOptions(_ config: ClusterConfig?) -> DispatcherOptions {
        var o = DispatcherOptions()
        o.curvePublicKey = config?.curve?.coordinatorPublicKey
        o.curveSecretKey = config?.curve?.coordinatorSecretKey
        o.trackerServerKey = config?.curve?.trackerPublicKey
        // Requests without a timeout of their own run for the runners' default; the result
        // deadlines follow it.
        if let ms = config?.defaultTimeoutMs { o.defaultRequestTimeout = .milliseconds(ms) }
        return o
    }
}

struct Measure: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send measurements of one configuration to runners and print each result as a JSON line.",
        discussion: """
            A minimal coordinator: useful to check a farm by hand, and to script one-off measurements.
              vtafarm measure --cluster cluster.yaml --workload conv2d:N=1,H=56,W=56,CI=64,CO=64,K=3,S=1,P=1 \\
                              --schedule tile_h=28,tile_w=8,tile_co=2,h_nthread=2,oc_nthread=2
            """
    )
    @OptionGroup var runners: RunnerSelection
    @Option(help: "conv2d:... or dense:... (as for vtafarm sim).") var workload: String
    @Option(help: "Schedule knobs, e.g. tile_h=8,tile_w=14.") var schedule = ""
    @OptionGroup var hardware: HardwareOptions
    @Option(help: "Send this many identical requests (distinct ids).") var `repeat` = 1
    @Option(help: "Backend to ask for (default: the runner's).") var backend = ""
    @Option(
        help:
            "Per-request timeout in milliseconds (default: cluster.yaml's defaults.timeout_ms with --cluster, else the runner's)."
    )
    var timeoutMs: UInt32?

    func validate() throws {
        if `repeat` < 1 || `repeat` > 10_000_000 { throw ValidationError("--repeat must be between 1 and 10000000") }
    }

    func run() throws {
        let w: Workload
        let s: Schedule
        do {
            w = try Workload(parsing: workload)
            s = try Schedule(parsing: schedule)
        } catch let e as WorkloadError { throw UserError(e.message) }
        let config = try hardware.config()
        let (addresses, cluster) = try runners.load()
        let dispatcher: Dispatcher
        do { dispatcher = try Dispatcher(runners: addresses, options: runners.dispatcherOptions(cluster)) } catch {
            throw UserError("\(error)")
        }
        defer { dispatcher.close() }
        // 0 asks for the runner's own default.
        let timeout = timeoutMs ?? cluster.map { UInt32(clamping: $0.defaultTimeoutMs) } ?? 0
        let batch = (1...`repeat`).map {
            MeasureRequest(
                requestID: UInt64($0), task: "measure", workload: w, hardware: config,
                schedule: s, backend: backend, timeoutMs: timeout)
        }
        dispatcher.submit(batch)
        var received = 0
        while received < batch.count {
            do {
                guard let r = try dispatcher.next(timeout: .seconds(1)) else { continue }
                received += 1
                var line: [String: Any] = [
                    "request_id": r.requestID, "status": r.status.rawValue, "cycles": r.cycles,
                    "runner": r.runner, "wall_seconds": r.wallSeconds,
                ]
                if !r.invalidReason.isEmpty { line["invalid_reason"] = r.invalidReason }
                if !r.error.isEmpty { line["error"] = r.error }
                print(jsonLine(line))
            } catch let e as DispatcherError { throw UserError(e.description) }
        }
    }
}

struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the runners of a cluster.yaml.",
        subcommands: [ClusterStatus.self, ClusterPlan.self]
    )
}

struct ClusterStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "A table of the runners: reachable, version, slots, busy, queue, round-trip time."
    )
    @Argument(help: "The cluster file (its runners, and the runners of its tracker: if it names one).")
    var file = "cluster.yaml"
    @Option(help: "Seconds to wait for answers.") var wait = 3.0
    @Option(
        help: ArgumentHelp(
            "List the runners registered with this tracker instead of the file's.", valueName: "endpoint"))
    var tracker: String?
    @Option(help: "Only this pool of the tracker (default: cluster.yaml's pool:).") var pool: String?
    @Option(
        help: ArgumentHelp(
            "With --tracker: the tracker's Z85 public key file, to talk CURVE to it.", valueName: "file"))
    var trackerCurveKey: String?

    func validate() throws {
        if let tracker, let problem = TrackerLimits().endpointProblem(tracker) {
            throw ValidationError("--tracker: \(problem)")
        }
    }

    func run() throws {
        var config: ClusterConfig?
        var addresses: [RunnerAddress] = []
        var pools: [String: String] = [:]
        var tracker = self.tracker
        var pool = self.pool
        if tracker == nil {
            do { config = try ClusterConfig.load(path: file) } catch let e as ClusterConfig.LoadError {
                throw UserError(e.description)
            }
            addresses = config!.addresses
            tracker = config!.tracker
            pool = pool ?? config!.pool
            if tracker == nil && pool != nil {
                throw UserError("--pool needs --tracker, and \(file) names no tracker:")
            }
        }
        if let tracker {
            // A CURVE tracker with an allow list knows the coordinator by cluster.yaml's curve keys
            // (when the file is there); without them the query goes out under a fresh key.
            if config == nil && trackerCurveKey != nil && FileManager.default.fileExists(atPath: file) {
                do { config = try ClusterConfig.load(path: file) } catch let e as ClusterConfig.LoadError {
                    throw UserError(e.description)
                }
            }
            var keys = RunnerSelection.clusterOptions(config)
            keys.trackerServerKey = try RunnerSelection.trackerServerKey(trackerCurveKey) ?? keys.trackerServerKey
            let curve = try keys.trackerCurveKeys()
            let listing: PoolListing
            do {
                listing = try TrackerQuery.listing(
                    tracker: tracker, pool: pool, wait: .seconds(max(0.5, min(wait, 60))), curve: curve)
            } catch { throw UserError(error.description) }
            let listed = Set(addresses.map(\.endpoint))
            addresses += listing.runners.filter { !listed.contains($0.endpoint) }.map {
                // A runner that registered a CURVE key serves only over CURVE (cluster.yaml's client keys).
                RunnerAddress(
                    name: $0.name, endpoint: $0.endpoint,
                    curveServerKey: $0.curvePublicKey.isEmpty ? nil : CurveKeys.z85($0.curvePublicKey))
            }
            for r in listing.runners { pools[r.name] = r.pool }
            print("tracker \(tracker): \(listing.runners.count) runners\(pool.map { " in pool \($0)" } ?? "")")
            if addresses.isEmpty { return }
        }
        var options = RunnerSelection.clusterOptions(config)
        options.pingInterval = .milliseconds(200)
        let dispatcher = try Dispatcher(runners: addresses, options: options)
        defer { dispatcher.close() }
        let deadline = Date().addingTimeInterval(max(0.5, min(wait, 60)))
        while Date() < deadline {
            if dispatcher.runnerStatuses.allSatisfy({ $0.reachable && $0.roundTrip != nil }) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let withPool = tracker != nil
        print(
            pad("runner", 22) + (withPool ? pad("pool", 12) : "") + pad("endpoint", 28) + pad("reachable", 10)
                + pad("slots", 6, right: true)
                + pad("busy", 6, right: true)
                + pad("queue", 7, right: true) + pad("rtt ms", 9, right: true) + "  version")
        var up = 0
        for s in dispatcher.runnerStatuses {
            if s.reachable { up += 1 }
            let rtt = s.roundTrip.map { String(format: "%.2f", $0.inSeconds * 1000) } ?? "-"
            print(
                pad(s.runnerName ?? s.address.name, 22) + (withPool ? pad(pools[s.address.name] ?? "-", 12) : "")
                    + pad(s.address.endpoint, 28)
                    + pad(s.reachable ? "yes" : "no", 10)
                    + pad(s.slots.map(String.init) ?? "-", 6, right: true)
                    + pad(s.busySlots.map(String.init) ?? "-", 6, right: true)
                    + pad(s.queueDepth.map(String.init) ?? "-", 7, right: true) + pad(rtt, 9, right: true) + "  "
                    + (s.refused.map { "refused: \($0)" } ?? s.simulatorVersion ?? "-"))
        }
        print("\(up) of \(addresses.count) runners reachable")
        if up < addresses.count { throw ExitCode(1) }
    }
}

/// What the launch scripts need, one runner per line, so that shell never parses YAML.
struct ClusterPlan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract:
            "Print one tab-separated line per runner for Scripts/launch-runners: host port slots backend name ssh_user ssh_port install_path curve_secret_key_file allow_clients_dir."
    )
    @Argument(help: "The cluster file.") var file = "cluster.yaml"

    func run() throws {
        let config: ClusterConfig
        do { config = try ClusterConfig.load(path: file) } catch let e as ClusterConfig.LoadError {
            throw UserError(e.description)
        }
        for r in config.runners {
            let fields = [
                r.host, "\(r.port)", "\(r.slots)", r.backend, r.name, config.ssh.user ?? "-", "\(config.ssh.port)",
                config.ssh.installPath, config.curve?.runnerSecretKeyFile ?? "-",
                config.curve?.allowClientsDirectory ?? "-",
            ]
            print(fields.joined(separator: "\t"))
        }
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "CURVE key pairs for encrypted, authenticated farms.", subcommands: [KeysGenerate.self])
}

struct KeysGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write NAME.public and NAME.secret (Z85, mode 600) into a directory.",
        discussion: """
            One pair for the runners (their secret key file goes to every runner box; the public key \
            to cluster.yaml's curve.runner_public_key) and one per coordinator (its public key goes \
            into the runners' --allow-clients directory).
            """
    )
    @Option(help: "Directory to write into.") var out = "keys"
    @Option(help: "Base name of the two files.") var name: String

    func run() throws {
        let pair: (publicKey: String, secretKey: String)
        do { pair = try CurveKeys.generate() } catch { throw UserError("\(error)") }
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw UserError("\(out): \(error.localizedDescription)")
        }
        for (suffix, key) in [("public", pair.publicKey), ("secret", pair.secretKey)] {
            let path = "\(out)/\(name).\(suffix)"
            // O_EXCL: never overwrite a key; mode 600 from the first byte (no window where it is readable).
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, suffix == "secret" ? 0o600 : 0o644)
            if fd < 0 && errno == EEXIST { throw UserError("\(path) exists; not overwriting a key") }
            guard fd >= 0 else { throw UserError("\(path): cannot create (\(String(cString: strerror(errno))))") }
            let bytes = Array("# vtafarm CURVE \(suffix) key\n\(key)\n".utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd) == 0
            close(fd)
            guard written == bytes.count, synced else {
                unlink(path)
                throw UserError("\(path): write failed (\(String(cString: strerror(errno))))")
            }
            print("wrote \(path)")
        }
    }
}
