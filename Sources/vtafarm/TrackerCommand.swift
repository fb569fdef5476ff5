import ArgumentParser
import Coordinator
import Foundation
import Logging
import Runner
import Wire

struct TrackerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracker",
        abstract: "Run a tracker: runners register with it and coordinators learn from it which runners to dial.",
        discussion: """
            The tracker is an address book, not a data path: measurements go from coordinators to \
            runners directly, so losing it stops joins, not work. Runners (`vtafarm runner --tracker \
            ADDR`) register, heartbeat every --heartbeat-ms and are forgotten after --expiry missed \
            heartbeats. The first line on stdout is "listening ENDPOINT". SIGTERM or SIGINT: exit. \
            Under a systemd Type=notify unit it sends READY=1 once bound, STOPPING=1 and WATCHDOG=1.
            """
    )

    @Option(help: "ZeroMQ endpoint to bind.") var bind = "tcp://*:7500"
    @Option(help: "Heartbeat interval asked of runners, in milliseconds.") var heartbeatMs = 1000
    @Option(help: "Missed heartbeats after which a runner is forgotten.") var expiry = 3
    @Option(help: "Runners held at most.") var maxRunners = TrackerLimits().maxRunners
    @Option(
        help: ArgumentHelp(
            "Enable CURVE: a file holding the tracker's Z85 secret key (vtafarm keys generate).", valueName: "file"))
    var curveSecretKey: String?
    @Option(
        help: ArgumentHelp(
            "With CURVE: a directory of the Z85 public keys of allowed runners and coordinators, one per file.",
            valueName: "dir"))
    var allowClients: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func validate() throws {
        if heartbeatMs < 50 || heartbeatMs > 60_000 {
            throw ValidationError("--heartbeat-ms must be between 50 and 60000")
        }
        if expiry < 2 || expiry > 100 { throw ValidationError("--expiry must be between 2 and 100") }
        if maxRunners < 1 || maxRunners > 100_000 {
            throw ValidationError("--max-runners must be between 1 and 100000")
        }
        if allowClients != nil && curveSecretKey == nil {
            throw ValidationError("--allow-clients needs --curve-secret-key")
        }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
    }

    func run() throws {
        StopSignals.block()  // before any thread starts, so no SIGTERM is lost
        var logger = Logger(label: "vtafarm.tracker")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        var limits = TrackerLimits()
        limits.heartbeatInterval = .milliseconds(heartbeatMs)
        limits.expiryIntervals = expiry
        limits.maxRunners = maxRunners
        let notifier: ServiceNotifier?
        do { notifier = try ServiceNotifier.fromEnvironment() } catch { throw UserError(error.description) }
        let secret: String?
        let allowed: Set<String>?
        do {
            secret = try curveSecretKey.map { try CurveKeys.readSecret(from: $0) }
            allowed = try allowClients.map { try CurveKeys.allowedClients(in: $0) }
        } catch let e as CurveKeyError { throw UserError(e.description) }
        let server = TrackerServer(
            bind: bind, limits: limits, logger: logger, notifier: notifier, curveSecretKey: secret,
            allowedClients: allowed)
        StopSignals.handle { _ in server.stop() }
        do {
            try server.run { endpoint in FileHandle.standardOutput.write(Data("listening \(endpoint)\n".utf8)) }
        } catch { throw UserError("tracker: \(error)") }
    }
}
