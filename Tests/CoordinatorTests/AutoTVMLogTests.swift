import Foundation
import Testing
import VTA

@testable import Coordinator

/// The AutoTVM log format: knob order and config index as AutoTVM's ConfigSpace computes them,
/// lines that read back as the same measurement, and clear errors for what TVM cannot take.
@Suite struct AutoTVMLogTests {
    let c11 = Workload.conv2d(h: 7, w: 7, ci: 512, co: 512, k: 3, s: 1, p: 1)

    func record(_ w: Workload, _ s: Schedule, hardware: HardwareConfig = .stock, cycles: Int = 123_457) -> Record {
        Record(
            model: "resnet18", task: "resnet18/C11", count: 3, workload: w, hardware: hardware, schedule: s,
            status: .ok, cycles: cycles, sent: 1, finished: 1_700_000_000.5, wallSeconds: 0.25)
    }

    /// tile_h=7 is choice 1 of [1, 7], tile_co=16 choice 4 of 32's factors, oc_nthread=2 choice 1:
    /// 1 + 2*2*6*(4 + 6*1) = 241 with the first knob least significant.
    @Test func configIndexIsAutoTVMsMixedRadix() throws {
        let spec = HardwareSpec(.stock)
        let s = Schedule(tileB: 1, tileH: 7, tileW: 1, tileCI: 1, tileCO: 16, hThreads: 1, ocThreads: 2)
        let config = try AutoTVMLog.config(s, c11, spec)
        #expect(config.index == 241)
        let names = config.entity.compactMap { ($0 as? [Any])?.first as? String }
        #expect(names == ["tile_b", "tile_h", "tile_w", "tile_ci", "tile_co", "oc_nthread", "h_nthread"])
        // dense: tile_b, tile_ci, tile_co, oc_nthread; CI 512 -> 32 blocks, tile_ci=4 is choice 2 of 6.
        let dense = try AutoTVMLog.config(
            Schedule(tileCI: 4, tileCO: 2, ocThreads: 2), .dense(ci: 512, co: 64), spec)
        #expect(dense.index == 2 + 6 * (1 + 3 * 1))
        #expect(
            dense.entity.compactMap { ($0 as? [Any])?.first as? String } == [
                "tile_b", "tile_ci", "tile_co", "oc_nthread",
            ])
    }

    @Test func linesReadBackAsTheSameMeasurement() throws {
        var hw = HardwareConfig.stock
        try hw.apply(assignments: "TARGET=zcu104,LOG_BLOCK=5,AXI_WIDTH=128,CLOCK_MHZ=333,LOG_WGT_BUFF_SIZE=19")
        let w = Workload.conv2d(h: 14, w: 14, ci: 256, co: 512, k: 3, s: 2, p: 1)
        let s = Schedule(tileH: 7, tileW: 7, tileCI: 2, tileCO: 4, hThreads: 1, ocThreads: 2)
        let line = try AutoTVMLog.line(record(w, s, hardware: hw))
        #expect(line.contains("\"ext_dev -keys=vta,cpu -device=vta -model=zcu104_1x32_i8w8a32_15_15_19_17\""))
        #expect(
            line.contains(
                "[\"TENSOR\",[1,8,14,14,1,32],\"int8\"],[\"TENSOR\",[16,8,3,3,32,32],\"int8\"],[2,2],[1,1,1,1],[1,1],\"NCHW1n32c\",\"int32\"]"
            ))
        let entry = try AutoTVMLog.parse(line)
        #expect(entry.workload == w && entry.schedule == s && entry.hardware == hw && entry.cycles == 123_457)
        // A log AutoTVM wrote has no vtafarm_hardware: the target names the core, --hw the rest.
        var object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        object["vtafarm_hardware"] = nil
        let plain = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        var base = HardwareConfig.stock
        try base.apply(assignments: "AXI_WIDTH=128,CLOCK_MHZ=333")
        #expect(try AutoTVMLog.parse(plain, base: base).hardware == hw)
        let dense = try AutoTVMLog.line(record(.dense(ci: 512, co: 1024), Schedule(tileCI: 8, tileCO: 4, ocThreads: 2)))
        #expect(
            dense.contains(
                "\"dense_packed.vta\",[[\"TENSOR\",[1,32,1,16],\"int8\"],[\"TENSOR\",[64,32,16,16],\"int8\"],null,\"int32\"]"
            ))
        #expect(try AutoTVMLog.parse(dense).schedule == Schedule(tileCI: 8, tileCO: 4, ocThreads: 2))
    }

    @Test func whatTVMCannotTakeIsRefusedByName() throws {
        var hw = HardwareConfig.stock
        hw.logBlockOut = 5
        #expect { try AutoTVMLog.line(record(c11, Schedule(), hardware: hw)) } throws: {
            "\($0)".contains("LOG_BLOCK_IN=4 and LOG_BLOCK_OUT=5")
        }
        let good = try AutoTVMLog.line(record(c11, Schedule(tileH: 7, tileCO: 16, ocThreads: 2)))
        let bad: [(String, String)] = [
            (String(good.prefix(good.count / 2)), "not a JSON object"),
            (good.replacingOccurrences(of: "conv2d_packed.vta", with: "conv2d_nchw.x86"), "is not conv2d_packed.vta"),
            (good.replacingOccurrences(of: "\"index\":241", with: "\"index\":240"), "does not match its entity"),
            (
                good.replacingOccurrences(of: "[\"tile_h\",\"sp\",[-1,7]]", with: "[\"tile_h\",\"sp\",[-1,3]]"),
                "tile_h=3"
            ),
            (good.replacingOccurrences(of: "[[0.001234", with: "[[-1"), "not run times"),
        ]
        for (line, message) in bad {
            #expect(line != good)
            #expect { try AutoTVMLog.parse(line) } throws: { "\($0)".contains(message) }
        }
    }
}
