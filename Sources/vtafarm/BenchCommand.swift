import ArgumentParser
import Foundation
import VTA

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures (build with -c release before trusting them).",
        subcommands: [BenchSim.self, BenchCalibration.self, BenchFarm.self, BenchSearch.self]
    )
}

struct BenchSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Simulator speed: simulated cycles per wall second, and compile+simulate time per candidate.",
        discussion: """
            For each layer of the model (default resnet18) on the given hardware: sweeps the whole \
            schedule space on one core (compile + timing simulation of every valid schedule), then \
            re-simulates the layer's best program --repeats times and reports simulated cycles per \
            second of wall time. Everything runs on one thread.
            """
    )

    @Option(help: "A zoo model name or a YAML layer-table file.") var model = "resnet18"
    @OptionGroup var hardware: HardwareOptions
    @Option(help: "Timing-mode repetitions of each best program.") var repeats = 20

    func validate() throws {
        if repeats < 1 || repeats > 100_000 { throw ValidationError("--repeat must be between 1 and 100000") }
    }

    func run() throws {
        let spec = try hardware.spec()
        let model = try ModelLoader.load(model)
        #if DEBUG
            print("note: this is a debug build; measure with `swift build -c release`")
        #endif
        print("simulator benchmark: \(model.name) on \(spec.config.shortName), one thread")
        print(
            pad("layer", 20) + pad("space", 8, right: true) + pad("valid", 8, right: true)
                + pad("median ms", 12, right: true)
                + pad("best cycles", 14, right: true) + pad("Mcycles/s", 12, right: true))
        var allTimes: [Double] = []
        var totalCycles = 0.0
        var totalSeconds = 0.0
        for layer in model.layers {
            let space = ScheduleSpace(workload: layer.workload, spec: spec)
            let sweep = space.sweep(spec, threads: 1)
            allTimes += sweep.secondsPerValid
            guard let best = sweep.best,
                case .success(let program) = Compiler.compile(layer.workload, best.schedule, spec)
            else {
                print("\(layer.name): no valid schedule")
                continue
            }
            let sim = Simulator(spec: spec)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var cycles = 0
            for _ in 0..<repeats { cycles += sim.run(program).cycles }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            totalCycles += Double(cycles)
            totalSeconds += seconds
            print(
                pad(layer.name, 20) + pad("\(sweep.size)", 8, right: true) + pad("\(sweep.valid)", 8, right: true)
                    + pad(String(format: "%.3f", median(sweep.secondsPerValid) * 1000), 12, right: true)
                    + pad(formatCycles(best.cycles), 14, right: true)
                    + pad(String(format: "%.1f", Double(cycles) / seconds / 1e6), 12, right: true))
        }
        print(
            String(
                format: "timing mode over the best programs: %.1f M simulated cycles per wall second",
                totalCycles / max(totalSeconds, 1e-9) / 1e6))
        print(
            String(
                format: "compile + simulate per valid candidate: median %.3f ms, p90 %.3f ms over %d candidates",
                median(allTimes) * 1000, percentile(allTimes, 0.9) * 1000, allTimes.count))
    }

    func median(_ xs: [Double]) -> Double { percentile(xs, 0.5) }
    func percentile(_ xs: [Double], _ p: Double) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s[min(s.count - 1, Int(Double(s.count - 1) * p))]
    }
}

struct BenchCalibration: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibration",
        abstract: "Compare simulated cycles with cycle counts measured elsewhere (the VTA RTL).",
        discussion: """
            Runs every program directory under each DIR whose program.json has measured_cycles (keyed by \
            DRAM read latency), once per latency, and prints measured, simulated and the error, then per \
            set and latency the mean and max |error| and how many are within 1% and 3%. The last line is \
            one JSON object with those summaries, for scripts. Exits 1 when a program of the micro table \
            (--fixtures) misses by more than 3% or 3 cycles, whichever is larger; with --gate-layers also \
            when a layer set's mean |error| exceeds 1% or any of its programs 3%.
            """
    )

    @Option(help: ArgumentHelp("Directory of micro-program directories (gated per program).", valueName: "dir"))
    var fixtures = "Tests/Fixtures/rtl"

    /// Defaults to rtl-layers beside --fixtures, so a run from elsewhere with --fixtures finds both sets.
    @Option(
        help: ArgumentHelp(
            "Directory of whole-layer program directories (default: rtl-layers beside --fixtures); "
                + "'' for none.", valueName: "dir"))
    var layers: String?

    @Flag(help: "Also fail when the layer set's mean |error| > 1% or any program's > 3%.")
    var gateLayers = false

    /// One measured program at one latency.
    struct Row {
        var latency: Int
        var measured: Int
        var simulated: Int
        var errorPercent: Double { 100 * Double(simulated - measured) / Double(measured) }
    }

    func run() throws {
        let micro = try measure(fixtures)
        let beside = URL(fileURLWithPath: fixtures).deletingLastPathComponent().appendingPathComponent("rtl-layers")
        let layerDir = layers ?? beside.path
        let layerRows = layerDir.isEmpty ? [] : try measure(layerDir)
        var summaries: [String] = []
        var failed = false
        for (set, rows) in [("micro", micro), ("layers", layerRows)] where !rows.isEmpty {
            for latency in Set(rows.map(\.latency)).sorted() {
                let errors = rows.filter { $0.latency == latency }.map { abs($0.errorPercent) }
                let mean = errors.reduce(0, +) / Double(errors.count)
                let worst = errors.max()!
                let within1 = errors.filter { $0 <= 1 }.count
                let within3 = errors.filter { $0 <= 3 }.count
                let line = "L=%d: %d programs, mean |error| %.2f%%, max %.2f%%, %d within 1%%, %d within 3%%"
                print("\(set) " + String(format: line, latency, errors.count, mean, worst, within1, within3))
                let json =
                    "\"latency\":%d,\"programs\":%d,\"mean_abs_pct\":%.4f,\"max_abs_pct\":%.4f,"
                    + "\"within_1pct\":%d,\"within_3pct\":%d}"
                summaries.append(
                    "{\"set\":\"\(set)\","
                        + String(format: json, latency, errors.count, mean, worst, within1, within3))
                if set == "layers" && gateLayers && (mean > 1 || worst > 3) { failed = true }
            }
        }
        let microOutside = micro.filter { abs($0.simulated - $0.measured) > max(3, $0.measured * 3 / 100) }.count
        if microOutside > 0 { failed = true }
        print("\(micro.count) measurements, \(micro.count - microOutside) within 3% or 3 cycles")
        print("{\"micro_outside_tolerance\":\(microOutside),\"summaries\":[\(summaries.joined(separator: ","))]}")
        if failed { throw ExitCode(1) }
    }

    /// Simulates every program under `dir` at each latency it was measured at, printing one line per run.
    func measure(_ dir: String) throws -> [Row] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir) else {
            throw UserError("\(dir): not a readable directory")
        }
        print(
            pad("program", 22) + pad("latency", 8, right: true) + pad("measured", 10, right: true)
                + pad("simulated", 11, right: true) + pad("error", 8, right: true) + pad("error %", 9, right: true))
        var rows: [Row] = []
        for name in names.sorted() {
            let path = dir + "/" + name
            guard fm.fileExists(atPath: path + "/program.json") else { continue }
            let base: ProgramDirectory
            do { base = try ProgramDirectory.load(path) } catch let e as ProgramError { throw UserError(e.message) }
            let measuredCycles = (base.manifest.measuredCycles ?? [:]).sorted(by: { Int($0.key)! < Int($1.key)! })
            for (latency, measured) in measuredCycles {
                let loaded: ProgramDirectory
                do { loaded = try ProgramDirectory.load(path, overrides: ["DRAM_LATENCY=\(latency)"]) } catch let e
                    as ProgramError
                { throw UserError(e.message) }
                // Timing only: the functional run would take the same cycles, only slower.
                let cycles = Simulator(spec: loaded.spec).run(loaded.program).cycles
                let row = Row(latency: Int(latency)!, measured: measured, simulated: cycles)
                rows.append(row)
                print(
                    pad(name, 22) + pad(latency, 8, right: true) + pad(formatCycles(measured), 10, right: true)
                        + pad(formatCycles(row.simulated), 11, right: true)
                        + pad(String(format: "%+d", row.simulated - measured), 8, right: true)
                        + pad(String(format: "%+.1f%%", row.errorPercent), 9, right: true))
            }
        }
        if rows.isEmpty { throw UserError("\(dir): no program directory with measured_cycles") }
        return rows
    }
}
