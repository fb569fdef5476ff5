/// The one bounds check of a LOAD/STORE transfer, shared by the static `ProgramValidator`
/// (against the memory type's DRAM region) and the `FunctionalMachine` (against the whole
/// DRAM image), so the two can never disagree on what a legal transfer is.
extension HardwareSpec {
    /// The first problem with `m` as a (field, message) pair, or nil. `dram` is the byte range the
    /// transfer must stay inside and `dramName` how a message names it. A transfer with an empty
    /// x or y size only moves tokens and is always legal.
    func dmaProblem(_ m: MemoryInsn, dram: Range<Int>, dramName: String) -> (field: String, message: String)? {
        guard m.xSize > 0 && m.ySize > 0 else { return nil }
        let depth = self.depth(m.memoryType)
        let sramElements = m.sramElements
        if m.sramBase + sramElements > depth {
            return (
                "sram_base",
                "\(m.sramBase) + \(sramElements) elements exceeds the \(m.memoryType.name) buffer depth \(depth)"
            )
        }
        if m.ySize > 1 && m.xStride < m.xSize {
            return ("x_stride", "\(m.xStride) is smaller than x_size \(m.xSize)")
        }
        let elemBytes = elementBytes(m.memoryType)
        let first = m.dramBase * elemBytes
        let last = (m.dramBase + (m.ySize - 1) * m.xStride + m.xSize) * elemBytes
        if first < dram.lowerBound || last > dram.upperBound {
            return (
                "dram_base",
                "\(m.dramBase): bytes \(first)..<\(last) fall outside the \(dramName) "
                    + "\(dram.lowerBound)..<\(dram.upperBound)"
            )
        }
        return nil
    }
}
