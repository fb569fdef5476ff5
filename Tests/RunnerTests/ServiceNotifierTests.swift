import FarmTestSupport
import Foundation
import Testing

@testable import Runner

/// The datagram socket systemd would hold: bound by the test, named to the child in NOTIFY_SOCKET.
final class NotifyListener {
    struct BindError: Error, CustomStringConvertible {
        let description: String
    }

    let fd: Int32
    /// What goes in NOTIFY_SOCKET: the path, or "@name" for an abstract socket.
    let notifySocket: String
    private let path: String?

    init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let name = "vtafarm-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        path = abstract ? nil : "/tmp/\(name).sock"
        notifySocket = abstract ? "@\(name)" : path!
        let bytes: [UInt8] = abstract ? [0] + Array(name.utf8) : Array(path!.utf8)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard fd >= 0, rc == 0 else { throw BindError(description: "bind \(notifySocket): errno \(errno)") }
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }

    /// The next datagram within `timeout`, or nil.
    func receive(timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) == 1 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { return String(decoding: buffer[0..<n], as: UTF8.self) }
        }
        return nil
    }

    /// Datagrams until one has the line `state` (as "READY=1"); nil when none does within `timeout`.
    func wait(for state: String, timeout: Duration) -> (message: String, before: [String])? {
        var before: [String] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, let m = receive(timeout: deadline - ContinuousClock.now) {
            if m.split(separator: "\n").contains(Substring(state)) { return (m, before) }
            before.append(m)
        }
        return nil
    }
}

/// sd_notify as a systemd Type=notify unit sees it, from real runner and tracker processes.
@Suite(.serialized) struct ServiceNotifierTests {
    /// READY=1 after the listening line, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 on SIGTERM.
    func checkLifecycle(_ arguments: [String], abstract: Bool) throws {
        let listener = try NotifyListener(abstract: abstract)
        let process = try FarmProcess(
            arguments, environment: ["NOTIFY_SOCKET": listener.notifySocket, "WATCHDOG_USEC": "200000"])
        defer { process.stop() }
        // FarmProcess returned, so the listening line was printed; READY follows it and names the endpoint.
        let ready = listener.wait(for: "READY=1", timeout: .seconds(20))
        #expect(ready != nil, "no READY=1: \(process.log)")
        #expect(ready?.message.contains(process.endpoint) == true, "\(ready?.message ?? "")")
        #expect(ready?.before.isEmpty == true, "nothing before READY=1: \(ready?.before ?? [])")
        // 100 ms between pets: over 1.5 s at least 5 arrive, however loaded the machine is.
        var pets = 0
        let until = ContinuousClock.now + .milliseconds(1500)
        while ContinuousClock.now < until, let m = listener.receive(timeout: until - ContinuousClock.now) {
            if m == "WATCHDOG=1" { pets += 1 }
        }
        #expect(pets >= 5 && pets <= 30, "WATCHDOG=1 \(pets) times in 1.5 s at WATCHDOG_USEC=200000")
        process.process.terminate()
        #expect(listener.wait(for: "STOPPING=1", timeout: .seconds(20)) != nil, "no STOPPING=1: \(process.log)")
        process.process.waitUntilExit()
        #expect(process.process.terminationStatus == 0)
    }

    @Test func runnerNotifiesOverAPathSocket() throws {
        try checkLifecycle(
            ["runner", "--bind", "tcp://127.0.0.1:*", "--slots", "1", "--backend", "delay:10"], abstract: false)
    }

    @Test func trackerNotifiesOverAnAbstractSocket() throws {
        try checkLifecycle(["tracker", "--bind", "tcp://127.0.0.1:*", "--heartbeat-ms", "200"], abstract: true)
    }

    /// WATCHDOG_PID naming another process (the variables were inherited) means no pets; a runner
    /// whose bind fails never says READY=1.
    @Test func watchdogForAnotherPIDAndAFailedBindStaySilent() throws {
        let listener = try NotifyListener(abstract: false)
        let first = try FarmProcess(
            ["runner", "--bind", "tcp://127.0.0.1:*", "--slots", "1"],
            environment: ["NOTIFY_SOCKET": listener.notifySocket, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"])
        defer { first.stop() }
        #expect(listener.wait(for: "READY=1", timeout: .seconds(20)) != nil)
        #expect(listener.receive(timeout: .milliseconds(800)) == nil, "a pet for WATCHDOG_PID=1")

        let clash = Process()
        clash.executableURL = URL(fileURLWithPath: vtafarmBinary)
        clash.arguments = ["runner", "--bind", first.endpoint, "--slots", "1"]
        clash.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": listener.notifySocket]) {
            $1
        }
        clash.standardOutput = FileHandle.nullDevice
        clash.standardError = FileHandle.nullDevice
        try clash.run()
        clash.waitUntilExit()
        #expect(clash.terminationStatus != 0, "a second runner bound \(first.endpoint)")
        #expect(listener.receive(timeout: .milliseconds(300)) == nil, "READY=1 from a runner that could not bind")
    }

    /// systemd may stop a unit the moment it says READY=1: that SIGTERM must not be lost (it was,
    /// while the signal was ignored until a DispatchSource had been registered). The daemon is
    /// spawned as systemd starts one, with no signal blocked or ignored.
    @Test(arguments: [
        ["runner", "--bind", "tcp://127.0.0.1:*", "--slots", "1"], ["tracker", "--bind", "tcp://127.0.0.1:*"],
    ])
    func aSIGTERMJustAfterREADYStopsTheDaemon(arguments: [String]) throws {
        // The window was narrow: a script that signalled at once lost 1 to 2 SIGTERMs in 5 (tracker).
        for _ in 0..<10 {
            let listener = try NotifyListener(abstract: false)
            let pid = try spawnWithCleanSignals(
                [vtafarmBinary] + arguments, environment: ["NOTIFY_SOCKET=\(listener.notifySocket)"])
            defer {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
            #expect(listener.wait(for: "READY=1", timeout: .seconds(20)) != nil)
            kill(pid, SIGTERM)
            #expect(
                listener.wait(for: "STOPPING=1", timeout: .seconds(10)) != nil,
                "\(arguments[0]) lost a SIGTERM sent just after READY=1")
        }
    }

    /// posix_spawn with every signal unblocked and at its default, output to /dev/null.
    func spawnWithCleanSignals(_ argv: [String], environment: [String]) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let env = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" } + environment
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer { for p in cArgs + cEnv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, &cArgs, &cEnv)
        guard rc == 0 else { throw NotifyListener.BindError(description: "posix_spawn \(argv[0]): \(rc)") }
        return pid
    }

    @Test func environmentIsCheckedWithClearErrors() throws {
        #expect(try ServiceNotifier.fromEnvironment([:]) == nil)
        let abstract = try #require(try ServiceNotifier.fromEnvironment(["NOTIFY_SOCKET": "@x"], pid: 7))
        #expect(abstract.address == .abstract("x") && abstract.watchdogInterval == nil)
        let mine = try ServiceNotifier.fromEnvironment(
            ["NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "7"], pid: 7)
        #expect(mine?.watchdogInterval == .milliseconds(1500))
        for bad in [
            ["NOTIFY_SOCKET": "relative/path"], ["NOTIFY_SOCKET": "@"],
            ["NOTIFY_SOCKET": "/" + String(repeating: "a", count: 120)],
            ["NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "soon"], ["NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "0"],
            ["NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "me"],
        ] {
            #expect(throws: ServiceNotifier.ConfigurationError.self, "\(bad)") {
                try ServiceNotifier.fromEnvironment(bad, pid: 7)
            }
        }
    }
}
