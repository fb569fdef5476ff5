import ArgumentParser
import Coordinator
import Foundation
import VTA

/// `records export FILE --format autotvm`: vtafarm's measurements as an AutoTVM log (format in
/// Coordinator/AutoTVMLog.swift), for `autotvm.apply_history_best` in TVM v0.18.
struct RecordsExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a records file's OK measurements as an AutoTVM tuning log (TVM v0.18's format).",
        discussion: """
            One line per OK measurement, or with --best one per layer: its best schedule on the best \
            hardware. Hardware TVM's VTA cannot express (LOG_BLOCK_IN != LOG_BLOCK_OUT) is left out with \
            a warning, and refused with --best.
            """)
    @Argument(help: "A records file written by tune or coordinator.") var file: String
    @Option(help: "The export format: autotvm.") var format: String
    @Option(help: "Where to write the log (default: standard output).") var out: String?
    @Flag(help: "Only each layer's best schedule on the best hardware.") var best = false
    @Option(help: "The model to export, when the file holds records of more than one.") var model: String?

    func run() throws {
        guard format == "autotvm" else { throw UserError("--format \(format): the only export format is autotvm") }
        let store = try RecordsBest.open(file)
        let chosen = try RecordsBest.chooseModel(store, file: file, name: model)
        var records: [Record]
        if best {
            guard let top = store.measuredConfigurations(chosen).first else {
                throw UserError(
                    "\(file): no hardware configuration has a valid measurement of every layer of \(chosen.name) yet")
            }
            if let problem = top.hardware.tvmProblem { throw UserError("--best: the best hardware: \(problem)") }
            let bestSchedules = store.layerOutcomes(chosen, on: top.hardware).map { o in
                (chosen.task(o.layer), o.best!.schedule)
            }
            records = bestSchedules.compactMap { task, schedule in
                store.records(on: top.hardware).first {
                    $0.task == task && $0.schedule == schedule && $0.okCycles != nil
                }
            }
        } else {
            records = store.records.filter { $0.model == chosen.name && $0.okCycles != nil }
        }
        var lines: [String] = []
        var skipped = 0
        for r in records {
            if r.hardware.tvmProblem != nil {
                skipped += 1
                continue
            }
            do { lines.append(try AutoTVMLog.line(r)) } catch let e as AutoTVMLog.FormatError {
                throw UserError("\(file): \(r.task): \(e.description)")
            }
        }
        if skipped > 0 {
            FileHandle.standardError.write(
                Data(
                    "warning: \(skipped) measurements on hardware with LOG_BLOCK_IN != LOG_BLOCK_OUT left out (TVM's VTA has one LOG_BLOCK)\n"
                        .utf8))
        }
        let text = lines.map { $0 + "\n" }.joined()
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: Data(text.utf8)) else {
                throw UserError("--out: cannot write \(out)")
            }
            print("wrote \(lines.count) AutoTVM records of \(chosen.name) to \(out)")
        } else {
            print(text, terminator: "")
        }
    }
}

/// `records import-autotvm LOG --records FILE --model M`: an AutoTVM VTA log as vtafarm records,
/// so `tune --resume --records FILE` starts from a user's past tuning (its cost model learns from
/// them and never measures them again).
struct RecordsImportAutoTVM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-autotvm",
        abstract: "Append an AutoTVM VTA tuning log's measurements to a records file, as the model's layers.",
        discussion: """
            Each conv2d_packed.vta / dense_packed.vta line whose workload is a layer of --model becomes an \
            OK record (cycles = seconds x CLOCK_MHZ); failed measurements and other workloads are counted \
            and skipped. The hardware is the line's vtafarm_hardware when vtafarm wrote it, otherwise the \
            target's -model= string over --hw/--hw-set (which then give the AXI width, clock and DRAM latency).
            """)
    @Argument(help: "An AutoTVM log (JSON Lines).") var log: String
    @Option(help: "The records file to append to (created if missing).") var records: String
    @Option(help: "The model the log's workloads belong to: a zoo name, layers.yaml or net.onnx.") var model: String
    @OptionGroup var hardware: HardwareOptions

    func run() throws {
        let m = try ModelLoader.load(model)
        let base = try hardware.config()
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else {
            throw UserError("\(log): cannot read the file")
        }
        // The whole log is read before anything is written: a bad line leaves the records file as it was.
        var entries: [AutoTVMLog.Entry] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            do { entries.append(try AutoTVMLog.parse(String(line), base: base)) } catch let e as AutoTVMLog.FormatError
            {
                throw UserError("\(log):\(n + 1): \(e.description)")
            }
        }
        let store: RecordStore
        do { store = try RecordStore(path: records, resume: true, model: m.name) } catch let e as RecordStore.OpenError
        {
            throw UserError(e.description)
        }
        let layers = Dictionary(m.layers.map { ($0.workload, $0) }, uniquingKeysWith: { a, _ in a })
        var imported = 0
        var failed = 0
        var foreign = 0
        var known = 0
        for entry in entries {
            guard let layer = layers[entry.workload] else {
                foreign += 1
                continue
            }
            guard let cycles = entry.cycles else {
                failed += 1
                continue
            }
            let record = Record(
                model: m.name, task: m.task(layer), count: layer.count, workload: entry.workload,
                hardware: entry.hardware, schedule: entry.schedule, status: .ok, cycles: cycles, runner: "autotvm",
                sent: entry.timestamp, finished: entry.timestamp)
            if store.contains(key: record.key) {
                known += 1
                continue
            }
            do { try store.append(record) } catch let e as RecordStore.OpenError { throw UserError(e.description) }
            imported += 1
        }
        print(
            "imported \(imported) measurements of \(m.name) into \(records); skipped \(known) already recorded, \(failed) failed, \(foreign) of workloads not in \(m.name)"
        )
    }
}
