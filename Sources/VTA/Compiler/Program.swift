/// One region of VTA's DRAM: where a tensor (or the instruction stream, or the uops) lives.
/// Bases are page-aligned, so `base | (dram_base << log2(element bytes))` equals an addition.
public struct DRAMRegion: Hashable, Sendable {
    public enum Name: String, Sendable, CaseIterable { case insn, uop, inp, wgt, acc, out }
    public var name: Name
    public var base: Int
    public var elementBytes: Int
    public var elements: Int
    public var bytes: Int { elementBytes * elements }
    /// The region's first element as a `dram_base` value.
    public var baseElement: Int { base / elementBytes }
}

/// A compiled VTA program: the instruction stream, the uops, and the DRAM layout of every tensor.
public struct Program: Sendable {
    public let spec: HardwareSpec
    public var instructions: [Instruction]
    public var uops: [Uop]
    public var regions: [DRAMRegion]
    public var workload: Workload?
    public var schedule: Schedule?

    public init(
        spec: HardwareSpec, instructions: [Instruction], uops: [Uop], regions: [DRAMRegion],
        workload: Workload? = nil, schedule: Schedule? = nil
    ) {
        self.spec = spec
        self.instructions = instructions
        self.uops = uops
        self.regions = regions
        self.workload = workload
        self.schedule = schedule
    }

    public func region(_ name: DRAMRegion.Name) -> DRAMRegion? { regions.first { $0.name == name } }

    /// Total DRAM bytes spanned by the regions.
    public var dramBytes: Int { regions.map { $0.base + $0.bytes }.max() ?? 0 }

    /// Lays out regions one after another, each on a 4 KiB page boundary.
    static func layout(_ items: [(DRAMRegion.Name, Int, Int)]) -> [DRAMRegion] {
        let page = 4096
        var next = 0
        var out: [DRAMRegion] = []
        for (name, elemBytes, elements) in items {
            out.append(DRAMRegion(name: name, base: next, elementBytes: elemBytes, elements: elements))
            next = (next + elemBytes * elements + page - 1) / page * page
            if elemBytes * elements == 0 { next += page }
        }
        return out
    }
}
