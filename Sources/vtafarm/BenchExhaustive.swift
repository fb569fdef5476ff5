import Coordinator
import Foundation
import Search
import VTA

extension BenchFarm {
    /// `bench farm --exhaustive`: the exhaustive job of `model` over `fpga`'s buildable space with
    /// each runner count, on single-slot vta-sim runners and a fresh records file each time.
    func runExhaustive() throws {
        let model = try ModelLoader.load(self.model)
        guard let board = FPGA.named(fpga) else {
            throw UserError("unknown board '\(fpga)': use \(FPGA.boards.map(\.name).joined(separator: ", "))")
        }
        let space = try HardwareSpace(
            base: .stock, fpga: board, workloads: model.layers.map(\.workload), extent: .buildable)
        let points = space.maximalPoints
        print(
            "exhaustive ground truth: \(model.name) on \(board.name) (buildable, \(points.count) maximal configurations), single-slot vta-sim runners, \(ProcessInfo.processInfo.activeProcessorCount) cores"
        )
        print(
            pad("runners", 8) + pad("searches", 10, right: true) + pad("seconds", 10, right: true)
                + pad("per second", 12, right: true) + pad("speed-up", 10, right: true) + "  optimum")
        var first: Double?
        var optimum: Int?
        for n in runners {
            let farm = try LocalFarm(executable: LocalFarm.currentExecutable, runners: n, slots: 1, backend: "vta-sim")
            defer { farm.stop() }
            let dispatcher = try Dispatcher(runners: farm.addresses)
            defer { dispatcher.close() }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "vtafarm-bench-exhaustive-\(getpid())-\(n).jsonl"
            ).path
            try? FileManager.default.removeItem(atPath: path)
            defer { try? FileManager.default.removeItem(atPath: path) }
            var settings = TuneSettings(model: model)
            settings.timeoutMs = 600_000
            let job = ExhaustiveJob(
                settings: settings, configurations: points, dispatcher: dispatcher,
                records: try RecordStore(path: path, resume: false, model: model.name))
            let s = try job.run()
            guard let best = s.top.first?.cycles else { throw UserError("bench: no configuration serves the model") }
            if let optimum, optimum != best {
                throw UserError("bench: \(n) runners found \(best) cycles, an earlier count \(optimum)")
            }
            optimum = best
            let rate = Double(s.searches) / s.seconds
            first = first ?? rate
            print(
                pad("\(n)", 8) + pad("\(s.searches)", 10, right: true)
                    + pad(String(format: "%.1f", s.seconds), 10, right: true)
                    + pad(String(format: "%.1f", rate), 12, right: true)
                    + pad(String(format: "%.2fx", rate / first!), 10, right: true) + "  "
                    + formatCycles(best) + " cycles on " + s.top[0].hardware.shortName)
        }
    }
}
