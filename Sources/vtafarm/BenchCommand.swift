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
        print(pad("layer", 20) + pad("space", 8, right: true) + pad("valid", 8, right: true) + pad("median ms", 12, right: true)
              + pad("best cycles", 14, right: true) + pad("Mcycles/s", 12, right: true))
        var allTimes: [Double] = []
        var totalCycles = 0.0, totalSeconds = 0.0
        for layer in model.layers {
            let space = ScheduleSpace(workload: layer.workload, spec: spec)
            let sweep = space.sweep(spec, threads: 1)
            allTimes += sweep.secondsPerValid
            guard let best = sweep.best, case .success(let program) = Compiler.compile(layer.workload, best.schedule, spec) else {
                print("\(layer.name): no valid schedule"); continue
            }
            let sim = Simulator(spec: spec)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var cycles = 0
            for _ in 0..<repeats { cycles += sim.run(program).cycles }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            totalCycles += Double(cycles); totalSeconds += seconds
            print(pad(layer.name, 20) + pad("\(sweep.size)", 8, right: true) + pad("\(sweep.valid)", 8, right: true)
                  + pad(String(format: "%.3f", median(sweep.secondsPerValid) * 1000), 12, right: true)
                  + pad(formatCycles(best.cycles), 14, right: true) + pad(String(format: "%.1f", Double(cycles) / seconds / 1e6), 12, right: true))
        }
        print(String(format: "timing mode over the best programs: %.1f M simulated cycles per wall second", totalCycles / max(totalSeconds, 1e-9) / 1e6))
        print(String(format: "compile + simulate per valid candidate: median %.3f ms, p90 %.3f ms over %d candidates",
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
        Runs every program directory under DIR whose program.json has measured_cycles (keyed by \
        DRAM read latency), once per latency, and prints measured, simulated and the error. The \
        default DIR holds VTA.md's RTL micro-programs, encoded by hand. Exits 1 when a program \
        misses by more than 3% or 3 cycles, whichever is larger.
        """
    )

    @Option(help: ArgumentHelp("Directory of program directories.", valueName: "dir"))
    var fixtures = "Tests/Fixtures/rtl"

    func run() throws {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: fixtures) else {
            throw UserError("\(fixtures): not a readable directory")
        }
        print(pad("program", 22) + pad("latency", 8, right: true) + pad("measured", 10, right: true)
              + pad("simulated", 11, right: true) + pad("error", 8, right: true) + pad("error %", 9, right: true))
        var rows = 0, outside = 0
        for name in names.sorted() {
            let dir = fixtures + "/" + name
            guard fm.fileExists(atPath: dir + "/program.json") else { continue }
            let base: ProgramDirectory
            do { base = try ProgramDirectory.load(dir) } catch let e as ProgramError { throw UserError(e.message) }
            for (latency, measured) in (base.manifest.measuredCycles ?? [:]).sorted(by: { Int($0.key)! < Int($1.key)! }) {
                let loaded: ProgramDirectory
                do { loaded = try ProgramDirectory.load(dir, overrides: ["DRAM_LATENCY=\(latency)"]) } catch let e as ProgramError {
                    throw UserError(e.message)
                }
                let simulated = loaded.run().result.cycles
                let error = simulated - measured
                let ok = abs(error) <= max(3, measured * 3 / 100)
                rows += 1
                if !ok { outside += 1 }
                print(pad(name, 22) + pad(latency, 8, right: true) + pad(formatCycles(measured), 10, right: true)
                      + pad(formatCycles(simulated), 11, right: true) + pad(String(format: "%+d", error), 8, right: true)
                      + pad(String(format: "%+.1f%%", 100 * Double(error) / Double(measured)), 9, right: true) + (ok ? "" : "  outside tolerance"))
            }
        }
        print("\(rows) measurements, \(rows - outside) within 3% or 3 cycles")
        if rows == 0 { throw UserError("\(fixtures): no program directory with measured_cycles") }
        if outside > 0 { throw ExitCode(1) }
    }
}
