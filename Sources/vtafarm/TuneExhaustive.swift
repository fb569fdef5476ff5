import Coordinator
import Foundation
import Search
import VTA

extension TuneOptions {
    /// `--tuner exhaustive`: the farm's ground truth over the hardware space (or the one --hw
    /// configuration), printed as the optimum, the top configurations and the optimum's layers.
    func runExhaustive(_ settings: TuneSettings, dispatcher: Dispatcher, store: RecordStore, tty: Bool) throws {
        let configurations: [HardwareConfig]
        if let space = settings.hardwareSpace {
            configurations = space.maximalPoints
            print(
                "exhaustive search of \(settings.model.name) on \(space.fpga?.name ?? "no board") (\(space.extent.rawValue)): \(space.census)"
            )
        } else {
            configurations = [settings.hardware]
            print("exhaustive search of \(settings.model.name) on VTA \(settings.hardware.shortName)")
        }
        var lastLine = Date.distantPast
        let job = ExhaustiveJob(
            settings: settings, configurations: configurations, top: top, dispatcher: dispatcher, records: store
        ) { p in
            let now = Date()
            guard now.timeIntervalSince(lastLine) > (tty ? 0.2 : 5) else { return }
            lastLine = now
            let line =
                "[exhaustive] \(p.answered)/\(p.planned) layer searches, groups \(p.sweptGroups) swept \(p.cutGroups) cut of \(p.groups), best so far \(p.best.map(formatCycles) ?? "-") cycles, \(String(format: "%.1f", p.perSecond))/s, runners \(p.runnersUp)/\(p.runnersTotal)"
            FileHandle.standardError.write(Data((tty ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }
        let s: ExhaustiveJob.Summary
        do { s = try job.run() } catch let e as DispatcherError { throw UserError(e.description) } catch let e
            as RecordStore.OpenError
        { throw UserError(e.description) }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        let sent = s.searches - s.resumed
        print(
            "searched \(s.sweptConfigurations) of \(s.configurations) configurations (\(s.sweptGroups) of \(s.groups) block-shape groups; the rest cut by their compute bound): \(s.searches) layer searches (\(s.resumed) from earlier records), \(s.schedulesTried) schedules, \(String(format: "%.1f", s.seconds)) s, \(String(format: "%.1f", Double(sent) / max(1e-9, s.seconds))) searches/s on \(dispatcher.runnerStatuses.filter(\.reachable).count) runners"
        )
        if s.failed > 0 {
            FileHandle.standardError.write(
                Data(
                    "warning: \(s.failed) configurations had a failed layer search (see \(recordsPath)); they are missing from the list below\n"
                        .utf8))
        }
        if s.unservable > 0 { print("\(s.unservable) configurations have a layer with no valid schedule") }
        guard let best = s.top.first else {
            throw UserError("no configuration has a valid schedule for every layer of \(settings.model.name)")
        }
        print("top \(s.top.count) configurations:")
        for (i, p) in s.top.enumerated() {
            print(
                pad("\(i + 1)", 4, right: true) + pad(formatCycles(p.cycles), 14, right: true) + "  "
                    + p.hardware.shortName)
        }
        print("optimum: \(formatCycles(best.cycles)) cycles on \(best.hardware.shortName)")
        printLayerTable(
            store.layerOutcomes(settings.model, on: best.hardware), modelCycles: best.cycles, hardware: best.hardware,
            baseline: settings.hardware, searched: settings.hardwareSpace != nil)
        printDesigns(settings.objective, settings.objective == .pareto ? s.front : s.designs)
    }
}
