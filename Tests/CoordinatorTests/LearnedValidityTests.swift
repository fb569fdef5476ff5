import FarmTestSupport
import Foundation
import Search
import Testing
import VTA

@testable import Coordinator

@Suite(.serialized) struct LearnedValidityTests {
    /// A "board" with a rule vtafarm's compiler does not know: it refuses tile_co >= 2.
    @Test func theClassifierStopsDispatchingWhatTheBackendRejects() throws {
        let board = temporaryFile(
            "picky.py",
            """
            #!/usr/bin/env python3
            import json, re, sys
            request = json.load(sys.stdin)
            tile_co = int(re.search(r"tile_co=(\\d+)", request["schedule"]).group(1))
            if tile_co >= 2:
                print(json.dumps({"status": "INVALID", "error": "this board has no room for tile_co >= 2"}))
            else:
                print(json.dumps({"status": "OK", "cycles": 100000 + request["request_id"]}))
            """, executable: true)
        defer { try? FileManager.default.removeItem(atPath: board) }
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 2, backend: "command:\(board)")
        defer { farm.stop() }
        let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
        defer { dispatcher.close() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-learned-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = Model(
            name: "one",
            layers: [Model.Layer(name: "L", workload: .conv2d(h: 14, w: 14, ci: 64, co: 64, k: 3, s: 1, p: 1))])
        var settings = TuneSettings(model: model)
        settings.tuner = .random
        settings.budget = 60
        settings.planSize = 10
        settings.backend = "command"
        let records = try RecordStore(path: dir + "/r.jsonl", resume: false)
        let filtered = try RecordStore(path: dir + "/r.jsonl.filtered", resume: false)
        let job = TuningJob(settings: settings, dispatcher: dispatcher, records: records, filteredRecords: filtered) {
            _ in
        }
        let summary = try job.run()
        let statuses = records.records.map(\.status)
        #expect(statuses.count == 60)
        let early = statuses.prefix(20).filter { $0 == .invalid }.count
        let late = statuses.suffix(20).filter { $0 == .invalid }.count
        #expect(early >= 5, "the board rejected \(early) of the first 20")
        #expect(late < early, "invalid dispatches: first 20 \(early), last 20 \(late)")
        #expect(summary.predictedInvalid > 0)
        #expect(filtered.records.contains { $0.reason == "predicted_invalid" })
    }
}
