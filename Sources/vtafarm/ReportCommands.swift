import ArgumentParser
import Coordinator
import Foundation
import Reports
import VTA

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML report (inline SVG) from records files.",
        discussion: """
            Convergence of the best model latency (one line per file, against measurements and \
            wall time), each layer against its default schedule and its compute and memory bounds, \
            every fully measured hardware configuration against DSP and BRAM with the Pareto front, \
            invalid and filtered reasons, runner utilisation and measurement wall times. Reads the \
            files (and FILE.filtered) without changing them.
            """)
    @Argument(help: "Records files (the first is the one the layer, hardware and runner sections describe).")
    var files: [String]
    @Option(help: "A baseline records file drawn beside them (e.g. an xgb run).") var baseline: String?
    @Option(help: ArgumentHelp("The output file.", valueName: "file")) var out = "report.html"
    @Option(help: "The model to report, when a file holds records of more than one.") var model: String?
    @Option(help: "A known optimum (cycles, e.g. from `sim --model M --best`), drawn as a line.") var optimum: Int?
    @Option(help: "The board whose DSP and BRAM budget to draw (default: the best hardware's TARGET, if a board).")
    var fpga: String?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one records file") }
        if let optimum, optimum < 1 { throw ValidationError("--optimum must be a positive number of cycles") }
    }

    func run() throws {
        let data: [ReportData]
        let base: ReportData?
        do {
            data = try files.map { try ReportData(path: $0, model: model) }
            base = try baseline.map { try ReportData(path: $0, model: model ?? data[0].model.name) }
        } catch let e as RecordStore.OpenError { throw UserError(e.description) } catch let e as ReportError {
            throw UserError(e.description)
        }
        let board = try boardFor(data[0])
        let html = HTMLReport.render(data, baseline: base, optimum: optimum, board: board)
        do { try html.write(toFile: out, atomically: true, encoding: .utf8) } catch {
            throw UserError("\(out): cannot write: \(error.localizedDescription)")
        }
        let best = data[0].configurations.first.map { "\(formatCycles($0.latency)) cycles on \($0.hardware.shortName)" }
        print("wrote \(out): \(data.map(\.records).reduce(0, +)) records, best \(best ?? "incomplete")")
    }

    func boardFor(_ d: ReportData) throws -> FPGA? {
        if let fpga {
            guard let b = FPGA.named(fpga) else {
                throw UserError("unknown FPGA '\(fpga)' (\(FPGA.boards.map(\.name).joined(separator: ", ")))")
            }
            return b
        }
        return d.bestHardware.flatMap { FPGA.named($0.target) }
    }
}

struct RecordsPareto: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pareto",
        abstract:
            "The Pareto front of a records file's designs (latency, DSP, BRAM36; buffers shrunk to hold the best schedules)."
    )
    @Argument(help: "A records file.") var file: String
    @Option(help: "The model, when the file holds records of more than one.") var model: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let data: ReportData
        do { data = try ReportData(path: file, model: model) } catch let e as RecordStore.OpenError {
            throw UserError(e.description)
        } catch let e as ReportError { throw UserError(e.description) }
        let front = data.configurations.filter(\.onFront)
        if json {
            let rows: [[String: Any]] = front.map {
                [
                    "hardware": $0.design.shortName, "latency_cycles": $0.latency, "dsp": $0.dsp, "bram36": $0.bram36,
                    "config": $0.design.jsonObject, "measured_on": $0.hardware.shortName,
                ]
            }
            let object: [String: Any] = [
                "model": data.model.name, "configurations": data.configurations.count, "front": rows,
            ]
            let out = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: out, as: UTF8.self))
            return
        }
        guard !front.isEmpty else {
            throw UserError("\(file): no hardware configuration has a valid measurement of every layer yet")
        }
        print(
            "model \(data.model.name): \(data.configurations.count) fully measured configurations, \(front.count) on the front"
                + " (each with the smallest buffers that hold its best schedules)"
        )
        print(
            pad("design", 36) + pad("latency", 14, right: true) + pad("DSP", 7, right: true)
                + pad("BRAM36", 8, right: true) + "  measured on")
        for c in front {
            print(
                pad(c.design.shortName, 36) + pad(formatCycles(c.latency), 14, right: true)
                    + pad("\(c.dsp)", 7, right: true) + pad("\(c.bram36)", 8, right: true) + "  "
                    + c.hardware.shortName)
        }
    }
}
