import ArgumentParser
import Foundation
import Logging
import Runner
import Telemetry
import Wire

struct RunnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runner",
        abstract: "Run a measurement runner daemon: compiles and measures VTA configurations sent by coordinators.",
        discussion: """
            A runner binds a ZeroMQ ROUTER socket and serves any number of coordinators, fairly \
            (round-robin across coordinator hosts, or CURVE client keys, then across their connections). Protocol: Protos/vtafarm.proto (one frame per message, \
            DEALER to ROUTER). Backends:
            \(BackendKind.helpLines)
            The first line on stdout is "listening ENDPOINT" (useful with --bind tcp://127.0.0.1:*).
            SIGTERM or SIGINT: refuse new work, finish running and queued work, exit 0.
            Under a systemd Type=notify unit (NOTIFY_SOCKET set) it sends READY=1 once bound, STOPPING=1 \
            when it drains, and WATCHDOG=1 every WATCHDOG_USEC/2 when WatchdogSec= is set.
            """
    )

    @Option(help: "ZeroMQ endpoint to bind.") var bind = "tcp://*:7600"
    @Option(help: "Measurements run at once (worker threads). Default: the number of cores.")
    var slots = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: ArgumentHelp("Default backend: \(BackendKind.choices).", valueName: "backend"))
    var backend = "vta-sim"
    @Option(help: "Runner name reported to coordinators. Default: the host name.") var name = ProcessInfo.processInfo
        .hostName
    @Option(help: "Default per-request timeout in milliseconds.") var timeoutMs: UInt32 = 60_000
    @Option(
        help:
            "Largest frame accepted, in bytes: larger ones are answered with Error TOO_LARGE, and a peer sending one over twice this is disconnected."
    )
    var maxFrameBytes = maxEnvelopeBytes
    @Option(
        help:
            "Requests queued (not yet running) per coordinator host, or per client key with CURVE; more are answered with Error QUEUE_FULL."
    )
    var maxQueuedPerHost = RunnerOptions().maxQueuedPerPeer
    @Option(help: "Requests queued in total, all coordinators; more are answered with Error QUEUE_FULL.")
    var maxQueued = RunnerOptions().maxQueued
    @Option(
        help: ArgumentHelp(
            "Enable CURVE: a file holding the runner's Z85 secret key (vtafarm keys generate).", valueName: "file"))
    var curveSecretKey: String?
    @Option(
        help: ArgumentHelp(
            "With CURVE: a directory of allowed coordinators' Z85 public keys, one per file.", valueName: "dir"))
    var allowClients: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(
        help: ArgumentHelp(
            "Drain and exit when process PID is gone (coordinators set this for runners they start).", valueName: "pid")
    )
    var exitWithParent: Int32?
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0: any free one, logged).",
            valueName: "host:port"))
    var metrics: String?
    @Option(
        help: ArgumentHelp("Register with this tracker (vtafarm tracker), e.g. tcp://head:7500.", valueName: "endpoint")
    )
    var tracker: String?
    @Option(
        help: ArgumentHelp(
            "With --tracker: the address coordinators dial (default: the bound endpoint, a wildcard as the address this host reaches the tracker from).",
            valueName: "host[:port]"))
    var advertise: String?
    @Option(
        help: ArgumentHelp(
            "With --tracker: the tracker's Z85 public key file, to talk CURVE to it (needs --curve-secret-key).",
            valueName: "file"))
    var trackerCurveKey: String?
    @Option(help: "With --tracker: the pool to join (letters, digits, '.', '_', '-').") var pool = RunnerInfo
        .defaultPool

    func validate() throws {
        if (advertise != nil || pool != RunnerInfo.defaultPool) && tracker == nil {
            throw ValidationError("--advertise and --pool need --tracker")
        }
        if trackerCurveKey != nil && (tracker == nil || curveSecretKey == nil) {
            throw ValidationError(
                "--tracker-curve-key needs --tracker and --curve-secret-key (the runner's key is its identity to the tracker)"
            )
        }
        if let tracker, !tracker.hasPrefix("tcp://") { throw ValidationError("--tracker takes tcp://HOST:PORT") }
        if let advertise, advertise.isEmpty || advertise.contains("/") || advertise.contains("*") {
            throw ValidationError("--advertise takes HOST or HOST:PORT (a host coordinators can dial)")
        }
        if pool.isEmpty || pool.utf8.count > 64
            || !pool.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || "0123456789._-".unicodeScalars.contains($0))
            })
        {
            throw ValidationError("--pool takes 1 to 64 letters, digits, '.', '_' or '-'")
        }
        if slots < 1 || slots > 1024 { throw ValidationError("--slots must be between 1 and 1024") }
        if allowClients != nil && curveSecretKey == nil {
            throw ValidationError("--allow-clients needs --curve-secret-key")
        }
        if maxFrameBytes < 1024 || maxFrameBytes > 1 << 20 {
            throw ValidationError("--max-frame-bytes must be between 1024 and 1048576")
        }
        if maxQueuedPerHost < 1 || maxQueuedPerHost > 1_000_000 {
            throw ValidationError("--max-queued-per-host must be between 1 and 1000000")
        }
        if maxQueued < 1 || maxQueued > 10_000_000 {
            throw ValidationError("--max-queued must be between 1 and 10000000")
        }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
    }

    func run() throws {
        StopSignals.block()  // before any thread starts (metrics, workers), so no SIGTERM is lost
        var logger = Logger(label: "vtafarm.runner")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        var options = RunnerOptions()
        options.bind = bind
        options.slots = slots
        options.name = name
        options.defaultTimeoutMs = timeoutMs
        options.maxFrameBytes = maxFrameBytes
        options.maxQueuedPerPeer = maxQueuedPerHost
        options.maxQueued = maxQueued
        options.parentPID = exitWithParent
        options.tracker = tracker
        options.advertise = advertise
        options.pool = pool
        var backends: [MeasurementBackend] = [VTASimBackend()]
        do {
            let chosen = try BackendKind.make(backend)
            options.defaultBackend = chosen.name
            if chosen.name != "vta-sim" { backends.append(chosen) }
            if let file = curveSecretKey { options.curveSecretKey = try CurveKeys.readSecret(from: file) }
            if let dir = allowClients { options.allowedClientKeys = try CurveKeys.allowedClients(in: dir) }
            if let file = trackerCurveKey { options.trackerServerKey = try CurveKeys.readPublic(from: file) }
        } catch let e as BackendError {
            throw UserError(e.description)
        } catch let e as CurveKeyError {
            throw UserError(e.description)
        }
        // Before the daemon exists: its metrics bind to the factory when it is made.
        let endpoint: MetricsEndpoint?
        do { endpoint = try metrics.map { try Telemetry.start(address: $0) } } catch let e
            as MetricsEndpoint.EndpointError
        {
            throw UserError(e.description)
        }
        if let endpoint { logger.info("metrics at http://\(endpoint.host):\(endpoint.port)/metrics") }
        let notifier: ServiceNotifier?
        do { notifier = try ServiceNotifier.fromEnvironment() } catch { throw UserError(error.description) }
        let daemon = RunnerDaemon(options: options, backends: backends, logger: logger, notifier: notifier)
        signal(SIGPIPE, SIG_IGN)
        StopSignals.handle { _ in daemon.stop() }
        do {
            // The first line on stdout names the bound endpoint, so a `tcp://127.0.0.1:*` bind
            // can be found by whoever started the runner (the embedded local farm does).
            try daemon.run { endpoint in FileHandle.standardOutput.write(Data("listening \(endpoint)\n".utf8)) }
        } catch { throw UserError("runner: \(error)") }
        endpoint?.stop()
    }
}
