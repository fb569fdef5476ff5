import ArgumentParser
import Foundation
import Search
import VTA

struct Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a workload (or every layer of a model) for VTA and run it on the cycle-level simulator.",
        discussion: """
            One workload:
              vtafarm sim --workload conv2d:N=1,H=56,W=56,CI=64,CO=64,K=3,S=1,P=1 \\
                          --schedule tile_h=8,tile_w=14,tile_ci=4,tile_co=2,h_nthread=2
              vtafarm sim --workload dense:N=1,CI=512,CO=1024 --json
            Without --schedule a default schedule is chosen by an analytic cost estimate. With \
            --input/--weight (int8 .npy, NCHW input and OIHW weight; dense: N x CI and CO x CI) the \
            simulator also computes the output (written by --output, int8 NCHW .npy). --verify does \
            the same with random data and checks the result against a plain reference implementation.

            A model (zoo: \(ModelZoo.names.joined(separator: ", ")); or a YAML layer table):
              vtafarm sim --model resnet18 --best
            prints one row per layer. --best searches each layer's schedule space exhaustively.

            A program directory (format in the README):
              vtafarm sim --workload ... --emit-program DIR   (program, data and expected output)
              vtafarm sim --program DIR [--hw-set DRAM_LATENCY=1] [--json]
            Without --input/--weight, --emit-program uses seeded random data.

            Exit status: 0 when the configuration ran, 2 when it is invalid on VTA (reason printed), \
            1 for bad input (including a malformed program directory), 3 for a wrong answer.
            """
    )

    @Option(help: ArgumentHelp("conv2d:N=,H=,W=,CI=,CO=,K=,S=,P= or dense:N=,CI=,CO=", valueName: "workload"))
    var workload: String?

    @Option(help: ArgumentHelp("A zoo model name or a YAML layer-table file.", valueName: "name|file"))
    var model: String?

    @Option(
        help: ArgumentHelp(
            "Run a program directory (program.json + .bin files), from vtafarm or elsewhere.", valueName: "dir"))
    var program: String?

    @Option(
        help: ArgumentHelp(
            "With --workload: also write the compiled program, its data and its expected output as a program directory.",
            valueName: "dir"))
    var emitProgram: String?

    @Flag(help: "With --model: search every layer's schedule space exhaustively.")
    var best = false

    @Option(
        help: ArgumentHelp(
            "With --model and --best: search the hardware too, every configuration of this space on --fpga (default \(FPGA.defaultBoard.name)) that can hold the optimum: buildable (the whole buildable space) or stock (the stock VTA's neighbourhood). Prints the optimum and the top configurations.",
            valueName: "extent"))
    var hwExtent: HardwareSpace.Extent?

    @Option(help: "With --hw-extent: how many of the best configurations to print.") var top = 5

    @OptionGroup var hardware: HardwareOptions

    @Option(
        help: ArgumentHelp(
            "Knobs: tile_b, tile_h, tile_w, tile_ci, tile_co, h_nthread, oc_nthread (unnamed knobs are 1).",
            valueName: "knob=value,..."))
    var schedule: String?

    @Option(help: ArgumentHelp("Input tensor, int8 .npy.", valueName: "x.npy")) var input: String?
    @Option(help: ArgumentHelp("Weight tensor, int8 .npy.", valueName: "w.npy")) var weight: String?
    @Option(help: ArgumentHelp("Where to write the output tensor, int8 .npy.", valueName: "y.npy")) var output: String?

    @Flag(help: "Run functionally on random data and compare with the reference implementation.")
    var verify = false

    @Option(help: "Arithmetic right shift of the epilogue: out = clip(acc >> shift, 0, 127).")
    var shift: Int = 8

    @Flag(help: "Model the pre-2021 VTA whose GEMM takes about 4 cycles per uop.")
    var legacyGemm = false

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        if [workload, model, program].compactMap({ $0 }).count != 1 {
            throw ValidationError("give exactly one of --workload, --model and --program")
        }
        if program != nil
            && (schedule != nil || input != nil || weight != nil || output != nil || verify || best
                || emitProgram != nil || hardware.configFile != nil || hardware.fpga != nil)
        {
            throw ValidationError(
                "--program takes only --hw-set (AXI_WIDTH, MAX_BURST, CLOCK_MHZ, DRAM_LATENCY), --legacy-gemm and --json"
            )
        }
        if emitProgram != nil && workload == nil { throw ValidationError("--emit-program goes with --workload") }
        if model != nil && (schedule != nil || input != nil || weight != nil || output != nil || verify) {
            throw ValidationError(
                "--schedule, --input, --weight, --output and --verify go with --workload, not --model")
        }
        if best && model == nil { throw ValidationError("--best goes with --model") }
        if hwExtent != nil && !best { throw ValidationError("--hw-extent goes with --model and --best") }
        if top < 1 || top > 1000 { throw ValidationError("--top \(top): give 1 to 1000") }
        if (input == nil) != (weight == nil) { throw ValidationError("--input and --weight go together") }
        if output != nil && input == nil { throw ValidationError("--output needs --input and --weight") }
        if !ISALayout.immRange.contains(shift) {
            throw ValidationError("--shift \(shift) does not fit the \(ISALayout.immWidth)-bit ALU immediate")
        }
    }

    var timing: TimingParameters { legacyGemm ? .legacyGemm : .tsim }

    func run() throws {
        if let program { return try runProgram(program) }
        let spec = try hardware.spec()
        if let model { try runModel(model, spec) } else { try runWorkload(workload!, spec) }
    }

    // MARK: a program directory

    func runProgram(_ directory: String) throws {
        let loaded: ProgramDirectory
        do { loaded = try ProgramDirectory.load(directory, overrides: hardware.assignments) } catch let e
            as ProgramError
        {
            if json { print(jsonLine(["status": "malformed", "message": e.message])) }
            throw UserError(e.message)
        }
        let run = loaded.run(timing: timing)
        let status = run.result.status != .ok ? run.result.status.name : run.mismatch != nil ? "wrong_answer" : "ok"
        if json {
            var object: [String: Any] = [
                "status": status, "cycles": run.result.cycles, "counters": run.result.counters.jsonObject,
                "instructions": loaded.program.instructions.count, "output_compared": run.compared,
            ]
            if let m = run.result.status.message ?? run.mismatch { object["message"] = m }
            if let w = loaded.manifest.workload { object["workload"] = w }
            if let s = loaded.manifest.schedule { object["schedule"] = s }
            print(jsonLine(object))
        } else {
            let spec = loaded.spec
            print("program       \(directory) (\(loaded.program.instructions.count) instructions)")
            print(
                "hardware      \(spec.config.shortName), \(spec.config.clockMHz) MHz, DRAM latency \(spec.config.dramLatency)"
            )
            if let w = loaded.manifest.workload { print("workload      \(w)") }
            if let s = loaded.manifest.schedule { print("schedule      \(s)") }
            print("status        \(status)\((run.result.status.message ?? run.mismatch).map { ": \($0)" } ?? "")")
            print("cycles        \(formatCycles(run.result.cycles))")
            print(
                "output        \(run.compared ? (run.mismatch == nil ? "matches out.bin" : "differs from out.bin") : "no out.bin to compare with")"
            )
        }
        if status != "ok" { throw ExitCode(status == "wrong_answer" ? 3 : 1) }
    }

    // MARK: one workload

    func runWorkload(_ text: String, _ spec: HardwareSpec) throws {
        let w: Workload
        do { w = try Workload(parsing: text) } catch let e as WorkloadError {
            throw UserError("\(InvalidReason.Code.badWorkload.rawValue): \(e.message)")
        }
        if let problem = w.packingProblem(spec) { throw UserError("\(w): \(problem)") }
        let space = ScheduleSpace(workload: w, spec: spec)
        let s: Schedule
        if let text = schedule {
            do { s = try Schedule(parsing: text) } catch let e as WorkloadError { throw UserError(e.message) }
        } else {
            guard let d = space.defaultSchedule(spec) else {
                throw UserError("\(w): no schedule in its space of \(space.size) is valid on \(spec.config.shortName)")
            }
            s = d
        }
        let program: Program
        switch Compiler.compile(w, s, spec, shift: shift) {
        case .failure(let reason):
            if json {
                print(
                    jsonLine([
                        "status": "invalid", "reason": reason.code.rawValue, "message": reason.message,
                        "workload": w.description, "schedule": s.description,
                    ]))
            } else {
                print("invalid: \(reason.code.rawValue): \(reason.message)")
                print("workload \(w)\nschedule \(s)")
            }
            throw ExitCode(2)
        case .success(let p): program = p
        }
        let simulator = Simulator(spec: spec, timing: timing)
        var functional: String? = nil
        let result: SimulationResult
        if input != nil || verify || emitProgram != nil {
            let (x, k) = try tensors(w)
            let check:
                (
                    result: SimulationResult, machine: FunctionalMachine, output: Int8Tensor?,
                    outcome: FunctionalCheck.Outcome
                )
            do {
                check = try FunctionalCheck.run(
                    program, of: w, spec: spec, timing: timing, input: x, weight: k, shift: shift)
            } catch let e as WorkloadError { throw UserError(e.message) }
            result = check.result
            if result.status == .ok, let emitProgram {
                do {
                    try ProgramDirectory.write(
                        program, to: emitProgram, initial: try program.dramImage(input: x, weight: k),
                        final: check.machine.dram, shift: shift, simulated: result)
                } catch let e as ProgramError { throw UserError(e.message) }
            }
            if let y = check.output, let output { try NPY.write(y, path: output) }
            if verify, check.output != nil { functional = check.outcome.description }
        } else {
            result = simulator.run(program)
        }
        try report(w, s, spec, program, result, functional)
        if let functional, functional.hasPrefix("MISMATCH") { throw ExitCode(3) }
    }

    func tensors(_ w: Workload) throws -> (Int8Tensor, Int8Tensor) {
        if let input, let weight {
            do {
                let x = try NPY.read(path: input)
                let k = try NPY.read(path: weight)
                guard x.shape == w.inputShape else {
                    throw UserError("\(input): shape \(x.shape), the workload needs \(w.inputShape)")
                }
                guard k.shape == w.weightShape else {
                    throw UserError("\(weight): shape \(k.shape), the workload needs \(w.weightShape)")
                }
                return (x, k)
            } catch let e as NPY.FormatError { throw UserError(e.message) }
        }
        return (Int8Tensor.random(shape: w.inputShape, seed: 1), Int8Tensor.random(shape: w.weightShape, seed: 2))
    }

    func report(
        _ w: Workload, _ s: Schedule, _ spec: HardwareSpec, _ program: Program,
        _ result: SimulationResult, _ functional: String?
    ) throws {
        let bound = (w.macs + spec.macsPerCycle - 1) / spec.macsPerCycle
        if json {
            var object: [String: Any] = [
                "status": result.status == .ok ? "ok" : result.status.name,
                "cycles": result.cycles, "counters": result.counters.jsonObject,
                "workload": w.description, "schedule": s.description,
                "compute_bound_cycles": bound, "instructions": program.instructions.count,
            ]
            if let m = result.status.message { object["message"] = m }
            if let functional { object["functional"] = functional }
            print(jsonLine(object))
        } else {
            let c = result.counters
            let ms = Double(result.cycles) / (spec.config.clockMHz * 1000)
            print("workload      \(w)")
            print(
                "hardware      \(spec.config.shortName), \(spec.config.clockMHz) MHz, DRAM latency \(spec.config.dramLatency)"
            )
            let need = ResourceEstimate(spec)
            print(
                "resources     about \(need.dsp) DSP, \(need.bram36) BRAM36"
                    + ((try? hardware.part()).flatMap { $0 }.map {
                        " (\($0.name): \($0.dsp) DSP, \($0.memoryBlocks) BRAM36)"
                    } ?? ""))
            print("schedule      \(s)")
            print("status        \(result.status.name)\(result.status.message.map { ": \($0)" } ?? "")")
            print("cycles        \(formatCycles(result.cycles))  (\(String(format: "%.3f", ms)) ms)")
            print(
                "compute bound \(formatCycles(bound))  (efficiency \(String(format: "%.1f%%", 100 * Double(bound) / Double(max(1, result.cycles)))))"
            )
            print(
                "instructions  \(program.instructions.count): "
                    + c.instructions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            print(
                "uops          gemm \(formatCycles(c.gemmUops)), alu \(formatCycles(c.aluUops)); uop buffer \(program.uops.count)/\(spec.uopDepth)"
            )
            print(
                "DRAM          read \(formatCycles(c.dramBytesRead)) B (fetch \(formatCycles(c.fetchBytes))), written \(formatCycles(c.dramBytesWritten)) B, \(formatCycles(c.busBusyCycles)) beats on the read and write channels"
            )
            for m in Module.allCases {
                print(
                    pad(m.name, 13)
                        + " busy \(formatCycles(c.busy[m.name] ?? 0)), waiting for tokens \(formatCycles(c.stalledOnTokens[m.name] ?? 0)), starved \(formatCycles(c.starved[m.name] ?? 0))"
                )
            }
            if let functional { print("functional    \(functional)") }
        }
        if result.status != .ok { throw ExitCode(1) }
    }

    // MARK: a model

    func runModel(_ name: String, _ spec: HardwareSpec) throws {
        let imported = ModelLoader.isONNX(name) ? try ModelLoader.importONNX(name) : nil
        let model = try imported?.model ?? ModelLoader.load(name)
        if let imported, !json { printPlacement(imported) }
        if let hwExtent { return try runOptimum(model, spec, hwExtent) }
        for layer in model.layers {
            if let problem = layer.workload.packingProblem(spec) {
                throw UserError("model \(model.name), layer \(layer.name): \(problem)")
            }
        }
        struct Row {
            var layer: Model.Layer
            var schedule: Schedule?
            var cycles: Int?
            var valid: Int
            var size: Int
            var reasons: [InvalidReason.Code: Int]
            var note: String?
        }
        var rows: [Row] = []
        let started = Date()
        for (k, layer) in model.layers.enumerated() {
            let space = ScheduleSpace(workload: layer.workload, spec: spec)
            if best {
                let sweep = space.sweep(spec, timing: timing)
                rows.append(
                    Row(
                        layer: layer, schedule: sweep.best?.schedule, cycles: sweep.best?.cycles, valid: sweep.valid,
                        size: sweep.size, reasons: sweep.reasons, note: sweep.failures.first))
                if !json {
                    FileHandle.standardError.write(
                        Data(
                            String(
                                format: "[%d/%d] %@: %d schedules, %d valid (%.1f s)\n", k + 1,
                                model.layers.count, layer.name, sweep.size, sweep.valid,
                                Date().timeIntervalSince(started)
                            ).utf8))
                }
            } else {
                let s = space.defaultSchedule(spec)
                let cycles = s.flatMap { ScheduleSpace.evaluate(layer.workload, $0, spec, timing: timing).cycles }
                rows.append(
                    Row(layer: layer, schedule: s, cycles: cycles, valid: -1, size: space.size, reasons: [:], note: nil)
                )
            }
        }
        let total = model.latency { rows[$0].cycles ?? 0 } ?? 0  // the layers with a valid schedule
        let bound = rows.reduce(0) {
            $0 + $1.layer.count * (($1.layer.workload.macs + spec.macsPerCycle - 1) / spec.macsPerCycle)
        }
        let missing = rows.filter { $0.cycles == nil }.map { $0.layer.name }
        if json {
            let layers: [[String: Any]] = rows.map { r in
                var o: [String: Any] = [
                    "name": r.layer.name, "workload": r.layer.workload.description, "count": r.layer.count,
                    "space": r.size,
                ]
                if let s = r.schedule { o["schedule"] = s.description }
                if let c = r.cycles { o["cycles"] = c }
                if r.valid >= 0 {
                    o["valid"] = r.valid
                    o["invalid_reasons"] = Dictionary(
                        uniqueKeysWithValues: r.reasons.map { ($0.key.rawValue, $0.value) })
                }
                return o
            }
            print(
                jsonLine(
                    [
                        "model": model.name, "hardware": spec.config.shortName, "layers": layers,
                        "total_cycles": total, "compute_bound_cycles": bound, "complete": missing.isEmpty,
                    ].merging(imported.map { ["nodes": placementJSON($0)] } ?? [:]) { a, _ in a }))
        } else {
            print(
                "model \(model.name) on VTA \(spec.config.shortName) at \(spec.config.clockMHz) MHz (\(best ? "best schedule per layer, exhaustive" : "default schedule per layer"))"
            )
            var header =
                pad("layer", 20) + pad("count", 6, right: true) + pad("cycles", 13, right: true)
                + pad("bound", 13, right: true) + pad("eff", 7, right: true)
            if best { header += pad("valid/space", 15, right: true) }
            print(header + "  schedule")
            for r in rows {
                let b = (r.layer.workload.macs + spec.macsPerCycle - 1) / spec.macsPerCycle
                let eff = r.cycles.map { String(format: "%.1f%%", 100 * Double(b) / Double($0)) } ?? "-"
                var line =
                    pad(r.layer.name, 20) + pad("\(r.layer.count)", 6, right: true)
                    + pad(r.cycles.map(formatCycles) ?? "none valid", 13, right: true)
                    + pad(formatCycles(b), 13, right: true)
                    + pad(eff, 7, right: true)
                if best { line += pad("\(r.valid)/\(r.size)", 15, right: true) }
                print(line + "  " + (r.schedule?.description ?? "-"))
            }
            let ms = Double(total) / (spec.config.clockMHz * 1000)
            print(
                "total (x count) \(formatCycles(total)) cycles = \(String(format: "%.2f", ms)) ms, \(String(format: "%.1f", 1000 / ms)) inferences/s; compute bound \(formatCycles(bound)) (\(String(format: "%.1f%%", 100 * Double(bound) / Double(max(1, total)))) of peak)"
            )
            if best {
                var reasons: [InvalidReason.Code: Int] = [:]
                for r in rows { for (k, v) in r.reasons { reasons[k, default: 0] += v } }
                let invalid = rows.reduce(0) { $0 + $1.size - $1.valid }
                let size = rows.reduce(0) { $0 + $1.size }
                print(
                    "invalid schedules: \(invalid) of \(size) (\(String(format: "%.1f%%", 100 * Double(invalid) / Double(max(1, size))))): "
                        + reasons.sorted { $0.value > $1.value }.map { "\($0.key.rawValue) \($0.value)" }.joined(
                            separator: ", "))
            }
            if !missing.isEmpty {
                print("no valid schedule for: \(missing.joined(separator: ", ")); the total leaves them out")
            }
        }
        if !missing.isEmpty { throw ExitCode(2) }
    }

    /// What an ONNX network runs where: each Conv/Gemm/MatMul with its layer or its reason for
    /// staying on the CPU, then the other ops by type (all on the CPU).
    func printPlacement(_ imported: ONNXImport) {
        let offloaded = imported.nodes.filter { if case .vta = $0.placement { return true } else { return false } }
        print(
            "\(imported.model.name): \(offloaded.count) of \(imported.nodes.count) Conv/Gemm/MatMul nodes offloaded, as \(imported.model.layers.count) layers"
        )
        for n in imported.nodes {
            switch n.placement {
            case .vta(let layer, let workload):
                print("  VTA  \(pad(n.opType, 7)) \(n.node) -> \(layer == n.node ? "" : "layer \(layer), ")\(workload)")
            case .cpu(let reason): print("  CPU  \(pad(n.opType, 7)) \(n.node): \(reason)")
            }
        }
        if !imported.otherOps.isEmpty {
            print(
                "  CPU  other ops (not VTA operators): "
                    + imported.otherOps.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map {
                        "\($0.key) \($0.value)"
                    }
                    .joined(separator: ", "))
        }
        print("")
    }

    func placementJSON(_ imported: ONNXImport) -> [[String: Any]] {
        imported.nodes.map { n in
            switch n.placement {
            case .vta(let layer, let workload):
                return [
                    "node": n.node, "op": n.opType, "placement": "vta", "layer": layer,
                    "workload": workload.description,
                ]
            case .cpu(let reason): return ["node": n.node, "op": n.opType, "placement": "cpu", "reason": reason]
            }
        }
    }
}

extension Sim {
    /// `--best --hw-extent`: the exhaustive optimum over the hardware space's maximal points.
    func runOptimum(_ model: Model, _ spec: HardwareSpec, _ extent: HardwareSpace.Extent) throws {
        let board = try hardware.part() ?? FPGA.defaultBoard
        let space = HardwareSpace(
            base: spec.config, fpga: board, workloads: model.layers.map(\.workload), extent: extent)
        let census = space.census
        let tty = isatty(STDERR_FILENO) != 0
        if !json { print("hardware space on \(board.name) (\(extent.rawValue)): \(census)") }
        let started = Date()
        let optimum = space.optimum(of: model.layers, top: top, threads: ProcessInfo.processInfo.activeProcessorCount) {
            line in
            let elapsed = String(format: "%.0f", Date().timeIntervalSince(started))
            FileHandle.standardError.write(
                Data("\(tty ? "\r\u{1B}[K" : "")[\(elapsed) s] \(line)\(tty ? "" : "\n")".utf8))
        }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Date().timeIntervalSince(started)
        guard let best = optimum.top.first else {
            throw UserError("no configuration of this space runs every layer of \(model.name)")
        }
        if json {
            print(
                jsonLine([
                    "model": model.name, "fpga": board.name, "extent": extent.rawValue,
                    "buildable": census.buildable, "maximal": census.maximal, "groups": optimum.groups,
                    "swept_groups": optimum.sweptGroups, "points": optimum.points,
                    "simulations": optimum.simulations, "seconds": seconds, "optimum_cycles": best.cycles,
                    "top": optimum.top.map { ["cycles": $0.cycles, "hardware": $0.hardware.jsonObject] },
                ]))
            return
        }
        print(
            "optimum of \(model.name) on \(board.name): \(formatCycles(best.cycles)) cycles on \(best.hardware.shortName) (\(optimum.sweptGroups) of \(optimum.groups) block shape x AXI groups swept, the rest cut by their compute bound; \(optimum.points) maximal configurations, \(formatCycles(optimum.simulations)) simulations, \(String(format: "%.1f", seconds)) s)"
        )
        for (k, p) in optimum.top.enumerated() {
            print(
                "  \(k + 1). \(pad(formatCycles(p.cycles), 12, right: true)) cycles  \(p.hardware.shortName)  (\(String(format: "+%.2f%%", 100 * (Double(p.cycles) / Double(best.cycles) - 1))))"
            )
        }
        print(pad("layer", 12) + pad("count", 6, right: true) + pad("best cycles", 14, right: true) + "  best schedule")
        for (layer, l) in zip(model.layers, best.perLayer) {
            print(
                pad(layer.name, 12) + pad("\(layer.count)", 6, right: true)
                    + pad(formatCycles(l.cycles), 14, right: true) + "  \(l.schedule)")
        }
    }
}
