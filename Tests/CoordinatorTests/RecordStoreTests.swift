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
        let reopened = try RecordStore(path: p, resume: true)
        #expect(reopened.records.count == 5)
        #expect(reopened.skipped.count == 1)
        #expect(reopened.contains(key: record(3).key) && !reopened.contains(key: record(7).key))
        try reopened.append(record(7))
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
}
