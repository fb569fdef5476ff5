import Foundation
import Testing
import VTA
import Wire

@testable import Coordinator

@Suite struct RecordStoreTests {
    func path(_ name: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-rec-\(getpid())-\(name).jsonl")
            .path
        try? FileManager.default.removeItem(atPath: p)
        return p
    }

    func record(_ i: Int) -> Record {
        Record(
            model: "m", task: "m/C\(i % 3)", count: 1, workload: .conv2d(h: 8, w: 8, ci: 16, co: 16, k: 3, s: 1, p: 1),
            hardware: .stock, schedule: Schedule(tileH: i), status: .ok, cycles: 1000 + i, sent: 1, finished: 2)
    }

    @Test func appendsSurviveReopenAndTornTailIsCut() throws {
        let p = path("torn")
        do {
            let store = try RecordStore(path: p, resume: false)
            for i in 0..<5 { try store.append(record(i)) }
        }
        // A crash mid-write leaves half a line.
        let handle = FileHandle(forWritingAtPath: p)!
        handle.seekToEndOfFile()
        handle.write(Data(#"{"v":1,"model":"m","task":"m/C0","cou"#.utf8))
        try handle.close()
        do {
            let reopened = try RecordStore(path: p, resume: true)
            #expect(reopened.records.count == 5)
            #expect(reopened.skipped.count == 1)
            #expect(reopened.contains(key: record(3).key) && !reopened.contains(key: record(7).key))
            try reopened.append(record(7))
        }
        let again = try RecordStore(path: p, resume: true)
        #expect(again.records.map(\.cycles) == [1000, 1001, 1002, 1003, 1004, 1007])
        #expect(again.skipped.isEmpty, "the torn tail was cut, the new record is on its own line")
    }

    /// The status enum is only a type on the same strings: every status is written as the
    /// string the file always held and read back; each runner status maps to the one of that name.
    @Test func statusesKeepTheirStringsOnDisk() throws {
        let p = path("status")
        do {
            let store = try RecordStore(path: p, resume: false)
            for (i, status) in RecordStatus.allCases.enumerated() {
                var r = record(i)
                r.status = status
                try store.append(r)
            }
        }
        let lines = String(decoding: FileManager.default.contents(atPath: p)!, as: UTF8.self).split(separator: "\n")
        let written = try lines.map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])["status"] as? String
        }
        #expect(
            written == [
                "OK", "INVALID", "RUNTIME_ERROR", "TIMEOUT", "WRONG_ANSWER", "UNSUPPORTED", "INTERNAL",
                "FILTERED",
            ])
        #expect(try RecordStore(path: p, resume: true).records.map(\.status) == RecordStatus.allCases)
        for status in MeasureStatus.allCases { #expect(RecordStatus(status).rawValue == status.rawValue) }
    }

    @Test func existingRecordsNeedResume() throws {
        let p = path("resume")
        try RecordStore(path: p, resume: false).append(record(1))
        #expect(throws: RecordStore.OpenError.self) { try RecordStore(path: p, resume: false) }
        #expect(try RecordStore(path: p, resume: true).records.count == 1)
    }

    func write(_ p: String, _ lines: [String]) {
        FileManager.default.createFile(atPath: p, contents: Data(lines.map { $0 + "\n" }.joined().utf8))
    }

    func line(_ r: Record) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(r), as: UTF8.self)
    }

    /// Two coordinators on one file interleaved lines; now the second one is refused at open.
    @Test func oneWriterPerFile() throws {
        let p = path("lock")
        let first = try RecordStore(path: p, resume: false)
        try first.append(record(1))
        #expect {
            try RecordStore(path: p, resume: true)
        } throws: { ($0 as? RecordStore.OpenError)?.description.contains("another vtafarm process") == true }
        // A reader still reads it, while the writer holds it.
        #expect(try RecordStore(reading: p).records.count == 1)
        try first.append(record(2))
        #expect(try RecordStore(reading: p).records.count == 2)
    }

    /// A file holding every record twice counted double towards the budget.
    @Test func duplicatesAreCountedOnce() throws {
        let p = path("dup")
        let lines = try (0..<4).map { try line(record($0)) }
        write(p, lines + lines)
        let store = try RecordStore(path: p, resume: true)
        #expect(store.records.count == 4 && store.duplicates == 4)
    }

    @Test func foreignFormatVersionsAreRefused() throws {
        let p = path("version")
        let good = try line(record(1))
        write(p, [good, good.replacingOccurrences(of: #""v":1"#, with: #""v":99"#)])
        let before = FileManager.default.contents(atPath: p)
        #expect {
            try RecordStore(path: p, resume: true)
        } throws: { ($0 as? RecordStore.OpenError)?.description.contains(":2: records format version 99") == true }
        #expect(throws: RecordStore.OpenError.self) { try RecordStore(reading: p) }
        #expect(FileManager.default.contents(atPath: p) == before, "left as it was")
    }

    @Test func anotherModelsRecordsAreRefused() throws {
        let p = path("model")
        try RecordStore(path: p, resume: false, model: "m").append(record(1))
        #expect {
            try RecordStore(path: p, resume: true, model: "resnet34")
        } throws: {
            ($0 as? RecordStore.OpenError)?.description.contains("holds records of model m, not resnet34") == true
        }
        #expect(try RecordStore(path: p, resume: true, model: "m").records.count == 1)
    }

    /// Lines whose workload, hardware or schedule do not parse are reported, not loaded half-typed.
    @Test func recordsAreParsedOnceAndStrictly() throws {
        let p = path("strict")
        let good = try line(record(1))
        write(
            p,
            [
                good, good.replacingOccurrences(of: "conv2d:", with: "conv9d:"),
                try line(record(2)).replacingOccurrences(of: #""LOG_BATCH":0"#, with: #""LOG_BATCH":"x""#),
                try line(record(3)).replacingOccurrences(of: "tile_h=3", with: "tile_q=3"),
            ])
        let store = try RecordStore(path: p, resume: true)
        #expect(store.records.count == 1 && store.skipped.map(\.line) == [2, 3, 4])
        let r = try #require(store.records.first)
        #expect(r == record(1) && r.hardware == .stock && r.schedule == Schedule(tileH: 1))
        #expect(r.hardwareKey == HardwareConfig.stock.canonicalKey)
    }

    /// A reader never cuts a torn tail: a running writer may be completing that line.
    @Test func readersChangeNothing() throws {
        let p = path("reader")
        let text = try line(record(1)) + "\n" + #"{"v":1,"model":"m","#
        FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        let store = try RecordStore(reading: p)
        #expect(store.records.count == 1 && store.skipped.count == 1)
        #expect(String(decoding: FileManager.default.contents(atPath: p)!, as: UTF8.self) == text)
        #expect(throws: RecordStore.OpenError.self) { try store.append(record(2)) }
        #expect(throws: RecordStore.OpenError.self) { try RecordStore(reading: p + ".missing") }
    }

    @Test func queriesAnswerFromTypedRecords() throws {
        let p = path("queries")
        let store = try RecordStore(path: p, resume: false)
        let model = Model(
            name: "m",
            layers: [
                Model.Layer(name: "C0", workload: .conv2d(h: 8, w: 8, ci: 16, co: 16, k: 3, s: 1, p: 1), count: 2),
                Model.Layer(name: "C1", workload: .conv2d(h: 8, w: 8, ci: 16, co: 16, k: 3, s: 1, p: 1), count: 1),
            ])
        var big = HardwareConfig.stock
        big.logBlockOut = 5
        func add(_ layer: Int, _ hw: HardwareConfig, _ tile: Int, _ cycles: Int?, _ status: RecordStatus = .ok) throws {
            try store.append(
                Record(
                    model: "m", task: "m/C\(layer)", count: model.layers[layer].count,
                    workload: model.layers[layer].workload, hardware: hw, schedule: Schedule(tileH: tile),
                    status: status, cycles: cycles, sent: 1, finished: 2))
        }
        try add(0, .stock, 1, 100)
        try add(0, .stock, 2, 90)
        try add(0, .stock, 4, 90)  // a tie: the first one in the file is the best
        try add(1, .stock, 1, nil, .invalid)
        #expect(store.latency(model, on: .stock) == nil, "C1 has no valid measurement on the stock VTA")
        try add(1, .stock, 2, 50)
        try add(1, .stock, 4, 10, .timeout)
        try add(0, big, 1, 40)
        try add(1, big, 1, 150)
        #expect(store.latency(model, on: .stock) == 2 * 90 + 50)
        let outcomes = store.layerOutcomes(model, on: .stock)
        #expect(outcomes.map(\.measured) == [3, 3] && outcomes.map(\.failed) == [0, 1])
        #expect(outcomes[0].best?.schedule == Schedule(tileH: 2))
        let ranked = store.measuredConfigurations(model)
        #expect(ranked.map(\.latency) == [230, 2 * 40 + 150])
        #expect(ranked.map(\.hardware) == [.stock, big])
        #expect(store.models() == [model])
        #expect(store.hardwareCount == 2)
        try add(1, big, 2, Int.max / 2)
        #expect(store.latency(model, on: big) == 2 * 40 + 150, "the huge one is not the best")
        try add(0, big, 2, Int.max / 2 + 1)  // best stays 40
        #expect(Model.latency(of: model.layers) { [Int.max / 2 + 1, 1][$0] } == nil, "overflow is no latency")
    }
}
