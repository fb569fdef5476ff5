import Coordinator
import Foundation
import Testing
import VTA

@testable import Reports

@Suite struct ReportDataTests {
    let model = Model(
        name: "m",
        layers: [
            Model.Layer(name: "a", workload: .conv2d(h: 8, w: 8, ci: 16, co: 16, k: 3, s: 1, p: 1), count: 2),
            Model.Layer(name: "b", workload: .conv2d(h: 8, w: 8, ci: 16, co: 32, k: 1, s: 1, p: 0)),
        ])

    func config(_ logBlockOut: Int, axi: Int = 64) -> HardwareConfig {
        var c = HardwareConfig.stock
        c.logBlockOut = logBlockOut
        c.axiWidth = axi
        return c
    }

    /// Writes records (hardware, layer, cycles or nil, runner, finished, wall) and reads the report data.
    func data(
        _ rows: [(HardwareConfig, Int, Int?, Double)], name: String,
        schedule: (Int) -> Schedule = { Schedule(tileH: 1 + $0 % 8, tileW: 1 + $0 / 8) }
    ) throws -> ReportData {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vtafarm-report-\(getpid())-\(name)")
            .path
        try? FileManager.default.removeItem(atPath: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try RecordStore(path: path, resume: false)
            for (i, (hw, layer, cycles, finished)) in rows.enumerated() {
                let l = model.layers[layer]
                var r = Record(
                    model: "m", task: model.task(l), count: l.count, workload: l.workload, hardware: hw,
                    schedule: schedule(i), status: cycles == nil ? .invalid : .ok,
                    cycles: cycles, runner: i % 2 == 0 ? "r0" : "r1", sent: 0, finished: finished, wallSeconds: 1)
                if cycles == nil { r.reason = "acc_write_hazard" }
                try store.append(r)
            }
        }
        return try ReportData(path: path, bins: 4)
    }

    @Test func theFrontHoldsWhatNothingDominates() throws {
        let fastBig = config(5, axi: 128)  // more DSP, fastest
        let slowSmall = config(4)  // the stock core
        let d = try data(
            [
                (slowSmall, 0, 100, 1), (slowSmall, 1, 100, 2), (fastBig, 0, 40, 3), (fastBig, 1, 40, 4),
                (fastBig, 0, nil, 5),
            ], name: "front")
        #expect(d.configurations.map(\.latency) == [120, 300])
        #expect(d.configurations.allSatisfy { $0.onFront }, "faster but larger, slower but smaller: both on the front")
        #expect(d.invalidReasons == ["acc_write_hazard": 1])
        // A configuration as large as another and slower is dominated.
        let dominated = ReportData.front(
            d.configurations + [
                ReportData.Configuration(
                    hardware: config(6), design: config(6), latency: 500, dsp: d.configurations[0].dsp,
                    bram36: d.configurations[0].bram36, onFront: false)
            ])
        #expect(dominated.map(\.onFront) == [true, true, false])
    }

    @Test func designsAreShrunkAndCountedOnceOnTheFront() throws {
        // The same core measured with two buffer settings, the same best schedules on both: one
        // design, with buffers no larger than either's, and less BRAM than was measured.
        let bigInput = config(4)  // the stock buffers
        var bigWeights = config(4)
        bigWeights.logInpBuffSize = 14
        let d = try data(
            [(bigInput, 0, 100, 1), (bigInput, 1, 100, 2), (bigWeights, 0, 100, 3), (bigWeights, 1, 100, 4)],
            name: "shrunk", schedule: { _ in Schedule(tileH: 2, tileW: 4) })
        #expect(d.configurations.count == 2)
        #expect(d.configurations.filter(\.onFront).count == 1, "two measured configurations, one design")
        for c in d.configurations {
            #expect(c.design.logInpBuffSize <= c.hardware.logInpBuffSize)
            #expect(c.design.logWgtBuffSize <= c.hardware.logWgtBuffSize)
            #expect(c.design.logAccBuffSize <= c.hardware.logAccBuffSize)
            #expect(c.bram36 < ResourceEstimate(HardwareSpec(c.hardware)).bram36)
            #expect(c.bram36 == ResourceEstimate(HardwareSpec(c.design)).bram36)
        }
        #expect(d.configurations[0].design == d.configurations[1].design)
    }

    @Test func convergenceFallsToTheBestAndCountsMeasurements() throws {
        let stock = config(4)
        let d = try data(
            [(stock, 0, 100, 1), (stock, 1, 90, 2), (stock, 0, 80, 3), (stock, 1, 95, 4), (stock, 1, 50, 5)],
            name: "convergence")
        #expect(d.convergence.map(\.latency) == [2 * 100 + 90, 2 * 80 + 90, 2 * 80 + 50])
        #expect(d.convergence.map(\.measured) == [2, 3, 5])
        #expect(d.convergence.last?.latency == d.configurations.first?.latency)
    }

    @Test func utilisationAddsUpToTheWallTime() throws {
        let stock = config(4)
        let d = try data([(stock, 0, 100, 1), (stock, 1, 100, 2), (stock, 0, 90, 3), (stock, 1, 80, 4)], name: "busy")
        #expect(d.utilisation.map(\.runner) == ["r0", "r1"])
        let busySeconds = d.utilisation.flatMap(\.busy).reduce(0, +) * d.binSeconds
        #expect(abs(busySeconds - 4) < 1e-9, "four measurements of one second each: \(busySeconds)")
    }

    @Test func theHTMLEscapesWhatTheFileSays() throws {
        let stock = config(4)
        var d = try data([(stock, 0, 100, 1), (stock, 1, 100, 2)], name: "html")
        d.path = "<script>x</script>"
        let html = HTMLReport.render([d])
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;"))
        #expect(html.contains("data-value=\"300\""))
    }
}
