import FarmTestSupport
import Foundation
import Search
import Testing
import VTA
import Wire

@testable import Coordinator

/// Layer searches (coarse requests): who gets them, what a coordinator accepts as their answer,
/// and the farm's exhaustive search against the in-process optimum.
@Suite(.serialized) struct LayerSearchTests {
    let t0 = ContinuousClock.now
    let workload = Workload.conv2d(h: 14, w: 14, ci: 64, co: 64, k: 3, s: 1, p: 1)

    func searchRequest(_ id: UInt64, hardware: HardwareConfig = .stock) -> MeasureRequest {
        let space = ScheduleSpace(workload: workload, spec: HardwareSpec(hardware))
        return MeasureRequest(
            requestID: id, task: "m/a", workload: workload, hardware: hardware, schedule: space.schedule(at: 0),
            search: LayerSearch(spaceSize: UInt64(space.size)))
    }

    func sent(_ actions: [DispatchAction], to runner: Int) -> [UInt64] {
        actions.compactMap {
            if case .send(let i, .measureRequest(let r)) = $0, i == runner { return r.requestID }
            return nil
        }
    }

    @Test func layerSearchesGoOnlyToRunnersThatOfferThem() {
        var options = DispatcherOptions()
        options.unreachableAfter = .seconds(5)
        let addresses = (0..<2).map { RunnerAddress(name: "r\($0)", endpoint: "tcp://r\($0):7600") }
        var s = DispatcherState(runners: addresses, options: options, now: t0)
        var actions: [DispatchAction] = []
        s.submit([searchRequest(1), searchRequest(2)], actions: &actions)
        // An older runner (no features) is welcomed first: it gets none of them.
        let old = Welcome(runner: "old", slots: 4, backends: ["vta-sim"], simulatorVersion: "v")
        s.received(.welcome(old), from: 0, now: t0, actions: &actions)
        #expect(sent(actions, to: 0).isEmpty)
        // Nobody offers layer-search for longer than unreachableAfter: the run fails, naming it.
        for k in 1...7 {
            s.received(
                .pong(Pong(nonce: 0, slots: 4, busySlots: 0, queueDepth: 0)), from: 0, now: t0 + .seconds(k),
                actions: &actions)
            s.tick(now: t0 + .seconds(k), actions: &actions)
        }
        #expect(s.failure == .missingFeature("layer-search", ["old"]))
        // A runner that offers it joins: it takes both, and the failure clears.
        actions = []
        let new = Welcome(
            runner: "new", slots: 1, backends: ["vta-sim"], simulatorVersion: "v", features: ["layer-search"])
        s.received(.welcome(new), from: 1, now: t0 + .seconds(8), actions: &actions)
        #expect(sent(actions, to: 1) == [1, 2])
        s.tick(now: t0 + .seconds(8), actions: &actions)
        #expect(s.failure == nil)
        // Plain measurements still go to the older runner.
        actions = []
        s.submit([MeasureRequest(requestID: 3, workload: workload, schedule: Schedule())], actions: &actions)
        #expect(sent(actions, to: 0) == [3])
    }

    /// A runner may lie: counts that do not add up, a best schedule outside the space or invalid
    /// on the hardware, no outcome at all. Each is INTERNAL `implausible_search`, never a best.
    @Test func implausibleLayerSearchAnswersAreRefused() {
        let request = searchRequest(9)
        let size = request.search!.spaceSize
        let space = ScheduleSpace(workload: workload, spec: HardwareSpec(.stock))
        let good = (0..<space.size).map(space.schedule(at:)).first {
            if case .success = TilePlan.make(workload, $0, HardwareSpec(.stock)) { return true }
            return false
        }!
        let bad = (0..<space.size).map(space.schedule(at:)).first {
            if case .failure = TilePlan.make(workload, $0, HardwareSpec(.stock)) { return true }
            return false
        }!
        func answer(_ o: LayerSearchOutcome?, status: MeasureStatus = .ok) -> MeasureResult {
            ResultCheck.checked(
                MeasureResult(requestID: 9, status: status, cycles: 1_000_000, runner: "r", search: o), for: request)
        }
        func outcome(
            best: Schedule? = nil, schedules: UInt64? = nil, valid: UInt64 = 10, invalid: UInt64? = nil,
            reasons: [(String, UInt64)] = []
        ) -> LayerSearchOutcome {
            let total = schedules ?? size
            return LayerSearchOutcome(
                best: best ?? good, schedules: total, valid: valid, invalid: invalid ?? (total - valid),
                invalidReasons: reasons.map { (reason: $0.0, count: $0.1) })
        }
        #expect(answer(outcome()).status == .ok)
        let refused: [(String, MeasureResult)] = [
            ("no outcome", answer(nil)),
            ("counts do not add up", answer(outcome(invalid: 0))),
            ("not the whole space", answer(outcome(schedules: size - 1))),
            ("best outside the space", answer(outcome(best: Schedule(tileH: 3)))),
            ("best invalid here", answer(outcome(best: bad))),
            ("more reasons than invalid", answer(outcome(reasons: [("x", size)]))),
            ("overflowing counts", answer(outcome(valid: UInt64.max, invalid: 2))),
            ("INVALID with valid schedules", answer(outcome(), status: .invalid)),
        ]
        for (what, r) in refused {
            #expect(r.status == .internalError && r.invalidReason == ResultCheck.implausibleSearchReason, "\(what)")
            #expect(r.search == nil && r.cycles == 0, "\(what)")
        }
        // Below the compute bound is still refused, as for one measurement.
        var fast = MeasureResult(requestID: 9, status: .ok, cycles: 5, runner: "r", search: outcome())
        fast = ResultCheck.checked(fast, for: request)
        #expect(fast.status == .internalError && fast.invalidReason == ResultCheck.implausibleReason)
        // An outcome on a plain request's result is dropped, not trusted.
        var plain = request
        plain.search = nil
        #expect(
            ResultCheck.checked(
                MeasureResult(requestID: 9, status: .ok, cycles: 1_000_000, search: outcome()), for: plain
            )
            .search == nil)
    }

    /// The farm's exhaustive search (two runner processes, layer searches) finds exactly the
    /// configurations the in-process optimum finds, records one line per search, and a resumed
    /// run sends nothing.
    @Test func theFarmsExhaustiveSearchIsTheInProcessOptimumAndResumes() throws {
        let model = Model(
            name: "two",
            layers: [
                Model.Layer(name: "a", workload: workload, count: 2),
                Model.Layer(name: "b", workload: .conv2d(h: 7, w: 7, ci: 128, co: 128, k: 1, s: 1, p: 0)),
            ])
        let space = try HardwareSpace(
            base: .stock, fpga: FPGA.named("pynq-z1")!, workloads: model.layers.map(\.workload), extent: .buildable,
            overrides: ["LOG_BLOCK_IN": [4], "LOG_BLOCK_OUT": [4, 5]])
        let expected = space.optimum(of: model.layers, top: 3)
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 2, slots: 1, backend: "vta-sim")
        defer { farm.stop() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-exhaustive-\(getpid()).jsonl")
            .path
        try? FileManager.default.removeItem(atPath: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var settings = TuneSettings(model: model)
        settings.timeoutMs = 600_000
        func run(resume: Bool) throws -> ExhaustiveJob.Summary {
            let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
            defer { dispatcher.close() }
            let records = try RecordStore(path: path, resume: resume, model: model.name)
            return try ExhaustiveJob(
                settings: settings, configurations: space.maximalPoints, top: 3, dispatcher: dispatcher,
                records: records
            ).run()
        }
        let first = try run(resume: false)
        #expect(first.top.map(\.cycles) == expected.top.map(\.cycles))
        #expect(first.top.map(\.hardware) == expected.top.map(\.hardware))
        #expect(first.top[0].perLayer.map(\.cycles) == expected.top[0].perLayer.map(\.cycles))
        #expect(first.resumed == 0 && first.failed == 0 && first.searches == 2 * first.sweptConfigurations)
        let file = try RecordStore(reading: path)
        #expect(file.records.count == first.searches)
        for r in file.records {
            let s = try #require(r.search)
            #expect(s.valid + s.invalid + s.failed == s.schedules && s.invalidReasons.values.reduce(0, +) == s.invalid)
            let size = ScheduleSpace(workload: r.workload, spec: HardwareSpec(r.hardware)).size
            #expect(s.schedules == size)
        }
        // The file answers the queries like any run: the best configuration and its latency.
        #expect(file.measuredConfigurations(model).first?.latency == expected.top[0].cycles)
        // Resumed: everything is in the file, so nothing is sent and the answer is the same.
        let again = try run(resume: true)
        #expect(again.resumed == again.searches && again.searches == first.searches)
        #expect(again.top.map(\.cycles) == first.top.map(\.cycles))
        #expect(try RecordStore(reading: path).records.count == first.searches)
    }
}
