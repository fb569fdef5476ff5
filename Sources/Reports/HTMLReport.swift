import Foundation
import VTA

/// One self-contained HTML file (inline SVG and CSS, no script) from the data of one or more
/// records files. Numbers a reader may want to check carry `data-value` attributes with the exact
/// integer, next to the formatted text.
public enum HTMLReport {
    public static func render(
        _ files: [ReportData], baseline: ReportData? = nil, optimum: Int? = nil, board: FPGA? = nil
    ) -> String {
        let all = files + (baseline.map { [$0] } ?? [])
        let main = files[0]
        var h = """
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>vtafarm report: \(e(main.model.name))</title>
            <style>body{font-family:sans-serif;margin:24px;max-width:1000px;color:#222}table{border-collapse:collapse;margin:8px 0 16px}
            td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}td.n{text-align:right;font-variant-numeric:tabular-nums}
            th{background:#f3f3f3}h2{margin-top:28px;border-bottom:1px solid #ddd}.front{background:#fde8e8}</style></head><body>
            <h1>vtafarm report: \(e(main.model.name))</h1>

            """
        h +=
            "<table id=\"files\"><tr><th>records file</th><th>records</th><th>best model latency</th><th>hardware</th></tr>"
        for (i, d) in all.enumerated() {
            let best = d.configurations.first
            let role = i == files.count ? " (baseline)" : ""
            h += "<tr><td>\(e(d.path))\(role)</td><td class=\"n\">\(d.records)</td>"
            h +=
                best.map { "<td class=\"n best-latency\" data-value=\"\($0.latency)\">\(fmt($0.latency))</td>" }
                ?? "<td>incomplete</td>"
            h += "<td>\(e(best?.hardware.shortName ?? "-"))</td></tr>"
        }
        h += "</table>"

        h +=
            "<h2>Convergence</h2><p>Best model latency (cycles, the fastest fully measured configuration) after each measurement.</p>"
        let names = all.enumerated().map { i, d in i == files.count ? "baseline \(d.path)" : d.path }
        let reference = optimum.map { [(name: "optimum", y: Double($0))] } ?? []
        h += SVGChart.lines(
            zip(names, all).map { n, d in
                SVGChart.Series(name: short(n), points: d.convergence.map { (Double($0.measured), Double($0.latency)) })
            }, id: "convergence", xLabel: "measurements", yLabel: "model latency (cycles)", reference: reference)
        h += SVGChart.lines(
            zip(names, all).map { n, d in
                SVGChart.Series(name: short(n), points: d.convergence.map { ($0.seconds, Double($0.latency)) })
            }, id: "convergence-time", xLabel: "seconds", yLabel: "model latency (cycles)", reference: reference)

        h +=
            "<h2>Layers</h2><p>On \(e(main.bestHardware?.shortName ?? "the recorded hardware")): best against the default schedule and the bounds (compute: MACs at the core's MACs per cycle; memory: input, weights and output moved once at the AXI width).</p>"
        h +=
            "<table id=\"layers\"><tr><th>layer</th><th>count</th><th>best</th><th>default</th><th>compute bound</th><th>memory bound</th><th>efficiency</th><th>measured</th><th>best schedule</th></tr>"
        for l in main.layers {
            let eff =
                l.best.map {
                    String(
                        format: "%.1f%%", 100 * Double(max(l.computeBound, l.memoryBound)) / Double(max(1, $0.cycles)))
                } ?? "-"
            h += "<tr><td>\(e(l.layer.name))</td><td class=\"n\">\(l.layer.count)</td>"
            h +=
                l.best.map { "<td class=\"n layer-best\" data-value=\"\($0.cycles)\">\(fmt($0.cycles))</td>" }
                ?? "<td>-</td>"
            h += "<td class=\"n\">\(l.defaultCycles.map(fmt) ?? "-")</td><td class=\"n\">\(fmt(l.computeBound))</td>"
            h +=
                "<td class=\"n\">\(fmt(l.memoryBound))</td><td class=\"n\">\(eff)</td><td class=\"n\">\(l.measured)</td>"
            h += "<td>\(e(l.best?.schedule.description ?? "-"))</td></tr>"
        }
        h += "</table>"

        h +=
            "<h2>Hardware</h2><p>Every fully measured configuration (\(main.configurations.count)); BRAM is each design's with the smallest buffers that hold its best schedules; the Pareto front over latency, DSP and BRAM is filled red\(board.map { " (budget lines: \(e($0.name)))" } ?? "").</p>"
        let pts = main.configurations.map { c in
            (
                x: Double(c.dsp), y: Double(c.latency), marked: c.onFront,
                title: "\(c.hardware.shortName): \(fmt(c.latency))"
            )
        }
        h += SVGChart.scatter(
            pts, id: "latency-dsp", xLabel: "DSP", yLabel: "model latency (cycles)",
            budget: board.map { ("\($0.name) \($0.dsp) DSP", Double($0.dsp)) })
        h += SVGChart.scatter(
            main.configurations.map { c in
                (
                    x: Double(c.bram36), y: Double(c.latency), marked: c.onFront,
                    title: "\(c.hardware.shortName): \(fmt(c.latency))"
                )
            }, id: "latency-bram", xLabel: "BRAM36", yLabel: "model latency (cycles)",
            budget: board.map { ("\($0.name) \($0.memoryBlocks) blocks", Double($0.memoryBlocks)) })
        h += "<table id=\"pareto\"><tr><th>design</th><th>model latency</th><th>DSP</th><th>BRAM36</th></tr>"
        for c in main.configurations where c.onFront {
            h +=
                "<tr class=\"front\"><td>\(e(c.design.shortName))</td><td class=\"n pareto-latency\" data-value=\"\(c.latency)\">\(fmt(c.latency))</td><td class=\"n\">\(c.dsp)</td><td class=\"n\">\(c.bram36)</td></tr>"
        }
        h += "</table>"

        h += "<h2>Rejected and failed</h2>"
        h += counts("invalid", "INVALID answers from runners, by reason", main.invalidReasons)
        h += counts(
            "filtered", "Filtered by the coordinator before dispatch (the .filtered file), by reason",
            main.filteredReasons)
        h += counts("failures", "Failed measurements, by status", main.failures)

        h +=
            "<h2>Runners</h2><p>Measurements running on each runner, averaged over spans of \(String(format: "%.2f", main.binSeconds)) s.</p>"
        h += SVGChart.lines(
            main.utilisation.map { u in
                SVGChart.Series(
                    name: u.runner,
                    points: u.busy.enumerated().map { (Double($0.offset) * main.binSeconds, $0.element) },
                    steps: true)
            }, id: "utilisation", xLabel: "seconds", yLabel: "busy measurements")
        h += "<h2>Measurement wall time</h2>"
        let bins = histogram(main.wallSeconds)
        h += SVGChart.bars(bins, id: "wall-time", xLabel: "bin (see the table)", yLabel: "measurements")
        h += "<table id=\"wall-times\"><tr><th>wall time</th><th>measurements</th></tr>"
        for b in bins { h += "<tr><td>\(e(b.label))</td><td class=\"n\">\(b.count)</td></tr>" }
        h += "</table></body></html>\n"
        return h
    }

    static func counts(_ id: String, _ title: String, _ c: [String: Int]) -> String {
        var h = "<p>\(e(title)):</p><table id=\"\(id)\"><tr><th>reason</th><th>count</th></tr>"
        for (k, v) in c.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            h += "<tr><td>\(e(k))</td><td class=\"n\" data-value=\"\(v)\">\(v)</td></tr>"
        }
        if c.isEmpty { h += "<tr><td colspan=\"2\">none</td></tr>" }
        return h + "</table>"
    }

    /// Powers-of-two bins in milliseconds.
    static func histogram(_ seconds: [Double]) -> [(label: String, count: Int)] {
        let ms = seconds.filter { $0.isFinite && $0 >= 0 }.map { $0 * 1000 }
        guard !ms.isEmpty else { return [] }
        let k = ms.map { max(-4, Int(floor(log2(max($0, 1.0 / 16))))) }
        let lo = k.min()!
        let hi = k.max()!
        return (lo...hi).map { b in
            (
                label: "\(SVGChart.label(pow(2, Double(b)))) - \(SVGChart.label(pow(2, Double(b + 1)))) ms",
                count: k.filter { $0 == b }.count
            )
        }
    }

    static func e(_ s: String) -> String { SVGChart.escape(s) }
    static func short(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }
    static func fmt(_ n: Int) -> String { formatCycles(n) }
}
