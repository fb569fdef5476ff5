import Foundation
import Testing

@testable import VTA

@Suite struct HardwareConfigTests {
    let stockJSON = """
        {"TARGET": "sim", "HW_VER": "0.0.2", "LOG_INP_WIDTH": 3, "LOG_WGT_WIDTH": 3, "LOG_ACC_WIDTH": 5,
         "LOG_BATCH": 0, "LOG_BLOCK": 4, "LOG_UOP_BUFF_SIZE": 15, "LOG_INP_BUFF_SIZE": 15,
         "LOG_WGT_BUFF_SIZE": 18, "LOG_ACC_BUFF_SIZE": 17}
        """

    @Test func tvmConfigFileLoadsAsStock() throws {
        let config = try HardwareConfig(json: Data(stockJSON.utf8))
        #expect(config == HardwareConfig.stock)
    }

    @Test func stockDerivedQuantitiesMatchVTA() {
        let spec = HardwareSpec(.stock)
        #expect(
            spec.inpElemBytes == 16 && spec.wgtElemBytes == 256 && spec.accElemBytes == 64 && spec.outElemBytes == 16)
        #expect(spec.uopDepth == 8192 && spec.inpDepth == 2048 && spec.wgtDepth == 1024 && spec.accDepth == 2048)
        #expect(spec.axiBytes == 8 && spec.macsPerCycle == 256)
        #expect(spec.invalidReason == nil)
    }

    @Test func logBlockSetsBothAndExplicitKeysWin() throws {
        let c = try HardwareConfig(json: Data(#"{"LOG_BLOCK_OUT": 5, "LOG_BLOCK": 3}"#.utf8))
        #expect(c.logBlockIn == 3 && c.logBlockOut == 5)
        let spec = HardwareSpec(c)
        #expect(spec.wgtElemBytes == 8 * 32 && spec.accElemBytes == 32 * 4)
    }

    @Test func boardTargetsSetMemorySystem() throws {
        let c = try HardwareConfig(json: Data(#"{"TARGET": "ultra96", "LOG_BLOCK": 4}"#.utf8))
        #expect(c.axiWidth == 128 && c.clockMHz == 333)
        let d = try HardwareConfig(json: Data(#"{"TARGET": "ultra96", "AXI_WIDTH": 256}"#.utf8))
        #expect(d.axiWidth == 256)
    }

    @Test(arguments: [
        (#"{"LOG_BLOKC": 4}"#, "LOG_BLOKC"),
        (#"{"LOG_BATCH": "zero"}"#, "LOG_BATCH"),
        (#"{"LOG_BATCH": 1.5}"#, "LOG_BATCH"),
        (#"{"LOG_BLOCK": 40}"#, "LOG_BLOCK_IN"),
        (#"{"LOG_INP_WIDTH": 4}"#, "LOG_INP_WIDTH"),
        (#"{"AXI_WIDTH": 96}"#, "AXI_WIDTH"),
        (#"{"MAX_BURST": 12}"#, "MAX_BURST"),
        (#"{"HW_VER": "9.9"}"#, "HW_VER"),
        (#"{"CLOCK_MHZ": -5}"#, "CLOCK_MHZ"),
        (#"[1, 2]"#, "(file)"),
        (#"{"LOG_BATCH": 0"#, "(file)"),
        (#"{"LOG_BATCH": true}"#, "LOG_BATCH"),
        (#"{"LOG_BATCH": [0]}"#, "LOG_BATCH"),
    ])
    func badFilesNameTheKey(json: String, key: String) {
        do {
            _ = try HardwareConfig(json: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch let e as HardwareConfigError {
            #expect(e.key == key, "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func hwSetAssignments() throws {
        var c = HardwareConfig.stock
        try c.apply(assignments: "LOG_BLOCK_IN=5, axi_width=128,DRAM_LATENCY=1,CLOCK_MHZ=250")
        #expect(c.logBlockIn == 5 && c.logBlockOut == 4 && c.axiWidth == 128 && c.dramLatency == 1 && c.clockMHz == 250)
        #expect(throws: HardwareConfigError.self) { try c.apply(assignments: "LOG_BLOCK_IN") }
        #expect(throws: HardwareConfigError.self) { try c.apply(assignments: "NOPE=1") }
    }

    @Test func jsonRoundTrip() throws {
        var c = HardwareConfig.stock
        try c.apply(assignments: "LOG_BLOCK_IN=3,LOG_BLOCK_OUT=5,AXI_WIDTH=512,MAX_BURST=64,TARGET=zcu104")
        #expect(try HardwareConfig(json: c.jsonData()) == c)
    }

    @Test func impossibleHardwareIsInvalidNotAnError() throws {
        var c = HardwareConfig.stock
        try c.apply(assignments: "LOG_BLOCK=0")
        #expect(HardwareSpec(c).invalidReason?.code == .blockTooSmall)
        c = .stock
        try c.apply(assignments: "LOG_ACC_BUFF_SIZE=18")  // acc index 12 bits: GEMM high word 66 bits
        #expect(HardwareSpec(c).invalidReason?.code == .isaDoesNotFit)
        c = .stock
        try c.apply(assignments: "LOG_BLOCK=7")  // a 128x128 weight block is 16 KiB, more than a page
        #expect(HardwareSpec(c).invalidReason?.code == .elementTooLarge)
        c = .stock
        try c.apply(assignments: "LOG_BLOCK=3")  // deeper buffers of smaller elements: wider index fields
        #expect(HardwareSpec(c).invalidReason?.code == .isaDoesNotFit)
        try c.apply(assignments: "LOG_INP_BUFF_SIZE=14,LOG_WGT_BUFF_SIZE=16,LOG_ACC_BUFF_SIZE=16")
        #expect(HardwareSpec(c).invalidReason == nil)
        c = .stock
        try c.apply(assignments: "LOG_WGT_BUFF_SIZE=17")  // smaller buffers free bits: still valid
        #expect(HardwareSpec(c).invalidReason == nil)
    }

    /// The emitted vta_config.json has TVM's single LOG_BLOCK and reads back as the same hardware.
    @Test func tvmConfigRoundTrips() throws {
        var c = HardwareConfig.stock
        try c.apply(assignments: "LOG_BLOCK=5,LOG_BATCH=1,AXI_WIDTH=128,TARGET=zcu104,CLOCK_MHZ=333")
        let data = try c.tvmConfigData()
        let keys = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(keys["LOG_BLOCK"] as? Int == 5 && keys["LOG_BLOCK_IN"] == nil && keys["LOG_BLOCK_OUT"] == nil)
        #expect(try HardwareConfig(json: data) == c)
        c.logBlockOut = 4
        #expect { try c.tvmConfigData() } throws: { "\($0)".contains("LOG_BLOCK_IN=5 and LOG_BLOCK_OUT=4") }
    }
}

@Suite struct ResourceModelTests {
    @Test func stockFitsPynq() {
        let spec = HardwareSpec(.stock)
        let need = ResourceEstimate(spec)
        #expect(need.dsp == 128)
        #expect(need.bramByBuffer == ["uop": 8, "inp": 8, "wgt": 57, "acc": 29, "out": 8])
        #expect(FPGA.named("pynq-z1")!.misfit(spec) == nil)
    }

    @Test func largerCoresOutgrowSmallParts() {
        let wide = hardware("LOG_BLOCK_OUT=5,LOG_WGT_BUFF_SIZE=19,LOG_ACC_BUFF_SIZE=18")  // 1x16x32: 256 DSP
        #expect(wide.invalidReason == nil)
        #expect(FPGA.named("pynq")!.misfit(wide)?.code == .exceedsFPGA)
        #expect(FPGA.named("ultra96")!.misfit(wide) == nil)
        let big = hardware("LOG_BLOCK=5,LOG_WGT_BUFF_SIZE=20,LOG_INP_BUFF_SIZE=16,LOG_ACC_BUFF_SIZE=18")
        #expect(big.invalidReason == nil)
        #expect(FPGA.named("ultra96")!.misfit(big)?.code == .exceedsFPGA)
        #expect(FPGA.named("zu7ev")!.misfit(big) == nil)
        #expect(FPGA.named("stratix") == nil)
    }
}
