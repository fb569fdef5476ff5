/// `program.json`: the description of a program directory (format documented in the README).
///
/// A program directory holds a VTA program as VTA's DRAM would hold it: one binary file per DRAM
/// region (instructions, uops, input, weights, accumulators, expected output) and this manifest
/// with the hardware configuration and each region's place in the DRAM image.
public struct ProgramManifest: Codable, Sendable {
    public static let formatName = "vtafarm-program"
    public static let currentVersion = 1

    public struct Region: Codable, Sendable, Equatable {
        /// insn, uop, inp, wgt, acc or out.
        public var name: String
        /// The file holding the region's bytes; absent means zero-filled (for out: no expected output).
        public var file: String?
        /// Byte address of the region's first element in the DRAM image.
        public var base: Int
        public var elementBytes: Int
        public var elements: Int

        enum CodingKeys: String, CodingKey {
            case name, file, base, elements
            case elementBytes = "element_bytes"
        }

        public init(name: String, file: String?, base: Int, elementBytes: Int, elements: Int) {
            self.name = name
            self.file = file
            self.base = base
            self.elementBytes = elementBytes
            self.elements = elements
        }
    }

    public struct Simulated: Codable, Sendable {
        public var cycles: Int
        public var counters: SimCounters
    }

    public var format: String
    public var version: Int
    /// vta_config.json keys plus AXI_WIDTH, MAX_BURST, CLOCK_MHZ and DRAM_LATENCY.
    public var hardware: [String: JSONScalar]
    public var instructions: Int
    public var regions: [Region]
    public var workload: String?
    public var schedule: String?
    public var shift: Int?
    /// Cycles vtafarm simulated when it wrote the directory.
    public var simulated: Simulated?
    /// Cycle counts measured elsewhere (RTL, a board), keyed by DRAM read latency in cycles.
    /// `vtafarm bench calibration` compares the simulator against them.
    public var measuredCycles: [String: Int]?

    enum CodingKeys: String, CodingKey {
        case format, version, hardware, instructions, regions, workload, schedule, shift, simulated
        case measuredCycles = "measured_cycles"
    }

    public init(hardware: HardwareConfig, instructions: Int, regions: [Region]) {
        format = Self.formatName
        version = Self.currentVersion
        self.hardware = hardware.values
        self.instructions = instructions
        self.regions = regions
    }
}
