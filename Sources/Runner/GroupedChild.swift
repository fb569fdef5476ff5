import Foundation

/// Runs a program in a process group of its own, feeds its standard input, and collects its
/// standard output and error until it exits or a deadline passes.
///
/// Why not Foundation's `Process`: killing the program alone at a deadline leaves its children
/// (a script's `sleep`) alive, holding the output pipes open, and whoever reads them to the end
/// waits for their whole life. Here the program leads its own group (posix_spawn with
/// POSIX_SPAWN_SETPGROUP), the whole group is signalled, and the wait ends at the deadline
/// whatever the pipes do.
public struct GroupedChild {
    /// How the run ended.
    public enum Outcome: Equatable, Sendable {
        /// Exited by itself with this status (or was killed by a signal: 128 + signal).
        case exited(Int32)
        /// Still running at the deadline: its group got SIGTERM, then SIGKILL a second later.
        case timedOut
    }

    public var outcome: Outcome
    /// The first `outputLimit` bytes of standard output.
    public var stdout: Data
    /// The last `outputLimit` bytes of standard error.
    public var stderr: Data

    /// After the program exits, how long its output pipes may stay open (held by something it
    /// left running) before the rest of its group is killed.
    static let exitGrace: Duration = .milliseconds(100)

    /// Runs `path` with no arguments and the runner's environment. Throws (a message) when it
    /// cannot be started.
    public static func run(
        _ path: String, input: Data, deadline: ContinuousClock.Instant, outputLimit: Int = 1 << 20
    ) throws -> GroupedChild {
        // Pipes are made close-on-exec under `spawning`, which every spawn here also holds: a
        // program another worker starts at the same moment must not inherit these ends, or the
        // pipes would stay open after this program exits. (Glibc's pipe2 is not visible to Swift.)
        spawning.lock()
        var fds: [Int32] = []
        for _ in 0..<3 {
            var pair: [Int32] = [-1, -1]
            guard pipe(&pair) == 0 else {
                let why = String(cString: strerror(errno))
                spawning.unlock()
                for fd in fds { close(fd) }
                throw BackendError("pipe: \(why)")
            }
            for fd in pair { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            fds += pair
        }
        let inPipe = Array(fds[0..<2])
        let outPipe = Array(fds[2..<4])
        let errPipe = Array(fds[4..<6])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own group (pgid = its pid); signals back to their defaults (the runner ignores
        // SIGTERM, SIGINT and SIGPIPE, and ignored signals survive exec) and none blocked.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { free(argv[0]) }
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        spawning.unlock()
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            for fd in [inPipe[1], outPipe[0], errPipe[0]] { close(fd) }
            throw BackendError("cannot start \(path): \(String(cString: strerror(rc)))")
        }
        // The input is small (one JSON object); a program that does not read it must not block us.
        _ = fcntl(inPipe[1], F_SETFL, fcntl(inPipe[1], F_GETFL) | O_NONBLOCK)
        input.withUnsafeBytes { raw in _ = write(inPipe[1], raw.baseAddress, raw.count) }
        close(inPipe[1])

        var out = Data()
        var err = Data()
        var open: [Int32] = [outPipe[0], errPipe[0]]
        defer { for fd in open { close(fd) } }
        var exitedAt: ContinuousClock.Instant?
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if exitedAt == nil && hasExited(pid) { exitedAt = .now }
            let now = ContinuousClock.now
            if let exitedAt, open.isEmpty || now - exitedAt > exitGrace { break }
            if exitedAt == nil && now >= deadline {
                timedOut = true
                break
            }
            let wait = exitedAt.map { $0 + exitGrace - now } ?? min(deadline - now, .milliseconds(50))
            let waitMs = Int32(clamping: max(1, wait.inNanoseconds / 1_000_000))
            if open.isEmpty {
                usleep(UInt32(min(waitMs, 5)) * 1000)  // both pipes closed: only the exit is awaited
                continue
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), waitMs) > 0 else { continue }
            for item in fds where item.revents != 0 {
                let n = read(item.fd, &buffer, buffer.count)
                if n <= 0 {
                    if n == 0 || errno != EINTR {
                        close(item.fd)
                        open.removeAll { $0 == item.fd }
                    }
                    continue
                }
                if item.fd == outPipe[0] {
                    if out.count < outputLimit { out.append(contentsOf: buffer[0..<min(n, outputLimit - out.count)]) }
                } else {
                    err.append(contentsOf: buffer[0..<n])
                    if err.count > 2 * outputLimit { err = err.suffix(outputLimit) }
                }
            }
        }
        if timedOut {
            kill(-pid, SIGTERM)
            let killAt = ContinuousClock.now + .seconds(1)
            while !hasExited(pid) && ContinuousClock.now < killAt { usleep(10_000) }
        }
        // Whatever is left of its group (children it left running, or it, past the grace) goes
        // now, while the exited leader is a zombie that keeps the group id from being reused.
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return GroupedChild(outcome: timedOut ? .timedOut : .exited(code), stdout: out, stderr: err.suffix(outputLimit))
    }

    private static let spawning = NSLock()

    /// True once `pid` has exited, without reaping it (WNOWAIT), so its group id stays reserved.
    static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return errno == ECHILD }
        return info.si_signo != 0
    }
}
