import FarmTestSupport
import Foundation
import Testing
import VTA

@testable import Coordinator

/// Records with absurd cycle counts (written before results were checked, or by hand) must not
/// crash the readers: such a line is not a record (it is reported and skipped), and sums that
/// would still overflow are no latency rather than a trap.
@Suite(.serialized) struct CycleArithmeticTests {
    /// A records file with one layer measured at 2^62 cycles, occurring 4 times.
    func hugeRecordFile() throws -> String {
        let layer = Workload.conv2d(h: 8, w: 8, ci: 32, co: 32, k: 3, s: 1, p: 1)
        let record = Record(
            model: "one", task: "one/c", count: 4, workload: layer, hardware: .stock,
            schedule: Schedule(tileH: 8, tileW: 8, tileCI: 2, tileCO: 2), status: .ok, cycles: 1 << 62,
            runner: "old", sent: 0, finished: 0)
        let line = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        return temporaryFile("huge-\(UUID().uuidString.prefix(8)).jsonl", line + "\n")
    }

    func vtafarm(_ arguments: [String]) throws -> (status: Int32, signaled: Bool, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: vtafarmBinary)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason == .uncaughtSignal, String(decoding: data, as: UTF8.self))
    }

    @Test func recordsBestSkipsAnAbsurdRecordInsteadOfTrapping() throws {
        let path = try hugeRecordFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try vtafarm(["records", "best", path])
        #expect(!r.signaled && r.status == 1, "\(r.output)")
        #expect(r.output.contains(":1: unreadable record ignored") && r.output.contains("no records"), "\(r.output)")
        #expect(
            Model.latency(of: [Model.Layer(name: "c", workload: .dense(ci: 16, co: 16), count: 4)]) { _ in 1 << 62 }
                == nil)
    }

    @Test func aResumedJobSumsHugeRecordsWithoutTrapping() throws {
        let path = try hugeRecordFile()
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: path + ".filtered")
        }
        let farm = try LocalFarm(executable: vtafarmBinary, runners: 1, slots: 1)
        defer { farm.stop() }
        let dispatcher = try Dispatcher(runners: farm.addresses, options: dispatcherOptions())
        defer { dispatcher.close() }
        let layer = Model.Layer(name: "c", workload: .conv2d(h: 8, w: 8, ci: 32, co: 32, k: 3, s: 1, p: 1), count: 4)
        var settings = TuneSettings(model: Model(name: "one", layers: [layer]))
        settings.tuner = .random
        settings.budget = 4
        settings.planSize = 4
        var lastBest: Int?
        let job = TuningJob(
            settings: settings, dispatcher: dispatcher, records: try RecordStore(path: path, resume: true),
            filteredRecords: try RecordStore(path: path + ".filtered", resume: true),
            progress: { lastBest = $0.bestSoFar })
        let summary = try job.run()
        #expect(summary.resumed == 0, "the absurd line is not a record")
        #expect(summary.modelCycles.map { $0 < Int.max } == true, "a real measurement beat the huge record")
        #expect(lastBest != nil)
    }
}
