import FarmTestSupport
import Foundation
import Search
import Testing
import VTA

@testable import Coordinator
@testable import Wire

/// A runner that misbehaves on purpose: a real ROUTER socket on loopback, served by a thread of
/// its own, speaking the real protocol through `Codec`. It answers Hello and Ping itself (with
/// `slots` and its instance id) and each MeasureRequest with whatever `answer` returns, as raw
/// frames, so a test can send anything a broken or hostile runner could.
/// `@unchecked Sendable`: the socket is used by the serving thread only (handed over before it
/// starts, closed after it ended); `requests` and `instanceID` are guarded by `lock`.
final class FakeRunner: @unchecked Sendable {
    let endpoint: String
    let slots: Int
    private let context = ZMQContext()
    private let socket: ZMQSocket
    private let lock = NSLock()
    private var stopping = false
    private var requestsSeen = 0
    private var instance = InstanceID.random()
    private let stopped = DispatchSemaphore(value: 0)
    private let answer: @Sendable (MeasureRequest) -> [[UInt8]]
    private let welcome: (@Sendable (Welcome) -> [UInt8])?

    init(
        slots: Int = 1, welcome: (@Sendable (Welcome) -> [UInt8])? = nil,
        answer: @escaping @Sendable (MeasureRequest) -> [[UInt8]]
    ) throws {
        self.slots = slots
        self.answer = answer
        self.welcome = welcome
        socket = try ZMQSocket(context, .router)
        try socket.bind("tcp://127.0.0.1:*")
        endpoint = socket.lastEndpoint
        let t = Thread { [self] in
            serve()
            stopped.signal()
        }
        t.start()
    }

    /// MeasureRequests received so far (every copy).
    var requests: Int { lock.withLock { requestsSeen } }

    /// Answers Pings as another process from now on (a restart on the same endpoint).
    func changeInstance() { lock.withLock { instance = InstanceID.random() } }

    func stop() {
        lock.withLock { stopping = true }
        stopped.wait()
        socket.close()
    }

    private func serve() {
        while !lock.withLock({ stopping }) {
            guard !ZMQPoller.readable([socket], timeoutMs: 20).isEmpty else { continue }
            while let frames = try? socket.receive(dontWait: true), frames.count == 2 {
                guard let message = try? Codec.decode(frames[1]) else { continue }
                let id = lock.withLock { instance }
                var replies: [[UInt8]] = []
                switch message {
                case .hello:
                    let w = Welcome(
                        runner: "fake", slots: slots, backends: ["vta-sim"], simulatorVersion: "fake", instanceID: id)
                    replies = [welcome?(w) ?? Codec.encode(.welcome(w))]
                case .ping(let nonce):
                    replies = [
                        Codec.encode(
                            .pong(Pong(nonce: nonce, slots: slots, busySlots: 0, queueDepth: 0, instanceID: id)))
                    ]
                case .measureRequest(let r):
                    lock.withLock { requestsSeen += 1 }
                    replies = answer(r)
                default: break
                }
                for reply in replies { _ = try? socket.send([frames[0], reply], dontWait: true) }
            }
        }
    }
}

/// Runners that lie, stall, restart or flood: the coordinator records nothing they made up,
/// loses no work to them and neither traps nor spins.
@Suite(.serialized) struct HostileRunnerTests {
    func options(ping: Duration = .milliseconds(250), lostAfter: Int = 3) -> DispatcherOptions {
        var o = dispatcherOptions(lostAfter: lostAfter)
        o.pingInterval = ping
        return o
    }

    @Test func madeUpResultsAreNeitherAcceptedNorRecordedAsBest() throws {
        // Claims 10^9 slots, answers each request with 19 cycles and adds results for 4 ids it
        // was never sent.
        let fake = try FakeRunner(slots: 1_000_000_000) { r in
            (0..<4).map { k in
                Codec.encode(.measureResult(MeasureResult(requestID: r.requestID + 1000 + k, status: .ok, cycles: 19)))
            } + [Codec.encode(.measureResult(MeasureResult(requestID: r.requestID, status: .ok, cycles: 19)))]
        }
        defer { fake.stop() }
        let dispatcher = try Dispatcher(
            runners: [RunnerAddress(name: "fake", endpoint: fake.endpoint)], options: options())
        defer { dispatcher.close() }
        let batch = requests(10)
        let results = try dispatcher.run(batch, timeout: .seconds(20))
        #expect(Set(results.map(\.requestID)) == Set(batch.map(\.requestID)), "only the ids sent come back")
        #expect(results.allSatisfy { $0.status == .internalError && $0.invalidReason == "implausible_cycles" })
        Thread.sleep(forTimeInterval: 0.3)  // the last made-up ones arrive after the last real one
        #expect(dispatcher.droppedResults.unexpected == 40)
        #expect(dispatcher.runnerStatuses[0].slots == DispatcherOptions().maxSlotsPerRunner)
        #expect(dispatcher.runnerStatuses[0].dropped == 40)
    }

    @Test func aTuningJobAgainstALiarRecordsNoBest() throws {
        let fake = try FakeRunner { r in
            [Codec.encode(.measureResult(MeasureResult(requestID: r.requestID, status: .ok, cycles: 19)))]
        }
        defer { fake.stop() }
        let dispatcher = try Dispatcher(
            runners: [RunnerAddress(name: "fake", endpoint: fake.endpoint)], options: options())
        defer { dispatcher.close() }
        let path = temporaryFile("liar.jsonl", "")
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".filtered")
        }
        var settings = TuneSettings(model: Model(name: "one", layers: [Model.Layer(name: "c", workload: smallConv)]))
        settings.tuner = .random
        settings.budget = 8
        settings.planSize = 8
        let job = TuningJob(
            settings: settings, dispatcher: dispatcher, records: try RecordStore(path: path, resume: false),
            filteredRecords: try RecordStore(path: path + ".filtered", resume: true), progress: { _ in })
        let summary = try job.run()
        #expect(summary.modelCycles == nil, "no layer has a plausible measurement")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 8)
        #expect(lines.allSatisfy { $0.contains("\"INTERNAL\"") && $0.contains("implausible_cycles") }, "\(lines)")
    }

    @Test func aRunnerThatAnswersPingsButNeverResultsLosesItsWork() throws {
        let fake = try FakeRunner { _ in [] }
        defer { fake.stop() }
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1)
        defer { farm.stop() }
        var o = options()
        o.resultMargin = .milliseconds(500)
        let dispatcher = try Dispatcher(
            runners: [RunnerAddress(name: "fake", endpoint: fake.endpoint)] + farm.addresses, options: o)
        defer { dispatcher.close() }
        let batch = requests(8, timeoutMs: 500)
        let results = try dispatcher.run(batch, timeout: .seconds(20))
        #expect(Set(results.map(\.requestID)) == Set(batch.map(\.requestID)))
        #expect(results.allSatisfy { ($0.status == .ok || $0.status == .invalid) && $0.runner == "local-0" })
        #expect(fake.requests > 0, "the fake was sent work and held it")
        #expect(dispatcher.runnerStatuses[0].stalled && dispatcher.runnerStatuses[0].reachable)
    }

    @Test func aRunnerRestartedWithinThePingWindowLosesItsWorkAtOnce() throws {
        // Pings every second, and lost only after 30 s of silence: only the instance id can
        // tell the restart, which takes well under a second, as stop-runners then launch-runners.
        let first = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1, backend: "delay:2000")
        let endpoint = first.addresses[0].endpoint
        let dispatcher = try Dispatcher(runners: first.addresses, options: options(ping: .seconds(1), lostAfter: 30))
        defer { dispatcher.close() }
        dispatcher.submit(requests(3, backend: "delay"))
        let sent = ContinuousClock.now + .seconds(10)
        while dispatcher.runnerStatuses[0].inFlight < 3 && ContinuousClock.now < sent {
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(dispatcher.runnerStatuses[0].inFlight == 3)
        first.signal(0, SIGKILL)
        _ = first.waitForExit(0, timeout: 5)
        let again = Process()
        again.executableURL = URL(fileURLWithPath: vtafarmBinary)
        again.arguments = [
            "runner", "--bind", endpoint, "--slots", "1", "--backend", "delay:20", "--log-level", "warning",
        ]
        again.standardOutput = Pipe()
        try again.run()
        defer {
            again.terminate()
            again.waitUntilExit()
        }
        let restarted = ContinuousClock.now
        var results: [MeasureResult] = []
        while results.count < 3, let r = try dispatcher.next(timeout: .seconds(10)) { results.append(r) }
        #expect(results.count == 3 && results.allSatisfy { $0.status == .ok }, "\(results)")
        #expect(ContinuousClock.now - restarted < .seconds(8), "seen at the first Pong, not after a deadline")
    }

    @Test func aRunnerRefusingEveryRequestCannotMakeTheCoordinatorSpin() throws {
        let fake = try FakeRunner { r in
            [Codec.encode(.error(WireError(code: .badRequest, message: "no", requestID: r.requestID)))]
        }
        defer { fake.stop() }
        let dispatcher = try Dispatcher(
            runners: [RunnerAddress(name: "fake", endpoint: fake.endpoint)], options: options())
        defer { dispatcher.close() }
        let results = try dispatcher.run(requests(5), timeout: .seconds(10))
        #expect(
            results.count == 5 && results.allSatisfy { $0.status == .internalError && $0.error.contains("refused") })
        #expect(fake.requests == 5 * DispatcherOptions().maxAttempts, "each request sent maxAttempts times")
    }

    @Test func aMessageOverTheSizeLimitIsRefusedAtTheSocket() throws {
        // A Welcome carrying a 4 MiB runner name: libzmq drops the connection before buffering
        // it, so the runner never joins (and the coordinator never holds the bytes).
        let oversized: @Sendable (Welcome) -> [UInt8] = { w in
            var big = w
            big.runner = String(repeating: "x", count: 4 << 20)
            return Codec.encode(.welcome(big))
        }
        let fake = try FakeRunner(welcome: oversized, answer: { _ in [] })
        defer { fake.stop() }
        let dispatcher = try Dispatcher(
            runners: [RunnerAddress(name: "fake", endpoint: fake.endpoint)], options: options())
        defer { dispatcher.close() }
        Thread.sleep(forTimeInterval: 1.5)
        #expect(!dispatcher.runnerStatuses[0].reachable)
        #expect(dispatcher.runnerStatuses[0].runnerName == nil)
    }
}
