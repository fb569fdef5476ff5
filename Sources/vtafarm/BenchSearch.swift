import ArgumentParser
import Coordinator
import Foundation
import Search
import VTA

struct BenchSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Tuners side by side: the same model, budget, simulator and seeds.",
        discussion: """
            Runs each tuner (default arco, xgb, ga, random) --seeds times on a local farm and prints per \
            tuner: the best model latency (mean over seeds), the measurements needed to reach xgb's \
            final best of every layer (summed over layers; mean over seeds where reached), the share of \
            dispatched measurements that came back invalid, the coordinator time per proposal and the \
            wall time. Software only, on fixed hardware (--hw / --hw-set, default stock).
            """
    )
    @Option(help: "A zoo model or a YAML layer table.") var model = "resnet18"
    @Option(help: "Measurements per run.") var budget = 640
    @Option(help: "Seeds per tuner.") var seeds = 3
    @Option(help: "Schedules proposed and dispatched together.") var planSize = 16
    @Option(help: "Tuners to compare.") var tuners: [String] = ["arco", "xgb", "ga", "random"]
    @Option(help: "Runner processes of the local farm.") var runners = 2
    @Option(help: "How software-only runs spread the budget over layers: fixed (even shares) or gradient.")
    var allocation = "fixed"
    @Option(
        help: ArgumentHelp(
            "Co-optimization: arco also searches the hardware within this FPGA (pynq-z1, ultra96, zcu104); the others stay on the fixed hardware.",
            valueName: "board"))
    var coOptimize: String?
    @Option(
        help: ArgumentHelp(
            "With --co-optimize: how far the hardware knobs reach: buildable (everything the board can build) or stock (the stock VTA's neighbourhood).",
            valueName: "extent"))
    var hwExtent: HardwareSpace.Extent = .buildable
    @OptionGroup var hardware: HardwareOptions

    func validate() throws {
        for t in tuners where TunerKind(rawValue: t) == nil { throw ValidationError("unknown tuner \(t)") }
        if BudgetAllocation(rawValue: allocation) == nil {
            throw ValidationError("--allocation \(allocation): not one of fixed, gradient")
        }
        if seeds < 1 || budget < 1 || planSize < 1 {
            throw ValidationError("--seeds, --budget and --plan-size must be positive")
        }
    }

    struct Run {
        var modelCycles: Int?
        var perLayer: [String: [Int?]]
        var invalidShare: Double
        var secondsPerProposal: Double
        var seconds: Double
    }

    func run() throws {
        let m = try ModelLoader.load(model)
        let spec = try hardware.spec()
        let farm = try LocalFarm(executable: LocalFarm.currentExecutable, runners: runners, slots: 1)
        defer { farm.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-bench-search-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // One hardware space for every arco seed and for the optimum beside them.
        let coSpace = try coOptimize.flatMap { board -> HardwareSpace? in
            guard tuners.contains("arco") else { return nil }
            guard let fpga = FPGA.named(board) else { throw UserError("unknown FPGA \(board)") }
            return HardwareSpace(base: spec.config, fpga: fpga, workloads: m.layers.map(\.workload), extent: hwExtent)
        }
        var runs: [String: [Run]] = [:]
        var hardwareFound: [String] = []
        for tuner in tuners {
            for seed in 1...seeds {
                var settings = TuneSettings(model: m)
                settings.allocation = BudgetAllocation(rawValue: allocation)!
                settings.hardware = spec.config
                settings.tuner = TunerKind(rawValue: tuner)!
                settings.budget = budget
                settings.planSize = planSize
                settings.seed = UInt64(seed)
                if let coSpace, tuner == "arco" { settings.hardwareSpace = coSpace }
                let path = "\(dir)/\(tuner)-\(seed).jsonl"
                let store = try RecordStore(path: path, resume: false)
                let filtered = try RecordStore(path: path + ".filtered", resume: false)
                let dispatcher = try Dispatcher(runners: farm.addresses)
                let summary = try TuningJob(
                    settings: settings, dispatcher: dispatcher, records: store, filteredRecords: filtered
                ) { _ in }.run()
                dispatcher.close()
                var perLayer: [String: [Int?]] = [:]
                for r in store.records(on: summary.hardware) { perLayer[r.task, default: []].append(r.okCycles) }
                let dispatched = store.records.count
                runs[tuner, default: []].append(
                    Run(
                        modelCycles: summary.modelCycles, perLayer: perLayer,
                        invalidShare: dispatched > 0 ? Double(summary.invalidDispatched) / Double(dispatched) : 0,
                        secondsPerProposal: summary.secondsPerProposal, seconds: summary.seconds))
                FileHandle.standardError.write(
                    Data(
                        "\(tuner) seed \(seed): \(summary.modelCycles.map(formatCycles) ?? "incomplete") cycles on \(summary.hardware.shortName)\n"
                            .utf8))
                if settings.hardwareSpace != nil { hardwareFound.append(summary.hardware.shortName) }
            }
        }
        // xgb's final best per layer (per seed) is the bar.
        func bests(_ r: Run) -> [String: Int] { r.perLayer.compactMapValues { $0.compactMap { $0 }.min() } }
        let bars = (runs["xgb"] ?? []).map(bests)
        print(
            "search benchmark: \(m.name) on \(spec.config.shortName), budget \(budget), plan \(planSize), \(seeds) seeds, \(runners) runners"
        )
        print(
            pad("tuner", 8) + pad("best latency (mean)", 21, right: true) + pad("to reach xgb's best", 21, right: true)
                + pad("invalid dispatched", 20, right: true) + pad("ms/proposal", 13, right: true)
                + pad("wall s", 9, right: true))
        for tuner in tuners {
            let rs = runs[tuner] ?? []
            let complete = rs.compactMap(\.modelCycles)
            let mean = complete.isEmpty ? nil : complete.reduce(0, +) / complete.count
            // measurements to reach xgb's final best of every layer, seed by seed
            var reached: [Int] = []
            for (s, r) in rs.enumerated() where s < bars.count {
                var total = 0
                var ok = true
                for (task, bar) in bars[s] {
                    guard let seq = r.perLayer[task], let k = seq.firstIndex(where: { ($0 ?? .max) <= bar }) else {
                        ok = false
                        break
                    }
                    total += k + 1
                }
                if ok { reached.append(total) }
            }
            let reach =
                reached.isEmpty
                ? "not reached" : "\(reached.reduce(0, +) / reached.count) (\(reached.count)/\(rs.count) seeds)"
            print(
                pad(tuner, 8) + pad(mean.map(formatCycles) ?? "-", 21, right: true) + pad(reach, 21, right: true)
                    + pad(
                        String(format: "%.2f%%", 100 * rs.map(\.invalidShare).reduce(0, +) / Double(max(1, rs.count))),
                        20, right: true)
                    + pad(
                        String(
                            format: "%.3f", 1000 * rs.map(\.secondsPerProposal).reduce(0, +) / Double(max(1, rs.count))),
                        13, right: true)
                    + pad(
                        String(format: "%.1f", rs.map(\.seconds).reduce(0, +) / Double(max(1, rs.count))), 9,
                        right: true))
        }
        if let board = coOptimize, let space = coSpace, let arco = runs["arco"], !arco.isEmpty {
            // The ground truth of the same space: what arco's best could at most have been.
            let started = Date()
            let optimum = space.optimum(of: m.layers, top: 1, threads: ProcessInfo.processInfo.activeProcessorCount)
            if let best = optimum.top.first {
                let found = arco.compactMap(\.modelCycles)
                let gaps = found.map { 100 * (Double($0) / Double(best.cycles) - 1) }
                let mean = gaps.isEmpty ? "-" : String(format: "%+.2f%%", gaps.reduce(0, +) / Double(gaps.count))
                let worst = gaps.max().map { String(format: "%+.2f%%", $0) } ?? "-"
                print(
                    "exhaustive optimum of the \(hwExtent.rawValue) space on \(board) (\(space.census)): \(formatCycles(best.cycles)) cycles on \(best.hardware.shortName), \(String(format: "%.1f", Date().timeIntervalSince(started))) s; arco \(found.count)/\(arco.count) seeds complete, mean \(mean), worst \(worst) above it"
                )
            }
        }
        if let board = coOptimize, let arco = runs["arco"]?.compactMap(\.modelCycles),
            let xgb = runs["xgb"]?.compactMap(\.modelCycles),
            !arco.isEmpty, !xgb.isEmpty
        {
            let a = Double(arco.reduce(0, +)) / Double(arco.count)
            let x = Double(xgb.reduce(0, +)) / Double(xgb.count)
            print(
                "co-optimization within \(board): arco's hardware \(Set(hardwareFound).sorted().joined(separator: ", ")); latency \(String(format: "%.2fx", x / a)) lower than xgb on \(spec.config.shortName) (\(String(format: "%+.1f%%", 100 * (x / a - 1))) throughput, same clock)"
            )
        }
    }
}
