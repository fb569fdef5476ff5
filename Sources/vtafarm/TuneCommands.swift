import ArgumentParser
import Coordinator
import Foundation
import Reports
import Search
import Telemetry
import VTA
import Wire
import Yams

/// Options shared by `tune` and `coordinator`.
struct TuneOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A zoo model (\(ModelZoo.names.joined(separator: ", "))) or a YAML layer table.", valueName: "name|file"))
    var model: String
    @Option(help: "Measurements dispatched to runners for the whole model (default: 512).") var budget: Int?
    @Option(
        help: ArgumentHelp(
            "Search strategy: \(TunerKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: xgb), or exhaustive: every layer's whole schedule space on every hardware configuration that can hold the optimum (or on --hw), one layer search per runner request.",
            valueName: "tuner"))
    var tuner: String?
    @OptionGroup var hardware: HardwareOptions
    @Option(
        help: ArgumentHelp(
            "Records file (JSON Lines). Default: tune-MODEL-TUNER.jsonl (with --flow: tune-MODEL-FLOW.jsonl).",
            valueName: "file")) var records: String?
    @Flag(help: "Continue the run recorded in --records: replay it, never re-measure what it holds.") var resume = false
    @Option(help: "Seed of every random choice (runs repeat).") var seed: UInt64 = 1
    @Option(help: "Schedules proposed and dispatched together.") var planSize = 64
    @Option(
        help: ArgumentHelp(
            "On fixed hardware, how the budget is spread over the layers: fixed (even shares, in turn) or gradient (each plan to the layer that promises the largest drop in model latency).",
            valueName: "fixed|gradient"))
    var allocation = "fixed"
    @Option(
        help:
            "Per-measurement timeout in milliseconds (default: cluster.yaml's defaults.timeout_ms with --cluster, else 60000)."
    )
    var timeoutMs: UInt32?
    @Option(
        help: ArgumentHelp(
            "With arco: a YAML file narrowing or fixing hardware knobs, e.g. `LOG_BATCH: 0` and `LOG_BLOCK_IN: [4, 5]` (knobs: \(HardwareSpace.knobNames.joined(separator: ", "))).",
            valueName: "file"))
    var hwSpace: String?
    @Option(
        help: ArgumentHelp(
            "With arco: how far the hardware knobs reach, before --hw-space narrows them: buildable (every block shape and buffer size the board can build, buffers grown to their maximal settings) or stock (the stock VTA's neighbourhood: LOG_BLOCK 3-5, buffers stock -2..+2).",
            valueName: "extent"))
    var hwExtent: HardwareSpace.Extent = .buildable
    @Option(
        help: ArgumentHelp(
            "A flow file: stages (search, tune, verify, fork) run in order over one records file, each with its own budget and tuner (so not with --budget, --tuner or --hw-space). See the README's Flows section.",
            valueName: "file"))
    var flow: String?
    @Option(
        help: ArgumentHelp(
            "Backend to ask the runners for (vta-sim, command, delay; default: theirs). With a backend whose rules vtafarm does not know, a learned classifier filters what it keeps rejecting.",
            valueName: "name"))
    var backend = ""
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics while tuning (port 0: any free one, printed).",
            valueName: "host:port"))
    var metrics: String?
    @Option(
        help: ArgumentHelp(
            "Serve a live dashboard at http://HOST:PORT/ while tuning (port 0: any free one, printed).",
            valueName: "host:port"))
    var dashboard: String?
    @Option(
        help:
            "With --metrics or --dashboard: seconds to keep serving after the run, so a scraper or a browser sees the final values."
    )
    var linger = 0.0
    @Option(help: "With --tuner exhaustive: how many of the best configurations to print (the list is exact).")
    var top = 5
    @Option(
        help: ArgumentHelp(
            "With a hardware search (arco, exhaustive, a flow's search stages and forks): latency (default), dsp or bram (the smallest design within --max-latency), or pareto (the front of latency, DSP and BRAM).",
            valueName: "objective"))
    var objective = "latency"
    @Option(
        help: ArgumentHelp(
            "With --objective dsp or bram: the model latency bound, in cycles or as MSms at the clock.",
            valueName: "cycles|MSms"))
    var maxLatency: String?

    func validate() throws {
        if flow != nil && (budget != nil || tuner != nil || hwSpace != nil) {
            throw ValidationError(
                "--budget, --tuner and --hw-space do not go with --flow: each stage of the flow sets its own")
        }
        if budgetValue < 1 || budgetValue > 10_000_000 {
            throw ValidationError("--budget must be between 1 and 10000000")
        }
        if TunerKind(rawValue: tunerName) == nil && !exhaustive {
            throw ValidationError(
                "--tuner \(tunerName): not one of \((TunerKind.allCases.map(\.rawValue) + ["exhaustive"]).joined(separator: ", "))"
            )
        }
        if exhaustive && budget != nil {
            throw ValidationError("--budget does not apply to --tuner exhaustive: it searches every schedule")
        }
        if !(1...1000).contains(top) { throw ValidationError("--top must be between 1 and 1000") }
        if planSize < 1 || planSize > 4096 { throw ValidationError("--plan-size must be between 1 and 4096") }
        if BudgetAllocation(rawValue: allocation) == nil {
            throw ValidationError("--allocation \(allocation): not one of fixed, gradient")
        }
        if !(0...3600).contains(linger) {
            throw ValidationError("--linger must be between 0 and 3600 seconds")
        }
    }

    /// `--hw fixed` keeps the stock VTA (software only); any --hw file fixes that hardware.
    /// Otherwise arco searches the hardware within --fpga's budget (default pynq-z1).
    var searchesHardware: Bool { flow == nil && (tunerName == "arco" || exhaustive) && hardware.configFile == nil }
    /// `--tuner exhaustive`: the farm's ground truth (`ExhaustiveJob`), not a tuning loop.
    var exhaustive: Bool { tunerName == "exhaustive" }

    var budgetValue: Int { budget ?? 512 }
    var tunerName: String { tuner ?? "xgb" }

    func settings() throws -> TuneSettings {
        let model = try ModelLoader.load(self.model)
        var hw = hardware
        if hw.configFile == "fixed" { hw.configFile = nil }
        let spec = try hw.spec()
        for layer in model.layers {
            if let problem = layer.workload.packingProblem(spec) {
                throw UserError("model \(model.name), layer \(layer.name): \(problem)")
            }
        }
        var s = TuneSettings(model: model)
        s.hardware = spec.config
        s.tuner = TunerKind(rawValue: tunerName) ?? .grid
        s.budget = budgetValue
        s.planSize = planSize
        s.allocation = BudgetAllocation(rawValue: allocation)!
        do { s.objective = try Objective(objective, maxLatency: maxLatency, clockMHz: spec.config.clockMHz) } catch {
            throw UserError(error.description)
        }
        s.seed = seed
        // A layer search times a whole schedule space under one timeout.
        s.timeoutMs = timeoutMs ?? (exhaustive ? 600_000 : 60_000)
        s.backend = backend
        if searchesHardware {
            let fpga = try hardware.part() ?? FPGA.defaultBoard
            do {
                s.hardwareSpace = try HardwareSpace(
                    base: spec.config, fpga: fpga, workloads: model.layers.map(\.workload), extent: hwExtent,
                    overrides: try hwSpace.map(Self.loadSpace) ?? [:])
            } catch let e as HardwareSpace.SpaceError { throw UserError("\(hwSpace ?? ""): \(e.description)") }
        }
        return s
    }

    /// Reads `KNOB: value` or `KNOB: [values]` lines.
    static func loadSpace(_ path: String) throws -> [String: [Int]] {
        do { return try HardwareSpaceFile.load(path: path) } catch let e as Flow.LoadError {
            throw UserError(e.description)
        }
    }

    /// Default: tune-MODEL-TUNER.jsonl, or tune-MODEL-FLOW.jsonl with a flow file.
    var recordsPath: String {
        func stem(_ path: String) -> String { URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent }
        return records ?? "tune-\(stem(model))-\(flow.map(stem) ?? tunerName).jsonl"
    }

    /// Runs the job against `addresses`, printing progress and the summary.
    func run(_ settings: TuneSettings, addresses: [RunnerAddress], dispatcherOptions: DispatcherOptions) throws {
        // Before the job exists: its metrics bind to the factory when it is made.
        let endpoint: MetricsEndpoint?
        do { endpoint = try metrics.map { try Telemetry.start(address: $0) } } catch let e
            as MetricsEndpoint.EndpointError
        {
            throw UserError(e.description)
        }
        if let endpoint {
            FileHandle.standardError.write(Data("metrics at http://\(endpoint.host):\(endpoint.port)/metrics\n".utf8))
        }
        var settings = settings
        let page: MetricsEndpoint?
        do {
            page = try dashboard.map { address in
                let feed = DashboardFeed()
                settings.dashboard = feed
                return try MetricsEndpoint(
                    address: address,
                    routes: [
                        "/": .init(contentType: "text/html; charset=utf-8") { DashboardPage.html },
                        "/state.json": .init(contentType: "application/json") { feed.document },
                    ])
            }
        } catch let e as MetricsEndpoint.EndpointError {
            throw UserError(e.description.replacingOccurrences(of: "--metrics", with: "--dashboard"))
        }
        if let page { FileHandle.standardError.write(Data("dashboard at http://\(page.host):\(page.port)/\n".utf8)) }
        defer {
            if endpoint != nil || page != nil {
                fflush(nil)  // every stream: the summary is out while the endpoints linger
                if linger > 0 { Thread.sleep(forTimeInterval: linger) }
                endpoint?.stop()
                page?.stop()
            }
        }
        let store: RecordStore
        let filtered: RecordStore
        do {
            store = try RecordStore(path: recordsPath, resume: resume, model: settings.model.name)
            filtered = try RecordStore(path: recordsPath + ".filtered", resume: true, model: settings.model.name)
        } catch let e as RecordStore.OpenError { throw UserError(e.description) }
        for bad in store.skipped {
            FileHandle.standardError.write(
                Data(
                    "warning: \(recordsPath):\(bad.line): unreadable record ignored (a torn write?): \(bad.text)\n".utf8
                ))
        }
        if store.duplicates > 0 {
            FileHandle.standardError.write(
                Data(
                    "warning: \(recordsPath): \(store.duplicates) records repeat an earlier measurement and were ignored\n"
                        .utf8))
        }
        let dispatcher: Dispatcher
        do { dispatcher = try Dispatcher(runners: addresses, options: dispatcherOptions) } catch {
            throw UserError("\(error)")
        }
        defer { dispatcher.close() }
        defer { warnAboutDroppedResults(dispatcher) }
        let tty = isatty(STDERR_FILENO) != 0
        var lastLine = Date.distantPast
        let progress: (TuneProgress) -> Void = { p in
            let now = Date()
            guard now.timeIntervalSince(lastLine) > (tty ? 0.2 : 5) else { return }
            lastLine = now
            let best = p.bestSoFar.map { formatCycles($0) } ?? "-"
            let line =
                "[\(p.layer)] measured \(p.measured)/\(p.budget), best so far \(best) cycles, \(String(format: "%.1f", p.perSecond))/s, filtered \(p.filtered), runners \(p.runnersUp)/\(p.runnersTotal)"
            FileHandle.standardError.write(Data((tty ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }
        if exhaustive {
            try runExhaustive(settings, dispatcher: dispatcher, store: store, tty: tty)
            return
        }
        if let flow = try loadFlow() {
            try runFlow(
                flow, settings, dispatcher: dispatcher, store: store, filtered: filtered, tty: tty, progress: progress)
            return
        }
        let job = TuningJob(
            settings: settings, dispatcher: dispatcher, records: store, filteredRecords: filtered, progress: progress)
        let summary: TuneSummary
        do { summary = try job.run() } catch let e as DispatcherError { throw UserError(e.description) } catch let e
            as RecordStore.OpenError
        { throw UserError(e.description) }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        printSummary(summary, settings)
    }

    /// Results a runner sent for requests it did not hold are dropped, never recorded; a nonzero
    /// count means a runner is broken or hostile, so the run says so at its end.
    func warnAboutDroppedResults(_ dispatcher: Dispatcher) {
        let dropped = dispatcher.droppedResults.unexpected
        guard dropped > 0 else { return }
        let who = dispatcher.runnerStatuses.filter { $0.dropped > 0 }.map { $0.runnerName ?? $0.address.endpoint }
        FileHandle.standardError.write(
            Data(
                "warning: dropped \(dropped) results for requests not in flight on the runner that sent them (from \(who.joined(separator: ", "))); none was recorded\n"
                    .utf8))
    }

    func runFlow(
        _ flow: Flow, _ settings: TuneSettings, dispatcher: Dispatcher, store: RecordStore, filtered: RecordStore,
        tty: Bool, progress: @escaping (TuneProgress) -> Void
    ) throws {
        var base = settings
        base.hardwareSpace = nil
        let runner = FlowRunner(
            flow: flow, base: base, defaultFPGA: try hardware.part(), dispatcher: dispatcher, records: store,
            filteredRecords: filtered, progress: progress
        ) { line in
            if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            print(line)
        }
        let outcome: FlowRunner.Outcome
        do { outcome = try runner.run() } catch let e as DispatcherError { throw UserError(e.description) } catch let e
            as FlowRunner.FlowError
        { throw UserError(e.description) } catch let e as RecordStore.OpenError { throw UserError(e.description) }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        let ran = outcome.stages.filter { $0.skipped == nil }
        print(
            "flow finished: \(ran.count) stage runs (\(outcome.stages.count - ran.count) skipped), \(store.records.count) measurements in \(recordsPath); hardware \(outcome.hardware.shortName)"
        )
        printLayerTable(
            store.layerOutcomes(settings.model, on: outcome.hardware), modelCycles: outcome.latency,
            hardware: outcome.hardware, baseline: settings.hardware, searched: outcome.hardware != settings.hardware)
        // Search stages and forks followed the objective; the flow's hardware is its choice.
        if settings.objective == .pareto {
            printDesigns(.pareto, store.designs(settings.model).map(\.design))
        } else if settings.objective != .latency, let d = store.design(settings.model, on: outcome.hardware) {
            printDesigns(settings.objective, [d])
        }
        if !outcome.verified {
            throw UserError("verification failed: a best schedule does not compute what the reference does")
        }
    }

    func loadFlow() throws -> Flow? {
        guard let flow else { return nil }
        do { return try Flow.load(path: flow) } catch let e as Flow.LoadError { throw UserError(e.description) }
    }

    func printSummary(_ s: TuneSummary, _ settings: TuneSettings) {
        if let space = settings.hardwareSpace {
            print("hardware space on \(space.fpga?.name ?? "no board") (\(space.extent.rawValue)): \(space.census)")
            print(
                "co-optimized hardware and schedules: \(s.hardwareExplored) hardware configurations measured; best \(s.hardware.shortName)"
            )
        }
        if s.predictedInvalid > 0 {
            print(
                "the learned validity classifier filtered \(s.predictedInvalid) configurations the backend would likely reject"
            )
        }
        print(
            "tuned \(settings.model.name) with \(settings.tuner.rawValue) on VTA \(s.hardware.shortName): \(s.measured) measured (\(s.resumed) from earlier records), \(s.filtered) filtered as invalid, \(s.invalidDispatched) dispatched invalid, \(String(format: "%.1f", s.seconds)) s, \(String(format: "%.2f", s.secondsPerProposal * 1000)) ms coordinator time per proposal"
        )
        printLayerTable(
            s.layers, modelCycles: s.modelCycles, hardware: s.hardware, baseline: settings.hardware,
            searched: settings.hardwareSpace != nil)
        printDesigns(settings.objective, s.designs)
    }

    /// Beyond latency: the chosen design (dsp, bram) or the Pareto front, with shrunk buffers.
    func printDesigns(_ objective: Objective, _ designs: [Objective.Design]) {
        guard objective != .latency, !designs.isEmpty else { return }
        let shown = objective == .pareto ? Objective.front(designs) : Array(designs.prefix(1))
        if let bound = objective.maxCycles, !objective.admits(designs[0]) {
            print("objective \(objective): no measured design is within \(formatCycles(bound)) cycles; the fastest:")
        } else {
            print(
                objective == .pareto
                    ? "Pareto front (latency, DSP, BRAM36; buffers shrunk to hold the best schedules):"
                    : "objective \(objective): the smallest design (buffers shrunk to hold the best schedules):")
        }
        for d in shown {
            print(
                pad(formatCycles(d.cycles), 14, right: true) + pad("\(d.dsp) DSP", 10, right: true)
                    + pad("\(d.bram) BRAM36", 12, right: true) + "  " + d.hardware.shortName)
        }
    }

    /// One row per layer (best cycles against the default schedule on `baseline`), then the
    /// model latency.
    func printLayerTable(
        _ layers: [LayerOutcome], modelCycles: Int?, hardware: HardwareConfig, baseline: HardwareConfig, searched: Bool
    ) {
        print(
            pad("layer", 12) + pad("count", 6, right: true) + pad("best cycles", 14, right: true)
                + pad("default", 14, right: true)
                + pad("measured", 10, right: true) + "  best schedule")
        let model = Model(name: "", layers: layers.map(\.layer))
        let defaults = model.defaultScheduleCycles(on: HardwareSpec(baseline))
        let defaultTotal = model.latency { defaults[$0] ?? 0 } ?? 0
        for (l, d) in zip(layers, defaults.map { $0 ?? 0 }) {
            print(
                pad(l.layer.name, 12) + pad("\(l.layer.count)", 6, right: true)
                    + pad(l.best.map { formatCycles($0.cycles) } ?? "none", 14, right: true)
                    + pad(formatCycles(d), 14, right: true) + pad("\(l.measured)", 10, right: true) + "  "
                    + (l.best?.schedule.description ?? "-"))
        }
        if let total = modelCycles {
            let ms = Double(total) / (hardware.clockMHz * 1000)
            print(
                "model latency \(formatCycles(total)) cycles = \(String(format: "%.2f", ms)) ms, \(String(format: "%.1f", 1000 / ms)) inferences/s at \(hardware.clockMHz) MHz; \(searched ? "base hardware " : "")default schedules: \(formatCycles(defaultTotal)) cycles (\(String(format: "%.2fx", Double(defaultTotal) / Double(total))))"
            )
        } else {
            print("model latency: not every layer has a valid measurement yet (raise --budget)")
        }
    }
}

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Tune a model (schedules, and with arco the hardware) on a local farm of runner processes (no cluster needed).",
        discussion: """
            Starts --runners runner processes on loopback, tunes every layer of the model with the \
            chosen tuner within --budget measurements, records every measurement (fsync'd JSON Lines), \
            and prints the best schedule per layer and the model latency. With --tuner arco and no \
            --hw, the hardware configuration is searched too, within --fpga's budget (--hw fixed: \
            the stock VTA). --tuner exhaustive is the ground truth instead: every layer's whole \
            schedule space on every configuration of --fpga's space that can hold the optimum (or on \
            --hw alone), sent to the runners as one layer search per request; it prints the optimum, \
            the --top best configurations and the time it took. --flow runs stages from a file instead. Kill it at any moment and run \
            it again with --resume: nothing recorded is lost or measured again. With --tracker it \
            also takes the runners registered there (only those, unless --runners is given too), as \
            they join and leave.
            """
    )
    @OptionGroup var options: TuneOptions
    @Option(help: "Runner processes to start (default: 1, or 0 with --tracker).") var runners: Int?
    @Option(
        help: ArgumentHelp(
            "A tracker (vtafarm tracker): also use the runners registered there as they join and leave.",
            valueName: "endpoint"))
    var tracker: String?
    @Option(help: "With --tracker: only runners of this pool.") var pool: String?
    @Option(
        help: ArgumentHelp(
            "With --tracker: the tracker's Z85 public key file, to talk CURVE to it (under a fresh client key).",
            valueName: "file"))
    var trackerCurveKey: String?
    @Option(help: ArgumentHelp("The local runners' backend: vta-sim, command:PATH or delay:MS.", valueName: "backend"))
    var runnerBackend = "vta-sim"
    @Option(help: "Slots per runner (default: cores / runners).") var slots: Int?

    /// Local runner processes to start: a tracker's runners may be all there is.
    var localRunners: Int { runners ?? (tracker == nil ? 1 : 0) }

    func validate() throws {
        let least = tracker == nil ? 1 : 0
        if localRunners < least || localRunners > 64 {
            throw ValidationError("--runners must be between \(least) and 64")
        }
        if pool != nil && tracker == nil { throw ValidationError("--pool needs --tracker") }
        if trackerCurveKey != nil && tracker == nil { throw ValidationError("--tracker-curve-key needs --tracker") }
        if let tracker, let problem = TrackerLimits().endpointProblem(tracker) {
            throw ValidationError("--tracker: \(problem)")
        }
    }

    func run() throws {
        let settings = try options.settings()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var farm: LocalFarm?
        if localRunners > 0 {
            do {
                farm = try LocalFarm(
                    executable: LocalFarm.currentExecutable, runners: localRunners,
                    slots: slots ?? max(1, cores / localRunners), backend: runnerBackend)
            } catch { throw UserError("cannot start the local farm: \(error)") }
        }
        defer { farm?.stop() }
        var dispatcherOptions = DispatcherOptions()
        dispatcherOptions.tracker = tracker
        dispatcherOptions.pool = pool
        dispatcherOptions.trackerServerKey = try RunnerSelection.trackerServerKey(trackerCurveKey)
        try options.run(settings, addresses: farm?.addresses ?? [], dispatcherOptions: dispatcherOptions)
    }
}

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract:
            "Tune a model (schedules, and with arco the hardware) on the runners of a cluster.yaml (as `tune`, with remote runners)."
    )
    @OptionGroup var options: TuneOptions
    @OptionGroup var runners: RunnerSelection

    func run() throws {
        let settings = try options.settings()
        let (addresses, config) = try runners.load()
        var s = settings
        // An explicit --timeout-ms wins over the cluster's default, which is one measurement's
        // (a layer search keeps its own default).
        if let config, options.timeoutMs == nil, !options.exhaustive {
            s.timeoutMs = UInt32(clamping: config.defaultTimeoutMs)
        }
        try options.run(s, addresses: addresses, dispatcherOptions: runners.dispatcherOptions(config))
    }
}

struct Records: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read records files.",
        subcommands: [RecordsBest.self, RecordsPareto.self, RecordsExport.self, RecordsImportAutoTVM.self])
}

struct RecordsBest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "best",
        abstract:
            "The best hardware configuration in a records file, each layer's best schedule, and the model latency against the stock VTA with default schedules.",
        discussion: """
            Reads the file without changing it (a tuning run may be writing it). A configuration \
            counts when every layer of the model has a valid measurement on it.
            """
    )
    @Argument(help: "A records file written by tune or coordinator.") var file: String
    @Option(help: "The model to report, when the file holds records of more than one.") var model: String?
    @Option(
        help: ArgumentHelp(
            "Write the best hardware as the vta_config.json TVM's VTA reads (with vtafarm's AXI_WIDTH, MAX_BURST, CLOCK_MHZ and DRAM_LATENCY as extra keys).",
            valueName: "vta_config.json"))
    var emitConfig: String?
    @Flag(help: "Print the whole summary as one JSON object.") var json = false

    func run() throws {
        let store = try RecordsBest.open(file)
        let chosen = try RecordsBest.chooseModel(store, file: file, name: model)
        let count = store.records.filter { $0.model == chosen.name }.count
        guard let best = store.measuredConfigurations(chosen).first else {
            throw UserError(
                "\(file): no hardware configuration has a valid measurement of every layer of \(chosen.name) yet")
        }
        let layers = store.layerOutcomes(chosen, on: best.hardware)
        let stockCycles = chosen.defaultScheduleCycles(on: HardwareSpec(.stock))
        let stockTotal = chosen.latency { stockCycles[$0] }
        let ms = Double(best.latency) / (best.hardware.clockMHz * 1000)
        let stockMs = stockTotal.map { Double($0) / (HardwareConfig.stock.clockMHz * 1000) }
        if let path = emitConfig {
            // Written before printing, so a hardware TVM cannot express fails the command.
            let data: Data
            do { data = try best.hardware.tvmConfigData() } catch let e as HardwareConfigError {
                throw UserError("--emit-config: \(e.message)")
            }
            guard FileManager.default.createFile(atPath: path, contents: data + Data("\n".utf8)) else {
                throw UserError("--emit-config: cannot write \(path)")
            }
        }
        if json {
            let hardware = best.hardware.jsonObject
            var summary: [String: Any] = [
                "model": chosen.name, "records": count, "hardware": hardware, "hardware_name": best.hardware.shortName,
                "latency_cycles": best.latency, "latency_ms": ms,
                "layers": zip(layers, stockCycles).map { o, stock -> [String: Any] in
                    var row: [String: Any] = [
                        "task": chosen.task(o.layer), "count": o.layer.count, "workload": o.layer.workload.description,
                        "measured": o.measured,
                    ]
                    if let b = o.best {
                        row["cycles"] = b.cycles
                        row["schedule"] = b.schedule.description
                    }
                    if let stock { row["stock_default_cycles"] = stock }
                    return row
                },
            ]
            if let stockTotal, let stockMs {
                summary["stock_default_cycles"] = stockTotal
                summary["speedup"] = stockMs / ms
            }
            if let emitConfig { summary["config_file"] = emitConfig }
            print(jsonLine(summary))
            return
        }
        print(
            "model \(chosen.name): \(count) records, best hardware \(best.hardware.shortName) at \(best.hardware.clockMHz) MHz"
        )
        print(
            pad("layer", 24) + pad("count", 6, right: true) + pad("cycles", 13, right: true)
                + pad("stock default", 15, right: true) + "  schedule")
        for (o, stock) in zip(layers, stockCycles) {
            print(
                pad(chosen.task(o.layer), 24) + pad("\(o.layer.count)", 6, right: true)
                    + pad(o.best.map { formatCycles($0.cycles) } ?? "-", 13, right: true)
                    + pad(formatCycles(stock ?? 0), 15, right: true) + "  " + (o.best?.schedule.description ?? "-"))
        }
        print(
            "model latency \(formatCycles(best.latency)) cycles = \(String(format: "%.2f", ms)) ms = \(String(format: "%.1f", 1000 / ms)) inferences/s"
        )
        if let path = emitConfig { print("wrote \(path) (TVM's vta_config.json for this hardware)") }
        guard let stockTotal, let stockMs else {
            print("stock VTA, default schedules: a layer has no valid default schedule")
            return
        }
        print(
            "stock VTA, default schedules: \(formatCycles(stockTotal)) cycles = \(String(format: "%.2f", stockMs)) ms = \(String(format: "%.1f", 1000 / stockMs)) inferences/s (speed-up \(String(format: "%.2fx", stockMs / ms)))"
        )
    }

    /// Opens a records file for reading, warning about the lines it skipped.
    static func open(_ file: String) throws -> RecordStore {
        let store: RecordStore
        do { store = try RecordStore(reading: file) } catch let e as RecordStore.OpenError {
            throw UserError(e.description)
        }
        for bad in store.skipped {
            FileHandle.standardError.write(
                Data("warning: \(file):\(bad.line): unreadable record ignored: \(bad.text)\n".utf8))
        }
        return store
    }

    /// The model named `name`, or the file's only model.
    static func chooseModel(_ store: RecordStore, file: String, name: String?) throws -> Model {
        let models = store.models()
        guard !models.isEmpty else { throw UserError("\(file): no records") }
        if let name {
            guard let m = models.first(where: { $0.name == name }) else {
                throw UserError(
                    "\(file): no records of model \(name) (it holds \(models.map(\.name).joined(separator: ", ")))")
            }
            return m
        }
        guard models.count == 1 else {
            throw UserError(
                "\(file) holds records of \(models.count) models (\(models.map(\.name).joined(separator: ", "))): choose one with --model"
            )
        }
        return models[0]
    }
}
