import Foundation
import Testing

@testable import VTA

/// Program directories: export, import, validation, and the RTL fixtures.
@Suite struct ProgramIOTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "../Fixtures/rtl"
    ).standardized.path

    func temporaryDirectory(_ name: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vtafarm-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    /// Compiles, runs functionally and exports; returns the directory and the simulated run.
    func export(
        _ w: Workload, _ s: Schedule, _ spec: HardwareSpec = HardwareSpec(.stock)
    ) throws -> (String, SimulationResult, Int8Tensor) {
        guard case .success(let program) = Compiler.compile(w, s, spec) else { throw ProgramError("invalid") }
        let x = Int8Tensor.random(shape: w.inputShape, seed: 21)
        let k = Int8Tensor.random(shape: w.weightShape, seed: 22)
        let dram = try program.dramImage(input: x, weight: k)
        let machine = FunctionalMachine(spec: spec, dram: dram)
        let result = Simulator(spec: spec).run(program, machine: machine)
        let dir = temporaryDirectory("export")
        try ProgramDirectory.write(program, to: dir, initial: dram, final: machine.dram, shift: 8, simulated: result)
        return (dir, result, Reference.run(w, input: x, weight: k))
    }

    @Test(arguments: [
        (
            Workload.conv2d(h: 7, w: 7, ci: 512, co: 512, k: 3, s: 1, p: 1),
            "tile_h=7,tile_w=7,tile_ci=1,tile_co=8,oc_nthread=2"
        ),
        (
            Workload.conv2d(h: 14, w: 14, ci: 64, co: 32, k: 1, s: 2, p: 0),
            "tile_h=7,tile_w=7,tile_ci=2,tile_co=2,h_nthread=1"
        ),
        (Workload.dense(n: 1, ci: 256, co: 128), "tile_ci=4,tile_co=4,oc_nthread=2"),
    ])
    func exportImportReproducesCyclesAndOutput(_ w: Workload, _ schedule: String) throws {
        let (dir, original, reference) = try export(w, try Schedule(parsing: schedule))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loaded = try ProgramDirectory.load(dir)
        #expect(loaded.manifest.workload == w.description)
        let run = loaded.run()
        #expect(run.result.status == .ok && run.compared && run.mismatch == nil)
        #expect(run.result.cycles == original.cycles)
        #expect(run.result.counters == original.counters)
        #expect(loaded.program.output(from: run.finalDRAM) == reference)
    }

    @Test func rtlFixturesReproducedExactly() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures).filter { !$0.hasSuffix(".py") }
        #expect(names.count == 17)
        var checked = 0
        for name in names {
            let dir = Self.fixtures + "/" + name
            let measured = try ProgramDirectory.load(dir).manifest.measuredCycles ?? [:]
            #expect(!measured.isEmpty, "\(name)")
            for (latency, cycles) in measured {
                let run = try ProgramDirectory.load(dir, overrides: ["DRAM_LATENCY=\(latency)"]).run()
                #expect(run.result.status == .ok)
                #expect(
                    run.result.cycles == cycles, "\(name) at latency \(latency): \(run.result.cycles) vs RTL \(cycles)")
                checked += 1
            }
        }
        #expect(checked == 29)
    }

    static let layerFixtures = URL(fileURLWithPath: fixtures).deletingLastPathComponent().appendingPathComponent(
        "rtl-layers"
    ).path

    /// The 50 whole ResNet-18 layers measured on the RTL: at each read latency the mean |error| is
    /// at most 1% and every program within 3% (the gate `Scripts/test` applies through
    /// `vtafarm bench calibration --gate-layers`).
    @Test func rtlLayerFixturesWithinTheGate() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.layerFixtures).filter {
            FileManager.default.fileExists(atPath: Self.layerFixtures + "/" + $0 + "/program.json")
        }
        #expect(names.count == 50)
        var errors: [Int: [Double]] = [:]
        for name in names {
            let dir = Self.layerFixtures + "/" + name
            for (latency, cycles) in try ProgramDirectory.load(dir).manifest.measuredCycles ?? [:] {
                // Timing only: functional mode runs the same events (and is slow in a debug build).
                let loaded = try ProgramDirectory.load(dir, overrides: ["DRAM_LATENCY=\(latency)"])
                let result = Simulator(spec: loaded.spec).run(loaded.program)
                #expect(result.status == .ok, "\(name)")
                let error = 100 * abs(Double(result.cycles - cycles)) / Double(cycles)
                #expect(error <= 3, "\(name) at latency \(latency): \(result.cycles) vs RTL \(cycles)")
                errors[Int(latency)!, default: []].append(error)
            }
        }
        #expect(errors.keys.sorted() == [1, 16, 64])
        for (latency, e) in errors {
            #expect(e.count == 50 && e.reduce(0, +) / Double(e.count) <= 1, "mean |error| at latency \(latency)")
        }
    }

    /// The RTL build that measured the layers holds 2048 uops, stock VTA 8192: a program directory
    /// is checked against its own configuration's uop buffer, so C2's default program (1,036 uops)
    /// is refused when its program.json declares a 1024-uop buffer, naming the instruction and depth.
    @Test func programUopsBeyondTheConfiguredBufferAreRefused() throws {
        let source = Self.layerFixtures + "/C2_default"
        #expect(throws: Never.self) { try ProgramDirectory.load(source) }
        let dir = temporaryDirectory("uops")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: source, toPath: dir)
        let manifest = dir + "/program.json"
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        #expect(text.contains("\"LOG_UOP_BUFF_SIZE\": 15"))
        try text.replacingOccurrences(of: "\"LOG_UOP_BUFF_SIZE\": 15", with: "\"LOG_UOP_BUFF_SIZE\": 12")
            .write(toFile: manifest, atomically: true, encoding: .utf8)
        do {
            _ = try ProgramDirectory.load(dir)
            Issue.record("a 1,036-uop program loaded into a 1024-uop buffer")
        } catch let e as ProgramError {
            #expect(
                e.message.contains("instruction 0 (load_uop)") && e.message.contains("uop buffer depth 1024"),
                "\(e.message)")
        }
    }

    // MARK: malformed programs: each gets an error naming what is wrong

    /// Exports a small program, lets `damage` modify the directory, and returns the load error.
    func loadError(_ damage: (String) throws -> Void) throws -> String {
        let (dir, _, _) = try export(
            .conv2d(h: 6, w: 6, ci: 16, co: 16, k: 3, s: 1, p: 1), Schedule(tileH: 6, tileW: 6))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try damage(dir)
        do {
            _ = try ProgramDirectory.load(dir)
            return "(loaded without error)"
        } catch let e as ProgramError {
            return e.message
        }
    }

    func rewrite(_ dir: String, _ file: String, _ change: (inout [UInt8]) -> Void) throws {
        let path = dir + "/" + file
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func editManifest(_ dir: String, _ change: (inout [String: Any]) -> Void) throws {
        let path = dir + "/program.json"
        var object =
            try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: path)!) as! [String: Any]
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    /// Replaces instruction k with `insn`, encoded at the stock configuration.
    func replaceInstruction(_ dir: String, _ k: Int, _ insn: Instruction) throws {
        let bytes = try HardwareSpec(.stock).encode(insn).bytes
        try rewrite(dir, "insn.bin") { b in b.replaceSubrange((16 * k)..<(16 * k + 16), with: bytes) }
    }

    @Test func truncatedFile() throws {
        let m = try loadError { dir in try rewrite(dir, "wgt.bin") { $0.removeLast(100) } }
        #expect(m.contains("wgt.bin") && m.contains("bytes"), "\(m)")
        let n = try loadError { dir in try rewrite(dir, "insn.bin") { $0.removeLast(16) } }
        #expect(n.contains("insn.bin"), "\(n)")
    }

    @Test func missingFilesAndManifest() throws {
        let m = try loadError { dir in try FileManager.default.removeItem(atPath: dir + "/inp.bin") }
        #expect(m.contains("inp.bin") && m.contains("cannot read"), "\(m)")
        let n = try loadError { dir in try FileManager.default.removeItem(atPath: dir + "/program.json") }
        #expect(n.contains("program.json"), "\(n)")
        let v = try loadError { dir in try editManifest(dir) { $0["version"] = 99 } }
        #expect(v.contains("version 99"), "\(v)")
        let f = try loadError { dir in try editManifest(dir) { $0.removeValue(forKey: "regions") } }
        #expect(f.contains("regions"), "\(f)")
        let h = try loadError { dir in
            try editManifest(dir) {
                var hw = $0["hardware"] as! [String: Any]
                hw["LOG_BLOCK_IN"] = 99
                $0["hardware"] = hw
            }
        }
        #expect(h.contains("LOG_BLOCK_IN"), "\(h)")
    }

    @Test func badRegions() throws {
        func editRegion(_ name: String, _ change: @escaping (inout [String: Any]) -> Void) -> (String) throws -> Void {
            { dir in
                try editManifest(dir) { m in
                    var regions = m["regions"] as! [[String: Any]]
                    let i = regions.firstIndex { $0["name"] as? String == name }!
                    change(&regions[i])
                    m["regions"] = regions
                }
            }
        }
        #expect(try loadError(editRegion("wgt") { $0["element_bytes"] = 128 }).contains("element_bytes 128"))
        #expect(try loadError(editRegion("inp") { $0["base"] = ($0["base"] as! Int) + 8 }).contains("not a multiple"))
        #expect(try loadError(editRegion("out") { $0["base"] = 0 }).contains("overlap"))
        #expect(try loadError(editRegion("out") { $0["name"] = "psum" }).contains("'psum'"))
    }

    /// A manifest's `file` entries may not read outside the program directory.
    @Test func filesStayInsideTheDirectory() throws {
        func wgtFile(_ file: @escaping (String) throws -> String) -> (String) throws -> Void {
            { dir in
                let name = try file(dir)
                try editManifest(dir) { m in
                    var regions = m["regions"] as! [[String: Any]]
                    let i = regions.firstIndex { $0["name"] as? String == "wgt" }!
                    regions[i]["file"] = name
                    m["regions"] = regions
                }
            }
        }
        let up = try loadError(wgtFile { dir in "../\(URL(fileURLWithPath: dir).lastPathComponent)/wgt.bin" })
        #expect(up.contains("'..'"), "\(up)")
        let absolute = try loadError(wgtFile { dir in dir + "/wgt.bin" })
        #expect(absolute.contains("absolute"), "\(absolute)")
        let outside = temporaryDirectory("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let linked = try loadError(
            wgtFile { dir in
                try FileManager.default.copyItem(atPath: dir + "/wgt.bin", toPath: outside + "/wgt.bin")
                try FileManager.default.createSymbolicLink(
                    atPath: dir + "/link.bin",
                    withDestinationPath: outside + "/wgt.bin")
                return "link.bin"
            })
        #expect(linked.contains("outside the program directory"), "\(linked)")
        // A symlink that stays inside is fine.
        let inside = try loadError(
            wgtFile { dir in
                try FileManager.default.createSymbolicLink(atPath: dir + "/same.bin", withDestinationPath: "wgt.bin")
                return "same.bin"
            })
        #expect(inside == "(loaded without error)", "\(inside)")
    }

    @Test func overflowingFields() throws {
        // An opcode of 7, a memory type of 6, and a uop_end beyond the 8192-uop buffer.
        let op = try loadError { dir in try rewrite(dir, "insn.bin") { $0[16 * 2] = ($0[16 * 2] & 0xF8) | 7 } }
        #expect(op.contains("instruction 2") && op.contains("opcode"), "\(op)")
        let mt = try loadError { dir in
            try rewrite(dir, "insn.bin") {
                $0[0] = ($0[0] & 0x7F)
                $0[1] = ($0[1] & 0xFC) | 3
            }
        }
        #expect(mt.contains("instruction 0") && mt.contains("memory_type"), "\(mt)")
        let loop = UopLoop(
            uopBegin: 8000, uopEnd: 9000, iterOut: 1, iterIn: 1, dstFactorOut: 0, dstFactorIn: 0, srcFactorOut: 0,
            srcFactorIn: 0)
        let ue = try loadError { dir in try replaceInstruction(dir, 1, .gemm(GemmInsn(reset: true, loop: loop))) }
        #expect(ue.contains("instruction 1") && ue.contains("uop_end"), "\(ue)")
    }

    @Test func outOfRangeDMA() throws {
        let dram = try loadError { dir in
            try replaceInstruction(
                dir, 2,
                .load(MemoryInsn(memoryType: .inp, sramBase: 0, dramBase: 1 << 30, ySize: 1, xSize: 4, xStride: 4)))
        }
        #expect(dram.contains("instruction 2") && dram.contains("dram_base") && dram.contains("inp region"), "\(dram)")
        let sram = try loadError { dir in
            try replaceInstruction(
                dir, 2,
                .load(MemoryInsn(memoryType: .inp, sramBase: 2040, dramBase: 0, ySize: 1, xSize: 10, xStride: 10)))
        }
        #expect(sram.contains("sram_base"), "\(sram)")
        let uop = try loadError { dir in
            // A GEMM whose factors walk past the accumulator buffer.
            let loop = UopLoop(
                uopBegin: 0, uopEnd: 1, iterOut: 2000, iterIn: 1, dstFactorOut: 2, dstFactorIn: 0, srcFactorOut: 0,
                srcFactorIn: 0)
            try replaceInstruction(dir, 1, .gemm(GemmInsn(reset: true, loop: loop)))
        }
        #expect(uop.contains("accumulator row"), "\(uop)")
    }

    @Test func unbalancedTokensAndMissingFinish() throws {
        let tokens = try loadError { dir in
            try replaceInstruction(
                dir, 1,
                .gemm(
                    GemmInsn(
                        deps: .pushNext, reset: true,
                        loop: UopLoop(
                            uopBegin: 0, uopEnd: 1, iterOut: 1, iterIn: 1, dstFactorOut: 0, dstFactorIn: 0,
                            srcFactorOut: 0, srcFactorIn: 0))))
        }
        #expect(tokens.contains("do not balance") && tokens.contains("compute->store"), "\(tokens)")
        let finish = try loadError { dir in
            let count = try ProgramDirectory.load(dir).program.instructions.count
            try replaceInstruction(
                dir, count - 1,
                .load(
                    MemoryInsn(
                        deps: .popNext, memoryType: .inp, sramBase: 0, dramBase: 0, ySize: 0, xSize: 0, xStride: 0)))
        }
        #expect(finish.contains("FINISH") || finish.contains("balance"), "\(finish)")
        let flag = try loadError { dir in
            try replaceInstruction(
                dir, 2,
                .load(
                    MemoryInsn(
                        deps: .popPrev, memoryType: .inp, sramBase: 0, dramBase: 0, ySize: 0, xSize: 0, xStride: 0)))
        }
        #expect(flag.contains("pop_prev_dep"), "\(flag)")
    }

    @Test func isaKeysCannotBeOverridden() throws {
        let (dir, _, _) = try export(.dense(n: 1, ci: 32, co: 32), Schedule(tileCI: 1, tileCO: 2))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ProgramError.self) { try ProgramDirectory.load(dir, overrides: ["LOG_BLOCK=3"]) }
        #expect(try ProgramDirectory.load(dir, overrides: ["DRAM_LATENCY=1,AXI_WIDTH=128"]).spec.axiBytes == 16)
    }

    @Test func wrongAnswerNamesTheElement() throws {
        let (dir, _, _) = try export(.dense(n: 1, ci: 32, co: 32), Schedule(tileCI: 1, tileCO: 2))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try rewrite(dir, "out.bin") { $0[17] = $0[17] &+ 1 }
        let run = try ProgramDirectory.load(dir).run()
        #expect(run.result.status == .ok)
        #expect(run.mismatch?.contains("out element 1 byte 1") == true, "\(run.mismatch ?? "nil")")
    }
}
