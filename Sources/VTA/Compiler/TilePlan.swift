/// The static half of compilation: the tiling a schedule implies and every check VTA applies to
/// it, without emitting a single instruction. The search uses it as its exact validity filter
/// for the built-in backend (it is cheap: no loops over tiles).
public struct TilePlan: Hashable, Sendable {
    public let workload: Workload
    public let schedule: Schedule
    // packed extents
    let nb: Int, cib: Int, cob: Int
    let oh: Int, ow: Int
    // outer trip counts
    let bOuter: Int, hOuter: Int, wOuter: Int, ciOuter: Int, coOuter: Int
    let threads: Int
    // per-thread tile footprint
    let tileInH: Int, tileInW: Int
    let inpTile: Int, wgtTile: Int, accTile: Int
    let gemmKernel: Int, rowsKernel: Int
    var isDense: Bool { workload.kind == .dense }

    /// Checks a schedule against the workload and hardware; returns the plan or why it is invalid.
    public static func make(_ w: Workload, _ s: Schedule, _ spec: HardwareSpec) -> Result<TilePlan, InvalidReason> {
        if let reason = spec.invalidReason { return .failure(reason) }
        if let problem = w.packingProblem(spec) { return .failure(InvalidReason(.shapeNotPacked, problem)) }
        let nb = w.batch / spec.batch
        let cib = w.inChannels / spec.blockIn
        let cob = w.outChannels / spec.blockOut
        let oh = w.outHeight
        let ow = w.outWidth
        let isDense = w.kind == .dense
        let knobs: [(String, Int, Int)] = [
            ("tile_b", s.tileB, nb), ("tile_h", s.tileH, oh), ("tile_w", s.tileW, ow),
            ("tile_ci", s.tileCI, cib), ("tile_co", s.tileCO, cob),
        ]
        for (name, value, extent) in knobs where value < 1 || value > extent || extent % value != 0 {
            return .failure(
                InvalidReason(.knobNotDivisor, "\(name)=\(value) does not divide the packed extent \(extent)"))
        }
        for (name, value) in [("h_nthread", s.hThreads), ("oc_nthread", s.ocThreads)] where value != 1 && value != 2 {
            return .failure(InvalidReason(.knobNotDivisor, "\(name)=\(value) must be 1 or 2"))
        }
        if isDense && (s.hThreads != 1) {
            return .failure(InvalidReason(.knobNotDivisor, "dense has no h_nthread (must be 1)"))
        }
        let hOuter = oh / s.tileH
        let coOuter = cob / s.tileCO
        if hOuter % s.hThreads != 0 {
            return .failure(
                InvalidReason(
                    .threadSplitUneven, "h_nthread=\(s.hThreads) does not divide the \(hOuter) outer row tiles"))
        }
        if coOuter % s.ocThreads != 0 {
            return .failure(
                InvalidReason(
                    .threadSplitUneven, "oc_nthread=\(s.ocThreads) does not divide the \(coOuter) outer channel tiles"))
        }
        let threads = s.hThreads * s.ocThreads
        let tileInH = (s.tileH - 1) * w.stride + w.kernelH
        let tileInW = (s.tileW - 1) * w.stride + w.kernelW
        let inpTile = s.tileB * s.tileCI * tileInH * tileInW
        let wgtTile = s.tileCO * s.tileCI * w.kernelH * w.kernelW
        let accTile = s.tileB * s.tileCO * s.tileH * s.tileW
        let vt = threads > 1 ? " x \(threads) virtual threads" : ""
        if inpTile * threads > spec.inpDepth {
            return .failure(
                InvalidReason(
                    .inpBufferOverflow,
                    "input tile of \(inpTile) elements\(vt) exceeds the \(spec.inpDepth)-element input buffer"))
        }
        if wgtTile * threads > spec.wgtDepth {
            return .failure(
                InvalidReason(
                    .wgtBufferOverflow,
                    "weight tile of \(wgtTile) blocks\(vt) exceeds the \(spec.wgtDepth)-block weight buffer"))
        }
        if accTile * threads > spec.accDepth {
            return .failure(
                InvalidReason(
                    .accBufferOverflow,
                    "accumulator tile of \(accTile) rows\(vt) exceeds the \(spec.accDepth)-row accumulator buffer"))
        }
        let gemmKernel = isDense ? s.tileCO * s.tileB : s.tileB * s.tileCI * w.kernelH * w.kernelW * s.tileW
        let rowsKernel = s.tileB * s.tileW
        if (gemmKernel + rowsKernel) * threads > spec.uopDepth {
            return .failure(
                InvalidReason(
                    .uopBufferOverflow,
                    "uop kernels of \(gemmKernel + rowsKernel) uops\(vt) exceed the \(spec.uopDepth)-uop buffer"))
        }
        if w.pad > ISALayout.maxPad {
            let limit = "\(ISALayout.memPadWidth)-bit pad fields (max \(ISALayout.maxPad))"
            return .failure(InvalidReason(.padTooLarge, "padding \(w.pad) exceeds the \(limit)"))
        }
        if tileInH <= w.pad || tileInW <= w.pad {
            // The first tile's window would hold no real input row or column: a LOAD with
            // x_size or y_size 0 is a no-op on VTA and would not write its padding.
            return .failure(
                InvalidReason(
                    .dmaNotExpressible,
                    "a tile's input window (\(tileInH)x\(tileInW)) lies entirely in the padding (\(w.pad))"))
        }
        let plan = TilePlan(
            workload: w, schedule: s, nb: nb, cib: cib, cob: cob, oh: oh, ow: ow,
            bOuter: nb / s.tileB, hOuter: hOuter, wOuter: ow / s.tileW, ciOuter: cib / s.tileCI,
            coOuter: coOuter, threads: threads, tileInH: tileInH, tileInW: tileInW,
            inpTile: inpTile, wgtTile: wgtTile, accTile: accTile,
            gemmKernel: gemmKernel, rowsKernel: rowsKernel)
        if let hazard = plan.gemmHazard() { return .failure(hazard) }
        if let overflow = plan.fieldOverflow(spec) { return .failure(overflow) }
        return .success(plan)
    }

    /// The GEMM loop of one chunk (thread 0): its uops' destination rows and the loop factors.
    var gemmDstPattern: (dst: [Int], iterOut: Int, iterIn: Int, dstOut: Int, dstIn: Int) {
        let s = schedule
        let w = workload
        var dst: [Int] = []
        dst.reserveCapacity(gemmKernel)
        if isDense {
            for co in 0..<s.tileCO { for b in 0..<s.tileB { dst.append(co * s.tileB + b) } }
            return (dst, s.tileCI, 1, 0, 0)
        }
        for b in 0..<s.tileB {
            for _ in 0..<(s.tileCI * w.kernelH * w.kernelW) {
                for x in 0..<s.tileW { dst.append(b * s.tileH * s.tileW + x) }
            }
        }
        return (dst, s.tileCO, s.tileH, s.tileB * s.tileH * s.tileW, s.tileW)
    }

    /// VTA's runtime refuses a uop that writes the accumulator row written by either of the two
    /// uops executed before it (the GEMM pipeline would read a stale sum). Walks the executed
    /// sequence of destination rows, across loop iterations. The sequence shifts by the same
    /// offsets every iteration, so the first three outer iterations and, within each, the first
    /// and last three inner ones contain every adjacency pattern; the rest is skipped.
    func gemmHazard() -> InvalidReason? {
        let p = gemmDstPattern
        var last1 = -1
        var last2 = -1
        for o in 0..<min(p.iterOut, 3) {
            for i in 0..<p.iterIn {
                if i > 2 && i < p.iterIn - 3 {
                    last1 = -1
                    last2 = -1  // a gap in the walk: no adjacency across it
                    continue
                }
                let offset = o * p.dstOut + i * p.dstIn
                for d in p.dst {
                    let row = d + offset
                    if row == last1 || row == last2 {
                        return InvalidReason(
                            .accWriteHazard,
                            "a GEMM uop writes accumulator row \(row) again within two uops (tile_w/tile_b too small for the reduction)"
                        )
                    }
                    last2 = last1
                    last1 = row
                }
            }
        }
        return nil
    }

    /// Fields the emitted instructions would overflow (loop counts, factors, DMA sizes).
    /// Tile groups the emitter walks: (b, h per thread, co per thread, w) outer tiles.
    var groups: Int { bOuter * (hOuter / schedule.hThreads) * (coOuter / schedule.ocThreads) * wOuter }

    /// Instructions the emitter will produce, or nil if the count overflows `Int`: two for the
    /// uop load and FINISH, and per thread and group a reset, per CI tile its loads and GEMM, the
    /// epilogue and the stores.
    var instructionCount: Int? {
        let s = schedule
        let (loads, o1) = s.tileB.multipliedReportingOverflow(by: s.tileCI)
        let (perCI, o2) = ciOuter.multipliedReportingOverflow(by: loads &+ 2)
        let (stores, o3) = s.tileCO.multipliedReportingOverflow(by: s.tileB)
        guard !o1 && !o2 && !o3, let body = Workload.checkedProduct([groups, threads, 1 + perCI + 3 + stores]) else {
            return nil
        }
        let (count, o4) = body.addingReportingOverflow(2)
        return o4 ? nil : count
    }

    func fieldOverflow(_ spec: HardwareSpec) -> InvalidReason? {
        let isa = spec.isa
        let iterMax = isa.maxLoopIter
        let sizeMax = ISALayout.maxSize
        let s = schedule
        let w = workload
        let checks: [(String, Int, Int)] = [
            ("iter_out", isDense ? s.tileCI : s.tileCO, iterMax),
            ("iter_in", isDense ? 1 : s.tileH, iterMax),
            ("x_stride", w.width, sizeMax),
            ("x_stride (weights)", cib * w.kernelH * w.kernelW, sizeMax),
            ("x_stride (output)", ow, sizeMax),
            ("x_size (weights)", s.tileCI * w.kernelH * w.kernelW, sizeMax),
            ("src_factor_in", isDense ? 0 : w.stride * tileInW, Int(isa.field(isa.gemm, "src_factor_in").maxValue)),
        ]
        for (name, value, limit) in checks where value > limit {
            return InvalidReason(.fieldOverflow, "\(name)=\(value) does not fit its field (max \(limit))")
        }
        return nil
    }
}
