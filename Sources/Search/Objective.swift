import Foundation
import VTA

/// What a hardware search optimizes (`--objective`). A designer often wants the smallest design
/// that is fast enough (MetaML), not the fastest: `dsp` and `bram` minimize that resource among
/// the configurations whose model latency is at most `maxCycles`, and `pareto` keeps the front
/// of latency against DSP against BRAM.
public enum Objective: Sendable, Equatable, CustomStringConvertible {
    case latency
    case dsp(maxCycles: Int)
    case bram(maxCycles: Int)
    case pareto

    public static let names = ["latency", "dsp", "bram", "pareto"]

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `--objective NAME` with `--max-latency` (cycles, or `12.5ms` at `clockMHz`).
    public init(_ name: String, maxLatency: String?, clockMHz: Double) throws(ParseError) {
        let bound = try maxLatency.map { text throws(ParseError) in try Self.cycles(text, clockMHz: clockMHz) }
        switch name {
        case "latency", "pareto":
            if maxLatency != nil {
                throw ParseError(description: "--max-latency goes with --objective dsp or bram, not \(name)")
            }
            self = name == "latency" ? .latency : .pareto
        case "dsp", "bram":
            guard let bound else {
                throw ParseError(
                    description:
                        "--objective \(name) needs --max-latency CYCLES (or MSms): the smallest design at least that fast"
                )
            }
            self = name == "dsp" ? .dsp(maxCycles: bound) : .bram(maxCycles: bound)
        default:
            throw ParseError(description: "--objective \(name): not one of \(Self.names.joined(separator: ", "))")
        }
    }

    /// "1500000" or "1,500,000" cycles, or "15ms" / "15 ms" at the clock.
    static func cycles(_ text: String, clockMHz: Double) throws(ParseError) -> Int {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t.hasSuffix("ms") {
            let number = t.dropLast(2).trimmingCharacters(in: .whitespaces)
            guard let ms = Double(number), ms.isFinite, ms > 0, ms * clockMHz * 1000 < 1e15 else {
                throw ParseError(description: "--max-latency \(text): not a positive number of milliseconds")
            }
            return Int((ms * clockMHz * 1000).rounded(.down))
        }
        guard let n = Int(t.replacingOccurrences(of: ",", with: "")), n > 0 else {
            throw ParseError(description: "--max-latency \(text): not a positive cycle count (or MSms)")
        }
        return n
    }

    public var description: String {
        switch self {
        case .latency: return "latency"
        case .dsp(let m): return "dsp (model latency at most \(formatCycles(m)) cycles)"
        case .bram(let m): return "bram (model latency at most \(formatCycles(m)) cycles)"
        case .pareto: return "pareto (latency, DSP, BRAM)"
        }
    }

    /// The latency bound of `dsp` and `bram`.
    public var maxCycles: Int? {
        switch self {
        case .dsp(let m), .bram(let m): return m
        case .latency, .pareto: return nil
        }
    }

    /// A fully measured design: its model latency and what it costs on the FPGA. `bram` is the
    /// estimate after ``Design/shrunk(_:holding:)``: cycles do not depend on the buffer sizes, so
    /// a configuration with the smallest buffers that still hold its layers' best schedules is the
    /// same design, cheaper.
    public struct Design: Sendable, Equatable {
        public let hardware: HardwareConfig
        public let cycles: Int
        public let dsp: Int
        public let bram: Int

        public init(hardware: HardwareConfig, cycles: Int) {
            self.hardware = hardware
            self.cycles = cycles
            let need = ResourceEstimate(HardwareSpec(hardware))
            dsp = need.dsp
            bram = need.bram36
        }

        /// `c` with the smallest buffers that hold `schedules` (each layer's workload and chosen
        /// schedule; see ``shrunk(_:holding:)``), measured at `cycles`: the same design, cheaper.
        public init(shrinking c: HardwareConfig, holding schedules: some Sequence<(Workload, Schedule)>, cycles: Int) {
            self.init(hardware: Self.shrunk(c, holding: Array(schedules)), cycles: cycles)
        }

        /// A design with given resources (tests rank designs without building them).
        init(hardware: HardwareConfig, cycles: Int, dsp: Int, bram: Int) {
            (self.hardware, self.cycles, self.dsp, self.bram) = (hardware, cycles, dsp, bram)
        }

        /// `c` with each buffer (uop, inp, wgt, acc) halved, one at a time, while every one of
        /// `schedules` (a layer's workload and its chosen schedule) still compiles: the smallest
        /// buffers holding the chosen schedules, found greedily (validity only grows with a buffer).
        public static func shrunk(_ c: HardwareConfig, holding schedules: [(Workload, Schedule)]) -> HardwareConfig {
            let paths: [WritableKeyPath<HardwareConfig, Int>] = [
                \.logUopBuffSize, \.logInpBuffSize, \.logWgtBuffSize, \.logAccBuffSize,
            ]
            // Compiled, not only tile-planned: the ISA's field widths follow the buffer sizes, and
            // only the compiler checks that every loop factor still fits them.
            func holds(_ h: HardwareConfig) -> Bool {
                guard (try? h.validate()) != nil else { return false }
                let spec = HardwareSpec(h)
                return schedules.allSatisfy { w, s in
                    if case .success = Compiler.compile(w, s, spec) { return true }
                    return false
                }
            }
            guard holds(c) else { return c }
            var out = c
            for path in paths {
                while out[keyPath: path] > 8 {
                    var smaller = out
                    smaller[keyPath: path] -= 1
                    guard holds(smaller) else { break }
                    out = smaller
                }
            }
            return out
        }
    }

    /// Whether `d` meets the objective's latency bound (always, without one).
    public func admits(_ d: Design) -> Bool { maxCycles.map { d.cycles <= $0 } ?? true }

    /// The objective's order: `a` is the better design. Latency: fewer cycles. dsp and bram:
    /// designs within the bound first, by that resource, then the other, then cycles; designs
    /// over the bound after them, fastest first. Pareto: by latency (the front itself is
    /// ``front(_:)``). Ties by canonical key.
    public func prefers(_ a: Design, _ b: Design) -> Bool {
        func key(_ d: Design) -> [Int] {
            switch self {
            case .latency, .pareto: return [d.cycles]
            case .dsp: return admits(d) ? [0, d.dsp, d.bram, d.cycles] : [1, d.cycles]
            case .bram: return admits(d) ? [0, d.bram, d.dsp, d.cycles] : [1, d.cycles]
            }
        }
        let (ka, kb) = (key(a), key(b))
        return ka != kb ? ka.lexicographicallyPrecedes(kb) : a.hardware.canonicalKey < b.hardware.canonicalKey
    }

    /// The designs no other design beats in latency, DSP and BRAM at once (one per distinct
    /// triple), fastest first.
    public static func front(_ designs: [Design]) -> [Design] {
        let sorted = designs.sorted {
            ($0.cycles, $0.dsp, $0.bram, $0.hardware.canonicalKey) < (
                $1.cycles, $1.dsp, $1.bram, $1.hardware.canonicalKey
            )
        }
        var out: [Design] = []
        for d in sorted {
            let dominated = out.contains { o in
                o.cycles <= d.cycles && o.dsp <= d.dsp && o.bram <= d.bram
            }
            if !dominated { out.append(d) }
        }
        return out
    }

    /// What the hardware agent maximizes for a configuration whose predicted model latency is
    /// exp(-`logLatency`) (the co-optimizer's currency, -log cycles). Latency: that. dsp and
    /// bram: -log of the resource, minus 10 per unit of log over the bound, so that getting
    /// under the bound comes first and a smaller design second. Pareto: a weighted sum of
    /// -log latency and -log DSP with the round's `weight` (ParEGO's random scalarizations), so
    /// successive rounds sweep the front.
    func utility(logLatency: Float, _ c: HardwareConfig, weight: Float) -> Float {
        let need = ResourceEstimate(HardwareSpec(c))
        switch self {
        case .latency:
            return logLatency
        case .dsp(let m), .bram(let m):
            let resource = Float(max(1, self == .dsp(maxCycles: m) ? need.dsp : need.bram36))
            let over = max(0, -logLatency - Float(log(Double(m))))
            return -log(resource) - 10 * over
        case .pareto:
            return weight * logLatency - (1 - weight) * log(Float(max(1, need.dsp)))
        }
    }
}
