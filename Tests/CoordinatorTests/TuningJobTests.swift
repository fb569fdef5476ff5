import FarmTestSupport
import Foundation
import Search
import Testing
import VTA

@testable import Coordinator

/// A tuning job against real runner processes: stopped, then resumed on the same records file.
@Suite(.serialized) struct TuningJobTests {
    let model = Model(
        name: "two",
        layers: [
            Model.Layer(name: "a", workload: .conv2d(h: 14, w: 14, ci: 64, co: 64, k: 3, s: 1, p: 1), count: 2),
            Model.Layer(name: "b", workload: .conv2d(h: 7, w: 7, ci: 128, co: 128, k: 1, s: 1, p: 0)),
        ])

    func run(_ settings: TuneSettings, _ path: String, resume: Bool, farm: LocalFarm) throws -> TuneSummary {
        let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
        defer { dispatcher.close() }
        let records = try RecordStore(path: path, resume: resume, model: model.name)
        let filtered = try RecordStore(path: path + ".filtered", resume: true, model: model.name)
        return try TuningJob(settings: settings, dispatcher: dispatcher, records: records, filteredRecords: filtered) {
            _ in
        }.run()
    }

    @Test(arguments: [TunerKind.xgb, .arco])
    func aResumedRunMeasuresOnlyWhatIsMissing(_ tuner: TunerKind) throws {
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 2, backend: "vta-sim")
        defer { farm.stop() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vtafarm-resume-\(getpid())-\(tuner).jsonl"
        ).path
        for p in [path, path + ".filtered"] { try? FileManager.default.removeItem(atPath: p) }
        defer { for p in [path, path + ".filtered"] { try? FileManager.default.removeItem(atPath: p) } }
        var settings = TuneSettings(model: model)
        settings.tuner = tuner
        settings.planSize = 8
        settings.budget = 20
        let first = try run(settings, path, resume: false, farm: farm)
        #expect(first.measured == 20 && first.resumed == 0)
        let before = try RecordStore(reading: path).records
        // The same budget again: everything is there, nothing is measured.
        let again = try run(settings, path, resume: true, farm: farm)
        #expect(again.resumed == 20 && again.measured == 20)
        #expect(try RecordStore(reading: path).records.count == 20)
        // A larger budget: only the difference is measured, and nothing twice.
        settings.budget = 36
        let more = try run(settings, path, resume: true, farm: farm)
        #expect(more.resumed == 20 && more.measured == 36)
        let after = try RecordStore(reading: path)
        #expect(after.records.count == 36 && after.duplicates == 0)
        #expect(Array(after.records.prefix(20)) == before, "what was recorded stays as it was")
        // The summary is what the file says.
        #expect(more.modelCycles == after.latency(model, on: .stock))
        #expect(more.modelCycles.map { $0 <= first.modelCycles! } == true, "more measurements never end worse")
    }

    /// Gradient allocation: every layer gets a first plan, the budget is spent exactly, and the
    /// layer weighing most in the model (count x cycles) gets more than an even share.
    @Test func gradientAllocationWarmsUpEveryLayerAndFavoursTheHeavyOne() throws {
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 2, backend: "vta-sim")
        defer { farm.stop() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-gradient-\(getpid()).jsonl")
            .path
        for p in [path, path + ".filtered"] { try? FileManager.default.removeItem(atPath: p) }
        defer { for p in [path, path + ".filtered"] { try? FileManager.default.removeItem(atPath: p) } }
        var settings = TuneSettings(model: model)
        settings.tuner = .random
        settings.planSize = 4
        settings.budget = 40
        settings.allocation = .gradient
        let summary = try run(settings, path, resume: false, farm: farm)
        #expect(summary.measured == 40)
        #expect(summary.layers.allSatisfy { $0.measured >= 4 }, "\(summary.layers.map(\.measured))")
        // Layer a: count 2 and about 3x the cycles of b, so most of the budget.
        #expect(summary.layers[0].measured > summary.layers[1].measured, "\(summary.layers.map(\.measured))")
        #expect(summary.modelCycles != nil)
        // A plan larger than the budget's even share: the warm-up still reaches every layer.
        for p in [path, path + ".filtered"] { try? FileManager.default.removeItem(atPath: p) }
        settings.planSize = 64
        settings.budget = 12
        let small = try run(settings, path, resume: false, farm: farm)
        #expect(small.measured == 12 && small.layers.allSatisfy { $0.measured >= 1 }, "\(small.layers.map(\.measured))")
        #expect(small.modelCycles != nil)
    }
}
