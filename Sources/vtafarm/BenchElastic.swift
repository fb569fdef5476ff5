import Coordinator
import Foundation
import Logging
import Wire

/// `bench farm --tracker`: what an elastic farm costs and how fast it grows. Runners register
/// with a tracker one by one while a coordinator measures; each second prints the throughput
/// and the runners serving, so the rise after each join shows. Then the same number of runners
/// measure with a 0 ms backend through the tracker path and the static path in turn.
extension BenchFarm {
    func runElastic(template: MeasureRequest) throws {
        let tracker = try BenchTracker()
        defer { tracker.stop() }
        let endpoint = tracker.endpoint
        print(
            "elastic farm: tracker \(endpoint); \(joinRunners) single-slot runners (delay backend \(delayMs) ms) "
                + "join one every \(joinEvery) s; coordinator ping interval 1 s")
        var options = DispatcherOptions()
        options.tracker = endpoint
        let dispatcher = try Dispatcher(runners: [], options: options, logger: quietLogger)
        defer { dispatcher.close() }
        // More work than the run can measure, so the queue never runs dry; close abandons the rest.
        let seconds = joinEvery * Double(joinRunners + 1)
        let total = Int(Double(joinRunners) * 1000 / delayMs * seconds * 2) + 1000
        dispatcher.submit(
            (1...total).map { i in
                var r = template
                r.requestID = UInt64(i)
                return r
            })
        let joins = JoinLog()
        let start = ContinuousClock.now
        let (count, every, delay) = (joinRunners, joinEvery, delayMs)
        let joiner = Thread {
            for k in 0..<count {
                Thread.sleep(until: Date().addingTimeInterval((start + .seconds(every * Double(k)) - .now).inSeconds))
                do {
                    let farm = try LocalFarm(
                        executable: LocalFarm.currentExecutable, runners: 1, slots: 1, backend: "delay:\(delay)",
                        extraArguments: ["--tracker", endpoint], firstIndex: k)
                    joins.add(farm, name: "local-\(k)", at: ContinuousClock.now - start)
                } catch {
                    joins.fail("runner \(k) did not start: \(error)")
                }
            }
        }
        joiner.start()
        defer { joins.stopAll() }
        print(pad("second", 8) + pad("runners", 9, right: true) + pad("measurements/s", 16, right: true))
        var firstResult: [String: Duration] = [:]
        var inSecond = 0
        var second = 1
        let end = start + .seconds(seconds)
        while ContinuousClock.now < end {
            if let failure = joins.failure { throw UserError("bench: \(failure)") }
            while ContinuousClock.now - start >= .seconds(second) {
                let serving = dispatcher.runnerStatuses.filter(\.reachable).count
                print(pad("\(second)", 8) + pad("\(serving)", 9, right: true) + pad("\(inSecond)", 16, right: true))
                inSecond = 0
                second += 1
            }
            if let r = try dispatcher.next(timeout: .milliseconds(20)) {
                guard r.status == .ok else {
                    throw UserError("bench: request \(r.requestID) came back \(r.status.rawValue): \(r.error)")
                }
                inSecond += 1
                if firstResult[r.runner] == nil { firstResult[r.runner] = ContinuousClock.now - start }
            }
        }
        let serving = dispatcher.runnerStatuses.filter(\.reachable).count
        print(pad("\(second)", 8) + pad("\(serving)", 9, right: true) + pad("\(inSecond)", 16, right: true))
        for (name, joined) in joins.joined {
            let first = firstResult[name].map { String(format: "%.3f s after it started", ($0 - joined).inSeconds) }
            print(
                String(format: "%@ started at %.2f s: first result ", name, joined.inSeconds)
                    + (first ?? "never (within the run)"))
        }
        joins.stopAll()
        dispatcher.close()
        try compareOverhead(tracker: endpoint, template: template)
    }

    /// Alternating runs (static, tracker, static, ...) so a noisy machine hits both alike.
    func compareOverhead(tracker: String, template: MeasureRequest) throws {
        var rates: [Bool: [Double]] = [:]
        for run in 0..<overheadRuns * 2 {
            let viaTracker = run % 2 == 1
            let farm = try LocalFarm(
                executable: LocalFarm.currentExecutable, runners: joinRunners, slots: overheadSlots, backend: "delay:0",
                extraArguments: viaTracker ? ["--tracker", tracker] : [], firstIndex: 100 + run * joinRunners)
            defer { farm.stop() }
            var options = DispatcherOptions()
            options.prefetch = 256
            options.tracker = viaTracker ? tracker : nil
            let dispatcher = try Dispatcher(
                runners: viaTracker ? [] : farm.addresses, options: options, logger: quietLogger)
            defer { dispatcher.close() }
            let ready = ContinuousClock.now + .seconds(20)
            while dispatcher.runnerStatuses.filter(\.reachable).count < joinRunners {
                guard ContinuousClock.now < ready else { throw UserError("bench: the runners did not all join") }
                Thread.sleep(forTimeInterval: 0.01)
            }
            let (count, seconds) = try drive(
                dispatcher, runners: joinRunners, requests: overheadRequests, template: template)
            let rate = Double(count) / seconds
            rates[viaTracker, default: []].append(rate)
            print(
                String(
                    format:
                        "overhead, %@ path: %d measurements, %d runners x %d slots, 0 ms backend: %.2f s = %.0f/s (%.2f us each)",
                    viaTracker ? "tracker" : "static", count, joinRunners, overheadSlots, seconds, rate, 1e6 / rate))
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        let viaTracker = median(rates[true] ?? [0])
        let direct = median(rates[false] ?? [0])
        let ratio = direct / viaTracker  // time per measurement, tracker over static
        print(
            String(
                format:
                    "tracker vs static (medians of %d): %.2f vs %.2f us per measurement, ratio %.3f (%@ the 5%% target)",
                overheadRuns, 1e6 / viaTracker, 1e6 / direct, ratio, ratio <= 1.05 ? "within" : "over"))
    }
}

/// Joins and drains are the point of the bench, not news: only warnings reach stderr.
private let quietLogger: Logger = {
    var l = Logger(label: "vtafarm.dispatcher")
    l.logLevel = .warning
    return l
}()

/// The runners started so far (each its own LocalFarm), written by the joining thread.
private final class JoinLog: @unchecked Sendable {
    private let lock = NSLock()
    private var farms: [LocalFarm] = []
    private var times: [(String, Duration)] = []
    private var problem: String?

    func add(_ farm: LocalFarm, name: String, at t: Duration) {
        lock.withLock {
            farms.append(farm)
            times.append((name, t))
        }
    }
    func fail(_ why: String) { lock.withLock { problem = why } }
    var failure: String? { lock.withLock { problem } }
    var joined: [(String, Duration)] { lock.withLock { times } }
    func stopAll() {
        let all = lock.withLock {
            let f = farms
            farms = []
            return f
        }
        for f in all { f.stop() }
    }
}

/// A tracker in this process, on a free loopback port, for the bench's runners to register with.
private final class BenchTracker: @unchecked Sendable {
    let server: TrackerServer
    let endpoint: String
    private let stopped = DispatchSemaphore(value: 0)

    init() throws {
        var logger = Logger(label: "vtafarm.bench.tracker")
        logger.logLevel = .warning
        let server = TrackerServer(bind: "tcp://127.0.0.1:*", logger: logger)
        self.server = server
        let listening = DispatchSemaphore(value: 0)
        let box = EndpointBox()
        let stopped = self.stopped
        let t = Thread {
            do {
                try server.run { endpoint in
                    box.set(endpoint)
                    listening.signal()
                }
            } catch {
                box.fail("\(error)")
                listening.signal()
            }
            stopped.signal()
        }
        t.start()
        guard listening.wait(timeout: .now() + 10) == .success, let endpoint = box.endpoint else {
            throw UserError("bench: the tracker did not start: \(box.problem ?? "no answer in 10 s")")
        }
        self.endpoint = endpoint
    }

    func stop() {
        server.stop()
        stopped.wait()
    }
}

private final class EndpointBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    private var error: String?
    func set(_ e: String) { lock.withLock { value = e } }
    func fail(_ e: String) { lock.withLock { error = e } }
    var endpoint: String? { lock.withLock { value } }
    var problem: String? { lock.withLock { error } }
}
