import VTA

/// The whole buildable space, how big it is, and its maximal buffer settings.
///
/// Two facts make the buildable space cheap to walk. Buildability is monotone in each buffer
/// size: a buffer below two elements is refused, and above that the ISA's index fields and the
/// board's block RAM only grow with it, so for a block shape the buildable buffer settings are
/// a down-closed set above per-buffer minimums. And a schedule's cycles do not depend on the
/// buffer sizes (only whether it fits does, and larger buffers fit more), so only the maximal
/// settings of that set can hold a block shape's optimum.
extension HardwareSpace {
    /// How far a hardware space reaches.
    public enum Extent: String, Sendable, CaseIterable {
        /// Every value of LOG_BLOCK_IN/OUT and of each buffer size that some buildable
        /// configuration uses (ISA fits, board fits, every layer packs), the board's AXI widths,
        /// and LOG_BATCH only as far as every layer's batch allows.
        case buildable
        /// The stock VTA's neighbourhood: LOG_BATCH 0-1, LOG_BLOCK_IN/OUT 3-5, each buffer the
        /// stock size -2..+2 (log2), the board's AXI widths.
        case stock
    }

    /// The size of a space: knob points, the buildable ones, and how few of those matter.
    public struct Census: Sendable, Equatable, CustomStringConvertible {
        /// Points of the knob product.
        public let points: Int
        /// Points that can be built and used (``HardwareSpace/problem(_:)`` is nil).
        public let buildable: Int
        /// Buildable points no buffer of which can grow by one choice and stay buildable.
        public let maximal: Int
        /// (LOG_BATCH, LOG_BLOCK_IN, LOG_BLOCK_OUT) shapes with at least one buildable point.
        public let shapes: Int

        public var description: String {
            "\(formatCycles(buildable)) buildable configurations of \(formatCycles(points)) knob points "
                + "(\(shapes) block shapes), \(formatCycles(maximal)) with maximal buffers"
        }
    }

    static let bufferKnobNames = ["LOG_INP_BUFF_SIZE", "LOG_WGT_BUFF_SIZE", "LOG_ACC_BUFF_SIZE"]

    /// The knobs of ``Extent/buildable``: every block shape with a buildable point, and each
    /// buffer's values from the smallest that holds two elements to the largest buildable with
    /// the other buffers at their minimum, over those shapes.
    static func buildableKnobs(base: HardwareConfig, fpga: FPGA?, workloads: [Workload]) -> [Knob] {
        let batchBits = workloads.map { $0.batch.trailingZeroBitCount }.min() ?? 0
        let batchRange = HardwareConfig.range(of: "LOG_BATCH")!
        let batches = Array(batchRange.lowerBound...min(batchRange.upperBound, batchBits))
        let blocks = HardwareConfig.range(of: "LOG_BLOCK_IN")!
        let axis = fpga?.axiWidths ?? [64, 128]
        let probe = HardwareSpace(base: base, fpga: fpga, workloads: workloads, extent: .stock)
        var blockIns = Set<Int>()
        var blockOuts = Set<Int>()
        var buffers = [ClosedRange<Int>?](repeating: nil, count: bufferKnobNames.count)
        for batch in batches {
            for blockIn in blocks {
                for blockOut in blocks {
                    var shape = base
                    shape.logBatch = batch
                    shape.logBlockIn = blockIn
                    shape.logBlockOut = blockOut
                    guard probe.packingProblem(HardwareSpec(shape)) == nil else { continue }
                    for axi in axis {
                        shape.axiWidth = axi
                        guard let reach = probe.bufferReach(shape) else { continue }
                        blockIns.insert(blockIn)
                        blockOuts.insert(blockOut)
                        for (k, r) in reach.enumerated() {
                            buffers[k] =
                                buffers[k].map { min($0.lowerBound, r.lowerBound)...max($0.upperBound, r.upperBound) }
                                ?? r
                        }
                    }
                }
            }
        }
        // A model no VTA of this board can run keeps the stock neighbourhood, so that every
        // point is reported unbuildable with its reason rather than the space being empty.
        guard !blockIns.isEmpty else { return probe.knobs }
        return [
            Knob(name: "LOG_BATCH", choices: batches),
            Knob(name: "LOG_BLOCK_IN", choices: blockIns.sorted()),
            Knob(name: "LOG_BLOCK_OUT", choices: blockOuts.sorted()),
        ] + zip(bufferKnobNames, buffers).map { Knob(name: $0, choices: Array($1!)) } + [
            Knob(name: "AXI_WIDTH", choices: axis)
        ]
    }

    /// For a block shape and AXI width (buffers as in `shape` ignored): each buffer's values from
    /// its two-element minimum up to the largest buildable with the others at their minimum, or
    /// nil when even the minimums cannot be built.
    func bufferReach(_ shape: HardwareConfig) -> [ClosedRange<Int>]? {
        var low = shape
        for name in Self.bufferKnobNames {
            guard
                let least = HardwareConfig.range(of: name)!.first(where: { v in
                    var c = low
                    Self.assign(name, v, to: &c)
                    return Self.bufferDepthLog(name, HardwareSpec(c)) >= 1
                })
            else { return nil }
            Self.assign(name, least, to: &low)
        }
        guard Self.buildProblem(HardwareSpec(low), fpga) == nil else { return nil }
        return Self.bufferKnobNames.map { name in
            let least = Self.value(low, name)
            var most = least
            var c = low
            for v in stride(from: least + 1, through: HardwareConfig.range(of: name)!.upperBound, by: 1) {
                Self.assign(name, v, to: &c)
                if Self.buildProblem(HardwareSpec(c), fpga) != nil { break }
                most = v
            }
            return least...most
        }
    }

    static func bufferDepthLog(_ name: String, _ spec: HardwareSpec) -> Int {
        switch name {
        case "LOG_INP_BUFF_SIZE": return spec.logInpDepth
        case "LOG_WGT_BUFF_SIZE": return spec.logWgtDepth
        default: return spec.logAccDepth
        }
    }

    /// Counts the space: every point of the knob product, the buildable ones and the maximal ones.
    public var census: Census {
        var buildable = 0
        var maximal = 0
        var shapes = Set<[Int]>()
        walkBuildable { shape, count, maximalHere in
            buildable += count
            maximal += maximalHere.count
            shapes.insert([shape.logBatch, shape.logBlockIn, shape.logBlockOut])
        }
        return Census(points: size, buildable: buildable, maximal: maximal, shapes: shapes.count)
    }

    /// Every buildable point with maximal buffers, in knob order.
    public var maximalPoints: [HardwareConfig] {
        var out: [HardwareConfig] = []
        walkBuildable { _, _, maximalHere in out += maximalHere }
        return out
    }

    /// `c` with its buffers grown, one choice at a time round-robin, while it stays buildable:
    /// a maximal point no slower than `c` for any schedule (cycles do not depend on buffer sizes,
    /// and a larger buffer holds every tile a smaller one did). `c` itself when it is not buildable
    /// or its buffers are not choices of this space.
    public func maximal(_ c: HardwareConfig) -> HardwareConfig {
        guard problem(c) == nil else { return c }
        let indices = Self.bufferKnobNames.compactMap { name in knobs.firstIndex { $0.name == name } }
        guard var p = positions(c) else { return c }
        var grew = true
        while grew {
            grew = false
            for k in indices where p[k] + 1 < knobs[k].choices.count {
                var next = p
                next[k] += 1
                if problem(config(next)) == nil {
                    p = next
                    grew = true
                }
            }
        }
        return config(p)
    }

    /// Walks every block shape and AXI width of the knob product that has a buildable point,
    /// calling `body` with one of its points, its number of buildable points and its maximal points. Per input and
    /// weight buffer choice, the buildable accumulator choices are an interval from the
    /// two-element minimum up, whose top only falls as the weight buffer grows: one pass down
    /// the accumulator list per input choice finds every top.
    func walkBuildable(_ body: (HardwareConfig, Int, [HardwareConfig]) -> Void) {
        let named = Dictionary(uniqueKeysWithValues: knobs.enumerated().map { ($1.name, $0) })
        let (inp, wgt, acc) = (named["LOG_INP_BUFF_SIZE"]!, named["LOG_WGT_BUFF_SIZE"]!, named["LOG_ACC_BUFF_SIZE"]!)
        let outer = knobs.indices.filter { ![inp, wgt, acc].contains($0) }
        var p = [Int](repeating: 0, count: knobs.count)
        func forEachOuter(_ i: Int, _ visit: () -> Void) {
            guard i < outer.count else { return visit() }
            for v in knobs[outer[i]].choices.indices {
                p[outer[i]] = v
                forEachOuter(i + 1, visit)
            }
        }
        let (ni, nw, na) = (knobs[inp].choices.count, knobs[wgt].choices.count, knobs[acc].choices.count)
        forEachOuter(0) {
            guard packingProblem(HardwareSpec(config(p))) == nil else { return }
            func ok(_ i: Int, _ w: Int, _ a: Int) -> Bool {
                var q = p
                (q[inp], q[wgt], q[acc]) = (i, w, a)
                return Self.buildProblem(HardwareSpec(config(q)), fpga) == nil
            }
            func least(_ knob: Int) -> Int {
                knobs[knob].choices.indices.first { v in
                    var q = p
                    q[knob] = v
                    return Self.bufferDepthLog(knobs[knob].name, HardwareSpec(config(q))) >= 1
                } ?? knobs[knob].choices.count
            }
            let (li, lw, la) = (least(inp), least(wgt), least(acc))
            guard li < ni, lw < nw, la < na else { return }
            // top[i][w]: the highest buildable accumulator choice, or la - 1 when there is none.
            var top = [[Int]](repeating: [Int](repeating: la - 1, count: nw), count: ni)
            var count = 0
            for i in li..<ni {
                var t = na - 1
                for w in lw..<nw {
                    while t >= la && !ok(i, w, t) { t -= 1 }
                    if t < la { break }
                    top[i][w] = t
                    count += t - la + 1
                }
                if top[i][lw] < la { break }
            }
            guard count > 0 else { return }
            var maximal: [HardwareConfig] = []
            for i in li..<ni {
                for w in lw..<nw where top[i][w] >= la {
                    let t = top[i][w]
                    let up = i + 1 < ni ? top[i + 1][w] : la - 1
                    let right = w + 1 < nw ? top[i][w + 1] : la - 1
                    if up < t && right < t {
                        var q = p
                        (q[inp], q[wgt], q[acc]) = (i, w, t)
                        maximal.append(config(q))
                    }
                }
            }
            body(config(p), count, maximal)
        }
    }
}
