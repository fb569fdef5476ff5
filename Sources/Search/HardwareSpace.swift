import VTA

/// The hardware knobs co-optimization searches, each a list of choices (around the stock VTA, or
/// everything a board can build: ``Extent``), and which points are buildable: the
/// configuration's ISA fits, it fits the FPGA's DSP and block-RAM budget, and every layer of the
/// model can be packed.
public struct HardwareSpace: Sendable {
    public struct Knob: Sendable {
        public let name: String
        public let choices: [Int]
    }

    public let base: HardwareConfig
    public private(set) var knobs: [Knob]
    public let fpga: FPGA?
    public let workloads: [Workload]
    /// How far the knobs reach before a hardware space file narrows them.
    public let extent: Extent

    public struct SpaceError: Error, CustomStringConvertible {
        public let description: String
    }

    public static let knobNames = [
        "LOG_BATCH", "LOG_BLOCK_IN", "LOG_BLOCK_OUT", "LOG_INP_BUFF_SIZE", "LOG_WGT_BUFF_SIZE",
        "LOG_ACC_BUFF_SIZE", "AXI_WIDTH",
    ]

    /// The knobs of `extent` (see ``Extent``). `overrides` (a hardware space file) replaces a
    /// knob's choices: one value fixes it, a list narrows (or widens) it.
    public init(
        base: HardwareConfig, fpga: FPGA?, workloads: [Workload], extent: Extent = .buildable,
        overrides: [String: [Int]] = [:]
    ) throws {
        for (name, values) in overrides {
            guard Self.knobNames.contains(name) else {
                throw SpaceError(
                    description:
                        "hardware space: unknown knob \(name) (knobs: \(Self.knobNames.joined(separator: ", ")))")
            }
            guard !values.isEmpty else { throw SpaceError(description: "hardware space: \(name) has no values") }
            for v in values {
                var probe = base
                do { try probe.set(name, to: "\(v)") } catch {
                    throw SpaceError(description: "hardware space: \(error)")
                }
            }
        }
        self.init(base: base, fpga: fpga, workloads: workloads, extent: extent)
        knobs = knobs.map { k in overrides[k.name].map { Knob(name: k.name, choices: Array(Set($0)).sorted()) } ?? k }
    }

    public init(base: HardwareConfig, fpga: FPGA?, workloads: [Workload], extent: Extent = .buildable) {
        self.base = base
        self.fpga = fpga
        self.workloads = workloads
        self.extent = extent
        switch extent {
        case .stock:
            knobs = [
                Knob(name: "LOG_BATCH", choices: [0, 1]),
                Knob(name: "LOG_BLOCK_IN", choices: [3, 4, 5]),
                Knob(name: "LOG_BLOCK_OUT", choices: [3, 4, 5]),
                Knob(name: "LOG_INP_BUFF_SIZE", choices: Array((base.logInpBuffSize - 2)...(base.logInpBuffSize + 2))),
                Knob(name: "LOG_WGT_BUFF_SIZE", choices: Array((base.logWgtBuffSize - 2)...(base.logWgtBuffSize + 2))),
                Knob(name: "LOG_ACC_BUFF_SIZE", choices: Array((base.logAccBuffSize - 2)...(base.logAccBuffSize + 2))),
                Knob(name: "AXI_WIDTH", choices: fpga?.axiWidths ?? [64, 128]),
            ]
        case .buildable:
            knobs = Self.buildableKnobs(base: base, fpga: fpga, workloads: workloads)
        }
    }

    static func value(_ c: HardwareConfig, _ name: String) -> Int {
        switch name {
        case "LOG_BATCH": return c.logBatch
        case "LOG_BLOCK_IN": return c.logBlockIn
        case "LOG_BLOCK_OUT": return c.logBlockOut
        case "LOG_INP_BUFF_SIZE": return c.logInpBuffSize
        case "LOG_WGT_BUFF_SIZE": return c.logWgtBuffSize
        case "LOG_ACC_BUFF_SIZE": return c.logAccBuffSize
        default: return c.axiWidth
        }
    }

    public var size: Int { knobs.reduce(1) { $0 * $1.choices.count } }

    /// The configuration at knob positions `p`.
    public func config(_ p: [Int]) -> HardwareConfig {
        var c = base
        for (k, knob) in knobs.enumerated() {
            Self.assign(knob.name, knob.choices[min(max(0, p[k]), knob.choices.count - 1)], to: &c)
        }
        return c
    }

    /// Sets a knob as ``HardwareConfig/set(_:to:)`` would, without the text round trip (the
    /// census builds configurations by the hundred thousand): a value the key refuses leaves it.
    static func assign(_ name: String, _ v: Int, to c: inout HardwareConfig) {
        guard let range = HardwareConfig.range(of: name), range.contains(v) else { return }
        switch name {
        case "LOG_BATCH": c.logBatch = v
        case "LOG_BLOCK_IN": c.logBlockIn = v
        case "LOG_BLOCK_OUT": c.logBlockOut = v
        case "LOG_INP_BUFF_SIZE": c.logInpBuffSize = v
        case "LOG_WGT_BUFF_SIZE": c.logWgtBuffSize = v
        case "LOG_ACC_BUFF_SIZE": c.logAccBuffSize = v
        default: if [64, 128, 256, 512].contains(v) { c.axiWidth = v }
        }
    }

    /// Positions of a configuration, if every knob value is one of the choices.
    public func positions(_ c: HardwareConfig) -> [Int]? {
        var out: [Int] = []
        for knob in knobs {
            guard let i = knob.choices.firstIndex(of: Self.value(c, knob.name)) else { return nil }
            out.append(i)
        }
        return out
    }

    /// Whether `c` is a point of this space: each knob at one of its choices, everything else
    /// the base's. A records file can hold configurations of other spaces (another fork branch,
    /// another board); a search over this one must not hand them on as its result.
    public func contains(_ c: HardwareConfig) -> Bool { positions(c).map { config($0) == c } ?? false }

    /// Why the point cannot be built or used, or nil.
    public func problem(_ c: HardwareConfig) -> String? {
        let spec = HardwareSpec(c)
        return Self.buildProblem(spec, fpga) ?? packingProblem(spec)
    }

    /// Why no layer-independent VTA can be built from `spec` on `fpga`: the ISA, the element and
    /// buffer sizes, the board's DSP and block RAM.
    static func buildProblem(_ spec: HardwareSpec, _ fpga: FPGA?) -> String? {
        if let r = spec.invalidReason { return r.description }
        if let r = fpga?.misfit(spec) { return r.description }
        return nil
    }

    /// Why some layer of the model cannot be packed for `spec`'s block shape, or nil. Buffer
    /// sizes play no part.
    func packingProblem(_ spec: HardwareSpec) -> String? {
        for w in workloads { if let p = w.packingProblem(spec) { return p } }
        return nil
    }

    /// Features of a configuration for the global cost model (log2 sizes, normalized).
    public static func features(_ c: HardwareConfig) -> [Float] {
        [
            Float(c.logBatch), Float(c.logBlockIn), Float(c.logBlockOut), Float(c.logInpBuffSize) / 4,
            Float(c.logWgtBuffSize) / 4, Float(c.logAccBuffSize) / 4, Float(c.axiWidth) / 128,
        ]
    }
}
