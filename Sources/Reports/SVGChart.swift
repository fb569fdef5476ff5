import Foundation

/// Small inline-SVG charts for the report: no script and nothing fetched, so the file opens the
/// same anywhere (the farm's machines have no internet).
enum SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        /// Draw as steps (a best-so-far curve holds its value until the next point).
        var steps = true
    }

    static let width = 640.0
    static let height = 300.0
    static let margin = (left: 80.0, right: 20.0, top: 20.0, bottom: 40.0)
    static let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func label(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e6 { return String(format: "%.2fM", v / 1e6) }
        if a >= 1e4 { return String(format: "%.0fk", v / 1e3) }
        if a >= 100 || v == v.rounded() { return String(format: "%.0f", v) }
        return String(format: "%.2g", v)
    }

    /// Axes with five ticks each over [lo, hi] (widened when flat), and a mapping into the plot.
    struct Frame {
        var x: (lo: Double, hi: Double)
        var y: (lo: Double, hi: Double)
        func px(_ v: Double) -> Double {
            margin.left + (v - x.lo) / (x.hi - x.lo) * (width - margin.left - margin.right)
        }
        func py(_ v: Double) -> Double {
            height - margin.bottom - (v - y.lo) / (y.hi - y.lo) * (height - margin.top - margin.bottom)
        }
    }

    static func range(_ values: [Double], pad: Double = 0.05) -> (lo: Double, hi: Double) {
        guard var lo = values.min(), var hi = values.max() else { return (0, 1) }
        if hi - lo < 1e-9 * max(1, abs(hi)) {
            lo -= max(1, abs(lo) * 0.1)
            hi += max(1, abs(hi) * 0.1)
        }
        let d = (hi - lo) * pad
        return (values.allSatisfy { $0 >= 0 } ? max(0, lo - d) : lo - d, hi + d)
    }

    static func axes(_ f: Frame, xLabel: String, yLabel: String) -> String {
        var s = ""
        let x0 = margin.left
        let x1 = width - margin.right
        let y0 = height - margin.bottom
        let y1 = margin.top
        s += "<line x1=\"\(x0)\" y1=\"\(y0)\" x2=\"\(x1)\" y2=\"\(y0)\" stroke=\"#444\"/>"
        s += "<line x1=\"\(x0)\" y1=\"\(y0)\" x2=\"\(x0)\" y2=\"\(y1)\" stroke=\"#444\"/>"
        for k in 0...4 {
            let xv = f.x.lo + Double(k) / 4 * (f.x.hi - f.x.lo)
            let yv = f.y.lo + Double(k) / 4 * (f.y.hi - f.y.lo)
            s += "<text x=\"\(f.px(xv))\" y=\"\(y0 + 16)\" text-anchor=\"middle\">\(label(xv))</text>"
            s += "<text x=\"\(x0 - 6)\" y=\"\(f.py(yv) + 4)\" text-anchor=\"end\">\(label(yv))</text>"
            s += "<line x1=\"\(x0)\" y1=\"\(f.py(yv))\" x2=\"\(x1)\" y2=\"\(f.py(yv))\" stroke=\"#eee\"/>"
        }
        s += "<text x=\"\((x0 + x1) / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        s +=
            "<text x=\"14\" y=\"\((y0 + y1) / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 14 \((y0 + y1) / 2))\">\(escape(yLabel))</text>"
        return s
    }

    static func svg(_ body: String, id: String) -> String {
        "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\(body)</svg>"
    }

    static func legend(_ names: [String]) -> String {
        names.enumerated().map { i, n in
            let y = margin.top + 14 * Double(i) + 8
            return
                "<rect x=\"\(width - margin.right - 150)\" y=\"\(y - 8)\" width=\"10\" height=\"10\" fill=\"\(colours[i % colours.count])\"/>"
                + "<text x=\"\(width - margin.right - 135)\" y=\"\(y + 1)\">\(escape(n))</text>"
        }.joined()
    }

    /// Lines (steps for best-so-far curves) with optional horizontal reference lines.
    static func lines(
        _ series: [Series], id: String, xLabel: String, yLabel: String, reference: [(name: String, y: Double)] = []
    ) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) } + reference.map(\.y)
        guard !xs.isEmpty else { return "<p>(no data)</p>" }
        let f = Frame(x: (0, max(1, xs.max()!)), y: range(ys))
        var body = axes(f, xLabel: xLabel, yLabel: yLabel)
        for r in reference {
            body +=
                "<line x1=\"\(margin.left)\" y1=\"\(f.py(r.y))\" x2=\"\(width - margin.right)\" y2=\"\(f.py(r.y))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
            body +=
                "<text x=\"\(margin.left + 4)\" y=\"\(f.py(r.y) - 4)\" fill=\"#666\">\(escape(r.name)) \(label(r.y))</text>"
        }
        for (i, s) in series.enumerated() {
            var path = ""
            for (k, p) in s.points.enumerated() {
                if k > 0 && s.steps { path += " L\(f.px(p.x)),\(f.py(s.points[k - 1].y))" }
                path += (k == 0 ? "M" : " L") + "\(f.px(p.x)),\(f.py(p.y))"
            }
            if s.steps, let last = s.points.last, let xmax = xs.max(), xmax > last.x {
                path += " L\(f.px(xmax)),\(f.py(last.y))"
            }
            body += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(colours[i % colours.count])\" stroke-width=\"1.8\"/>"
        }
        return svg(body + legend(series.map(\.name)), id: id)
    }

    /// Points, the marked ones drawn larger and filled, with an optional vertical budget line.
    static func scatter(
        _ points: [(x: Double, y: Double, marked: Bool, title: String)], id: String, xLabel: String, yLabel: String,
        budget: (name: String, x: Double)? = nil
    ) -> String {
        guard !points.isEmpty else { return "<p>(no data)</p>" }
        let f = Frame(
            x: range(points.map(\.x) + (budget.map { [$0.x] } ?? []) + [0], pad: 0.05), y: range(points.map(\.y)))
        var body = axes(f, xLabel: xLabel, yLabel: yLabel)
        if let b = budget {
            body +=
                "<line x1=\"\(f.px(b.x))\" y1=\"\(margin.top)\" x2=\"\(f.px(b.x))\" y2=\"\(height - margin.bottom)\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>"
            body +=
                "<text x=\"\(f.px(b.x) - 4)\" y=\"\(margin.top + 10)\" text-anchor=\"end\" fill=\"#d62728\">\(escape(b.name))</text>"
        }
        for p in points {
            body +=
                "<circle cx=\"\(f.px(p.x))\" cy=\"\(f.py(p.y))\" r=\"\(p.marked ? 5 : 3)\" fill=\"\(p.marked ? "#d62728" : "none")\" stroke=\"\(p.marked ? "#d62728" : "#1f77b4")\"><title>\(escape(p.title))</title></circle>"
        }
        return svg(body, id: id)
    }

    /// Bars over labelled bins.
    static func bars(_ bins: [(label: String, count: Int)], id: String, xLabel: String, yLabel: String) -> String {
        guard !bins.isEmpty else { return "<p>(no data)</p>" }
        let f = Frame(x: (0, Double(bins.count)), y: (0, Double(max(1, bins.map(\.count).max()!)) * 1.05))
        var body = axes(f, xLabel: xLabel, yLabel: yLabel)
        for (i, b) in bins.enumerated() {
            let x = f.px(Double(i)) + 1
            let w = f.px(Double(i + 1)) - f.px(Double(i)) - 2
            body +=
                "<rect x=\"\(x)\" y=\"\(f.py(Double(b.count)))\" width=\"\(max(1, w))\" height=\"\(f.py(0) - f.py(Double(b.count)))\" fill=\"#1f77b4\"><title>\(escape(b.label)): \(b.count)</title></rect>"
        }
        return svg(body, id: id)
    }
}
