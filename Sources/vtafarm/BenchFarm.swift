import ArgumentParser
import Coordinator
import Foundation
import VTA
import Wire

struct BenchFarm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "farm",
        abstract: "Farm throughput: scaling over runner processes, and the per-measurement overhead.",
        discussion: """
            1. Scaling: 1, 2, 4 and 8 single-slot runner processes on loopback with the delay \
            backend (--delay-ms, default 20); each gets --per-runner measurements; prints \
            measurements/s and the ratio to the ideal (runners / delay).
            2. Overhead: one coordinator and one runner with a 0 ms delay backend; prints \
            measurements per second through the whole path (encode, ZeroMQ, queue, worker, reply).
            With --tracker instead: an elastic farm. A local tracker, and --join-runners \
            single-slot runners (delay backend) that register with it one every --join-every \
            seconds while one coordinator measures; prints measurements per second each second \
            with the runners serving, and how soon each joining runner returned its first result. \
            Then the overhead per measurement through the tracker path against the static path \
            (0 ms backend, --join-runners runners, alternating runs, medians of --overhead-runs).
            With --exhaustive instead: `tune --tuner exhaustive` of --model over --fpga's buildable \
            space (vta-sim runners, one slot each) with each of --runners runner counts; prints layer \
            searches per second, the speed-up over the first count, and checks that every count \
            finds the same optimum. A machine with fewer cores than runners cannot speed up past its cores.
            Runner processes are this executable; build with -c release before trusting the figures.
            """
    )
    @Option(help: "Delay of the scaling runs, in milliseconds.") var delayMs = 20.0
    @Option(help: "Measurements per runner in the scaling runs.") var perRunner = 100
    @Option(help: "Measurements in the overhead run.") var overheadRequests = 100_000
    @Option(help: "Worker slots of the overhead run's runner.") var overheadSlots = 2
    @Option(help: "Runner counts of the scaling runs.") var runners: [Int] = [1, 2, 4, 8]
    @Flag(help: "Also run the overhead run with the runner's Prometheus metrics on (--metrics), and print the ratio.")
    var metricsOverhead = false
    @Flag(help: "Bench the elastic farm instead: runners join a local tracker during the run.") var tracker = false
    @Option(help: "With --tracker: runners that join, one by one.") var joinRunners = 4
    @Option(help: "With --tracker: seconds between joins.") var joinEvery = 2.0
    @Option(help: "With --tracker: overhead runs of each path (the medians are compared).") var overheadRuns = 3
    @Flag(help: "Bench the exhaustive ground truth instead: layer searches over the runners.") var exhaustive = false
    @Option(help: "With --exhaustive: the model.") var model = "resnet18"
    @Option(help: "With --exhaustive: the board whose buildable space is searched.") var fpga = "zcu104"

    func validate() throws {
        if delayMs <= 0 || delayMs > 10_000 { throw ValidationError("--delay-ms must be in (0, 10000]") }
        if perRunner < 1 || overheadRequests < 1 { throw ValidationError("counts must be positive") }
        if runners.contains(where: { $0 < 1 || $0 > 64 }) {
            throw ValidationError("--runners values must be between 1 and 64")
        }
        if joinRunners < 1 || joinRunners > 64 { throw ValidationError("--join-runners must be between 1 and 64") }
        if joinEvery < 0.5 || joinEvery > 60 {
            throw ValidationError("--join-every must be between 0.5 and 60 seconds")
        }
        if overheadRuns < 1 || overheadRuns > 20 { throw ValidationError("--overhead-runs must be between 1 and 20") }
    }

    func run() throws {
        #if DEBUG
            print("note: this is a debug build; measure with `swift build -c release`")
        #endif
        let request = MeasureRequest(
            requestID: 0, workload: .dense(ci: 16, co: 16), schedule: Schedule(), backend: "delay")
        if tracker { return try runElastic(template: request) }
        if exhaustive { return try runExhaustive() }
        print("farm scaling: single-slot runners, delay backend \(delayMs) ms, \(perRunner) measurements per runner")
        print(
            pad("runners", 8) + pad("measurements", 14, right: true) + pad("seconds", 10, right: true)
                + pad("per second", 12, right: true) + pad("ideal", 10, right: true) + pad("ratio", 8, right: true))
        for n in runners {
            let farm = try LocalFarm(
                executable: LocalFarm.currentExecutable, runners: n, slots: 1,
                backend: "delay:\(delayMs)")
            defer { farm.stop() }
            let (count, seconds) = try drive(farm, requests: n * perRunner, template: request, prefetch: 2)
            let rate = Double(count) / seconds
            let ideal = Double(n) * 1000 / delayMs
            print(
                pad("\(n)", 8) + pad("\(count)", 14, right: true)
                    + pad(String(format: "%.2f", seconds), 10, right: true)
                    + pad(String(format: "%.1f", rate), 12, right: true)
                    + pad(String(format: "%.1f", ideal), 10, right: true)
                    + pad(String(format: "%.1f%%", 100 * rate / ideal), 8, right: true))
        }
        var rates: [Bool: [Double]] = [:]
        // With metrics: off and on in turn, three times each, so a noisy machine hits both alike.
        for metrics in metricsOverhead ? [false, true, false, true, false, true] : [false] {
            let farm = try LocalFarm(
                executable: LocalFarm.currentExecutable, runners: 1, slots: overheadSlots, backend: "delay:0",
                extraArguments: metrics ? ["--metrics", "127.0.0.1:0"] : [])
            defer { farm.stop() }
            let (count, seconds) = try drive(farm, requests: overheadRequests, template: request, prefetch: 256)
            rates[metrics, default: []].append(Double(count) / seconds)
            print(
                String(
                    format:
                        "overhead%@: %d measurements through one coordinator and one runner (%d slots, 0 ms backend) in %.2f s = %.0f per second",
                    metrics ? " (runner metrics on)" : "", count, overheadSlots, seconds, Double(count) / seconds))
        }
        if let on = rates[true], let off = rates[false] {
            func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
            print(
                String(
                    format: "metrics overhead: median %.0f per second with runner metrics, %.0f without (ratio %.3f)",
                    median(on), median(off), median(on) / median(off)))
        }
    }

    /// Submits `requests` copies, returns (results, seconds from submit to the last result).
    func drive(_ farm: LocalFarm, requests: Int, template: MeasureRequest, prefetch: Int) throws -> (Int, Double) {
        var options = DispatcherOptions()
        options.prefetch = prefetch
        let dispatcher = try Dispatcher(runners: farm.addresses, options: options)
        defer { dispatcher.close() }
        return try drive(dispatcher, runners: farm.addresses.count, requests: requests, template: template)
    }

    /// The same on a dispatcher that reaches `runners` runners (given, or from a tracker).
    func drive(_ dispatcher: Dispatcher, runners: Int, requests: Int, template: MeasureRequest) throws -> (Int, Double)
    {
        // Warm up: every runner has answered Hello before the clock starts.
        let warm = (0..<runners * 2).map { i -> MeasureRequest in
            var r = template
            r.requestID = UInt64(1 << 40 + i)
            return r
        }
        _ = try dispatcher.run(warm, timeout: .seconds(30))
        let batch = (0..<requests).map { i -> MeasureRequest in
            var r = template
            r.requestID = UInt64(i + 1)
            return r
        }
        let start = ContinuousClock.now
        dispatcher.submit(batch)
        var received = 0
        while received < requests {
            guard let r = try dispatcher.next(timeout: .seconds(30)) else {
                throw UserError("bench: results stopped arriving")
            }
            if r.status != .ok {
                throw UserError("bench: request \(r.requestID) came back \(r.status.rawValue): \(r.error)")
            }
            received += 1
        }
        let d = ContinuousClock.now - start
        return (received, d.inSeconds)
    }
}
