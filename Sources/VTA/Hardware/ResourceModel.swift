/// FPGA parts VTA is built for, and an estimate of what a configuration needs on them, so that a
/// hardware search optimizes under an honest, fixed budget.
///
/// The estimate (coefficients also in the README):
/// - DSP slices: ceil(BATCH x BLOCK_IN x BLOCK_OUT / 2): each DSP48 computes two int8 products
///   (the usual packing of two 8-bit multiplies sharing one operand).
/// - Block RAM: each on-chip buffer (uop, inp, wgt, acc, and the int8 out buffer beside acc) is
///   built from 36 Kb blocks in the cheapest aspect ratio (512x72, 1Kx36, 2Kx18, 4Kx9, 8Kx4,
///   16Kx2, 32Kx1): blocks = ceil(width / w) x ceil(depth / d). UltraRAM (288 Kb, 4Kx72) counts as
///   eight 36 Kb blocks of capacity.
///
/// Each board is one row of ``boards``: its resource budget, the AXI widths its PS-PL ports offer
/// and the clock and TARGET of its vta_config.json. The CLI, the hardware search and a
/// vta_config.json's board defaults all read that row, so a new board is one new row.
public struct FPGA: Hashable, Sendable {
    public let name: String
    /// Other names the board goes by (e.g. TVM's `pynq`).
    public let aliases: [String]
    public let part: String
    public let dsp: Int
    public let bram36: Int
    public let uram: Int
    /// AXI data widths the PS-PL ports offer: 64 on Zynq-7000, 64 or 128 on Zynq UltraScale+.
    public let axiWidths: [Int]
    public let clockMHz: Double
    /// The TARGET its vta_config.json names.
    public let target: String

    /// The widest AXI port: what a vta_config.json naming this board's TARGET gets by default.
    public var defaultAXIWidth: Int { axiWidths.max()! }

    /// Block RAM capacity in 36 Kb blocks, UltraRAM included.
    public var memoryBlocks: Int { bram36 + 8 * uram }

    public static let boards: [FPGA] = [
        FPGA(
            name: "pynq-z1", aliases: ["pynq"], part: "xc7z020", dsp: 220, bram36: 140, uram: 0,
            axiWidths: [64], clockMHz: 100, target: "pynq"),
        FPGA(
            name: "ultra96", aliases: [], part: "zu3eg", dsp: 360, bram36: 216, uram: 0,
            axiWidths: [64, 128], clockMHz: 333, target: "ultra96"),
        FPGA(
            name: "zcu104", aliases: [], part: "zu7ev", dsp: 1728, bram36: 312, uram: 96,
            axiWidths: [64, 128], clockMHz: 333, target: "zcu104"),
    ]

    /// The board a command targets when none is named.
    public static var defaultBoard: FPGA { boards[0] }

    /// A board by name, alias, part or vta_config TARGET (pynq-z1, pynq, xc7z020, ultra96, zu3eg, zcu104,
    /// zu7ev).
    public static func named(_ name: String) -> FPGA? {
        let n = name.lowercased()
        return boards.first { $0.name == n || $0.aliases.contains(n) || $0.part == n || $0.target == n }
    }

    /// Why the configuration does not fit this part, or nil.
    public func misfit(_ spec: HardwareSpec) -> InvalidReason? {
        let need = ResourceEstimate(spec)
        if need.dsp > dsp {
            return InvalidReason(
                .exceedsFPGA,
                "needs about \(need.dsp) DSP slices for \(spec.macsPerCycle) MACs/cycle; \(name) (\(part)) has \(dsp)")
        }
        if need.bram36 > memoryBlocks {
            return InvalidReason(
                .exceedsFPGA,
                "needs about \(need.bram36) 36Kb block RAMs for its buffers; \(name) (\(part)) has \(memoryBlocks)")
        }
        return nil
    }
}

/// Estimated DSP slices and 36 Kb block RAMs of a configuration.
public struct ResourceEstimate: Hashable, Sendable {
    public let dsp: Int
    public let bram36: Int
    /// Blocks per buffer: uop, inp, wgt, acc, out.
    public let bramByBuffer: [String: Int]

    public init(_ spec: HardwareSpec) {
        dsp = (spec.macsPerCycle + 1) / 2
        let buffers: [(String, Int, Int)] = [
            ("uop", 8 * HardwareSpec.uopBytes, spec.uopDepth),
            ("inp", 8 * spec.inpElemBytes, spec.inpDepth),
            ("wgt", 8 * spec.wgtElemBytes, spec.wgtDepth),
            ("acc", 8 * spec.accElemBytes, spec.accDepth),
            ("out", 8 * spec.outElemBytes, spec.accDepth),
        ]
        var byBuffer: [String: Int] = [:]
        for (name, width, depth) in buffers { byBuffer[name] = Self.blocks(width: width, depth: depth) }
        bramByBuffer = byBuffer
        bram36 = byBuffer.values.reduce(0, +)
    }

    static let aspectRatios = [(512, 72), (1024, 36), (2048, 18), (4096, 9), (8192, 4), (16384, 2), (32768, 1)]

    static func blocks(width: Int, depth: Int) -> Int {
        aspectRatios.map { d, w in ((width + w - 1) / w) * ((depth + d - 1) / d) }.min()!
    }
}
