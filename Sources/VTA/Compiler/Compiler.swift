/// Lowers a (workload, schedule, hardware) triple to a VTA program, following the loop
/// structure of AutoTVM's conv2d_packed / dense templates.
///
/// Loop nest (outer to inner): b_o, h0, co0, w0 over tile groups; each group holds one tile per
/// virtual thread (h_nthread x oc_nthread), every thread owning its own slice of the inp, wgt
/// and acc buffers. Per group: a reset GEMM per thread; for each input-channel chunk, every
/// thread's padded LOAD INPs and LOAD WGT, then every thread's GEMM; then each thread's ALU
/// epilogue (SHR, MAX 0, MIN 127) and STOREs. Dependency tokens:
/// - load -> compute (RAW): a chunk's last load pushes, its GEMM pops;
/// - compute -> load (WAR): a GEMM pushes when it is done with its thread's inp/wgt slice, the
///   next load into that slice pops;
/// - compute -> store (RAW): a tile's last ALU pushes, its first STORE pops;
/// - store -> compute (WAR): a tile's last STORE pushes, the reset of the thread's next tile pops;
///   the very last STORE pushes for FINISH.
/// Every push has exactly one pop, so the program ends with empty token queues. With one thread
/// the modules take turns; with two, one thread's loads overlap the other's GEMMs.
///
/// GEMM lowering. conv2d: iter_out = tile_co, iter_in = tile_h, uops over (b, ci, kh, kw, w)
/// with w innermost (as the template's x_inn). dense: iter_out = tile_ci (the reduction),
/// iter_in = 1, uops over (co, b). The epilogue and reset use a "rows" kernel over (b, w).
public enum Compiler {
    /// The most instructions one program may have (256 MiB encoded): the compiler reserves the whole
    /// stream up front, so a valid-shaped but enormous schedule (every tile 1 on a 1024^2 x 1024
    /// layer: 10^10 instructions) must be refused before, not die allocating. resnet18's largest
    /// schedule needs under 10^6.
    public static let maxInstructions = 1 << 24

    /// The most bytes a program's DRAM image may span (instructions, uops, input, weights and
    /// output, as `Program.dramBytes`): whoever runs it on data (`command:PATH`, which writes it
    /// as a program directory; `sim --verify`) allocates all of it, and a few instructions can
    /// describe gigabytes of tensors (dense CI=CO=2^16 holds 4 GiB of weights). 512 MiB; the
    /// largest zoo layer needs under 16 MiB.
    public static let maxProgramBytes = 1 << 29

    /// Compiles, or says why VTA cannot run this configuration. Never traps on any knob values.
    /// Past `deadline` it stops and fails with `deadline_exceeded`, so a runner's timeout covers
    /// compiling (up to `maxInstructions` take seconds), not only simulating.
    public static func compile(
        _ workload: Workload, _ schedule: Schedule, _ spec: HardwareSpec,
        shift: Int = 8, deadline: ContinuousClock.Instant? = nil
    )
        -> Result<Program, InvalidReason>
    {
        do { try workload.validate() } catch { return .failure(InvalidReason(.badWorkload, "\(error)")) }
        switch TilePlan.make(workload, schedule, spec) {
        case .failure(let reason): return .failure(reason)
        case .success(let plan):
            guard ISALayout.immRange.contains(shift) else {
                let field = "the \(ISALayout.immWidth)-bit ALU immediate"
                return .failure(InvalidReason(.fieldOverflow, "shift \(shift) does not fit \(field)"))
            }
            guard let count = plan.instructionCount, count <= maxInstructions else {
                let n = plan.instructionCount.map { "\($0)" } ?? "more than 2^63"
                return .failure(
                    InvalidReason(
                        .programTooLarge,
                        "\(n) instructions exceed the compiler's limit of "
                            + "\(maxInstructions) (maxInstructions)"))
            }
            // Sizes within Workload.maxSize (2^40) each, so this sum cannot overflow.
            let bytes = Program(
                spec: spec, instructions: [], uops: [],
                regions: regions(
                    workload, spec, uops: spec.uopDepth, instructions: count)
            ).dramBytes
            guard bytes <= maxProgramBytes else {
                return .failure(
                    InvalidReason(
                        .programTooLarge,
                        "the program's DRAM image of \(bytes) bytes exceeds the compiler's limit of "
                            + "\(maxProgramBytes) bytes (maxProgramBytes)"))
            }
            var emitter = Emitter(plan: plan, spec: spec, shift: shift, deadline: deadline)
            emitter.emit()
            if emitter.stopped {
                return .failure(InvalidReason(.deadlineExceeded, "compiling \(count) instructions passed the deadline"))
            }
            let program = Program(
                spec: spec, instructions: emitter.insns, uops: emitter.uops,
                regions: emitter.regions, workload: workload, schedule: schedule)
            // Belt and braces: every instruction and uop must encode. The plan's checks should
            // have caught any overflow, so a failure here is reported, never trapped.
            for insn in program.instructions {
                do { _ = try spec.encode(insn) } catch let e as ISAError {
                    return .failure(InvalidReason(.fieldOverflow, "\(insn.kind) \(e.description)"))
                } catch { return .failure(InvalidReason(.fieldOverflow, "\(error)")) }
            }
            for uop in program.uops {
                do { _ = try spec.encode(uop) } catch {
                    return .failure(InvalidReason(.fieldOverflow, "uop \(error)"))
                }
            }
            return .success(program)
        }
    }

    /// The DRAM layout a workload uses (shared by the compiler and the tensor packers).
    static func regions(_ w: Workload, _ spec: HardwareSpec, uops: Int, instructions: Int) -> [DRAMRegion] {
        let nb = w.batch / spec.batch
        let cib = w.inChannels / spec.blockIn
        let cob = w.outChannels / spec.blockOut
        return Program.layout([
            (.insn, HardwareSpec.instructionBytes, instructions),
            (.uop, HardwareSpec.uopBytes, uops),
            (.inp, spec.inpElemBytes, nb * cib * w.height * w.width),
            (.wgt, spec.wgtElemBytes, cob * cib * w.kernelH * w.kernelW),
            (.out, spec.outElemBytes, nb * cob * w.outHeight * w.outWidth),
        ])
    }
}

/// Emits the instruction stream for a checked plan.
private struct Emitter {
    let plan: TilePlan
    let spec: HardwareSpec
    let shift: Int
    var insns: [Instruction] = []
    var uops: [Uop] = []
    var regions: [DRAMRegion] = []
    /// Per thread: offsets of its GEMM and rows kernels in the uop buffer.
    var gemmKernelAt: [Int] = []
    var rowsKernelAt: [Int] = []

    let deadline: ContinuousClock.Instant?
    /// Set when `deadline` passed: the stream is then incomplete.
    var stopped = false

    init(plan: TilePlan, spec: HardwareSpec, shift: Int, deadline: ContinuousClock.Instant?) {
        self.plan = plan
        self.spec = spec
        self.shift = shift
        self.deadline = deadline
    }

    var s: Schedule { plan.schedule }
    var w: Workload { plan.workload }

    mutating func buildUops() {
        let kh = w.kernelH
        let kw = w.kernelW
        let stride = w.stride
        for t in 0..<plan.threads {
            let inpBase = t * plan.inpTile
            let wgtBase = t * plan.wgtTile
            let accBase = t * plan.accTile
            gemmKernelAt.append(uops.count)
            if plan.isDense {
                for co in 0..<s.tileCO {
                    for b in 0..<s.tileB {
                        uops.append(
                            Uop(
                                dst: accBase + co * s.tileB + b, src: inpBase + b * s.tileCI,
                                wgt: wgtBase + co * s.tileCI))
                    }
                }
            } else {
                for b in 0..<s.tileB {
                    for c in 0..<s.tileCI {
                        for y in 0..<kh {
                            for x in 0..<kw {
                                for ox in 0..<s.tileW {
                                    let src =
                                        inpBase + ((b * s.tileCI + c) * plan.tileInH + y) * plan.tileInW + ox * stride
                                        + x
                                    uops.append(
                                        Uop(
                                            dst: accBase + b * s.tileH * s.tileW + ox, src: src,
                                            wgt: wgtBase + (c * kh + y) * kw + x))
                                }
                            }
                        }
                    }
                }
            }
            rowsKernelAt.append(uops.count)
            for b in 0..<s.tileB {
                for ox in 0..<s.tileW {
                    let row = accBase + b * s.tileH * s.tileW + ox
                    uops.append(Uop(dst: row, src: row, wgt: 0))
                }
            }
        }
    }

    /// The loop of the rows kernel over a thread's accumulator tile: (co, h) around (b, w).
    func rowsLoop(_ t: Int) -> UopLoop {
        let coStep = s.tileB * s.tileH * s.tileW
        return UopLoop(
            uopBegin: rowsKernelAt[t], uopEnd: rowsKernelAt[t] + plan.rowsKernel,
            iterOut: s.tileCO, iterIn: s.tileH,
            dstFactorOut: coStep, dstFactorIn: s.tileW, srcFactorOut: coStep, srcFactorIn: s.tileW)
    }

    func gemm(_ t: Int, deps: DepFlags) -> Instruction {
        let kernel = UopLoop(
            uopBegin: gemmKernelAt[t], uopEnd: gemmKernelAt[t] + plan.gemmKernel,
            iterOut: 0, iterIn: 0, dstFactorOut: 0, dstFactorIn: 0, srcFactorOut: 0, srcFactorIn: 0)
        var loop = kernel
        if plan.isDense {
            loop.iterOut = s.tileCI
            loop.iterIn = 1
            loop.srcFactorOut = 1
            return .gemm(GemmInsn(deps: deps, loop: loop, wgtFactorOut: 1, wgtFactorIn: 0))
        }
        loop.iterOut = s.tileCO
        loop.iterIn = s.tileH
        loop.dstFactorOut = s.tileB * s.tileH * s.tileW
        loop.dstFactorIn = s.tileW
        loop.srcFactorOut = 0
        loop.srcFactorIn = s.tileH > 1 ? w.stride * plan.tileInW : 0
        return .gemm(GemmInsn(deps: deps, loop: loop, wgtFactorOut: s.tileCI * w.kernelH * w.kernelW, wgtFactorIn: 0))
    }

    mutating func emit() {
        buildUops()
        // Regions need the instruction count, which is known only at the end; compute it first.
        let groups = plan.groups
        let count = plan.instructionCount!
        regions = Compiler.regions(w, spec, uops: uops.count, instructions: count)
        insns.reserveCapacity(count)
        let uopRegion = regions[1]
        let inp = regions[2]
        let wgt = regions[3]
        let out = regions[4]

        // All uop kernels are loaded once, at the start (VTA's runtime caches resident kernels).
        insns.append(
            .load(
                MemoryInsn(
                    memoryType: .uop, sramBase: 0, dramBase: uopRegion.baseElement,
                    ySize: 1, xSize: uops.count, xStride: uops.count)))

        let threads = plan.threads
        let totalTiles = groups * threads
        let totalChunks = totalTiles * plan.ciOuter
        var tileSeq = 0
        var chunkSeq = 0
        let kk = w.kernelH * w.kernelW
        for bo in 0..<plan.bOuter {
            for hg in 0..<(plan.hOuter / s.hThreads) {
                for cg in 0..<(plan.coOuter / s.ocThreads) {
                    for wo in 0..<plan.wOuter {
                        if let deadline, ContinuousClock.now >= deadline {
                            stopped = true
                            return
                        }
                        // thread t = vh * ocThreads + vc
                        func h0(_ t: Int) -> Int { hg * s.hThreads + t / s.ocThreads }
                        func co0(_ t: Int) -> Int { cg * s.ocThreads + t % s.ocThreads }
                        for t in 0..<threads {
                            let deps: DepFlags = tileSeq + t >= threads ? .popNext : []
                            insns.append(.gemm(GemmInsn(deps: deps, reset: true, loop: rowsLoop(t))))
                        }
                        for k in 0..<plan.ciOuter {
                            for t in 0..<threads {
                                let first = insns.count
                                let yStart = h0(t) * s.tileH * w.stride - w.pad
                                let xStart = wo * s.tileW * w.stride - w.pad
                                let yPad0 = max(0, -yStart)
                                let xPad0 = max(0, -xStart)
                                let yPad1 = max(0, yStart + plan.tileInH - w.height)
                                let xPad1 = max(0, xStart + plan.tileInW - w.width)
                                for b in 0..<s.tileB {
                                    for c in 0..<s.tileCI {
                                        let n = bo * s.tileB + b
                                        let cb = k * s.tileCI + c
                                        let elem =
                                            ((n * plan.cib + cb) * w.height + yStart + yPad0) * w.width + xStart + xPad0
                                        insns.append(
                                            .load(
                                                MemoryInsn(
                                                    memoryType: .inp,
                                                    sramBase: t * plan.inpTile + (b * s.tileCI + c) * plan.tileInH
                                                        * plan.tileInW,
                                                    dramBase: inp.baseElement + elem,
                                                    ySize: plan.tileInH - yPad0 - yPad1,
                                                    xSize: plan.tileInW - xPad0 - xPad1,
                                                    xStride: w.width, yPad0: yPad0, yPad1: yPad1, xPad0: xPad0,
                                                    xPad1: xPad1)))
                                    }
                                }
                                let wElem = (co0(t) * s.tileCO * plan.cib + k * s.tileCI) * kk
                                insns.append(
                                    .load(
                                        MemoryInsn(
                                            deps: .pushNext, memoryType: .wgt, sramBase: t * plan.wgtTile,
                                            dramBase: wgt.baseElement + wElem, ySize: s.tileCO, xSize: s.tileCI * kk,
                                            xStride: plan.cib * kk)))
                                if chunkSeq + t >= threads { Self.addDeps(&insns[first], .popNext) }
                            }
                            for t in 0..<threads {
                                var deps: DepFlags = .popPrev
                                if chunkSeq + t + threads < totalChunks { deps.insert(.pushPrev) }
                                insns.append(gemm(t, deps: deps))
                            }
                            chunkSeq += threads
                        }
                        for t in 0..<threads {
                            let loop = rowsLoop(t)
                            insns.append(.alu(AluInsn(loop: loop, op: .shr, useImm: true, imm: shift)))
                            insns.append(.alu(AluInsn(loop: loop, op: .max, useImm: true, imm: 0)))
                            insns.append(.alu(AluInsn(deps: .pushNext, loop: loop, op: .min, useImm: true, imm: 127)))
                        }
                        for t in 0..<threads {
                            let seq = tileSeq + t
                            for co in 0..<s.tileCO {
                                for b in 0..<s.tileB {
                                    var deps: DepFlags = []
                                    if co == 0 && b == 0 { deps.insert(.popPrev) }
                                    if co == s.tileCO - 1 && b == s.tileB - 1
                                        && (seq + threads < totalTiles || seq == totalTiles - 1)
                                    {
                                        deps.insert(.pushPrev)
                                    }
                                    let n = bo * s.tileB + b
                                    let ob = co0(t) * s.tileCO + co
                                    let elem =
                                        ((n * plan.cob + ob) * plan.oh + h0(t) * s.tileH) * plan.ow + wo * s.tileW
                                    insns.append(
                                        .store(
                                            MemoryInsn(
                                                deps: deps, memoryType: .out,
                                                sramBase: t * plan.accTile + (co * s.tileB + b) * s.tileH * s.tileW,
                                                dramBase: out.baseElement + elem, ySize: s.tileH, xSize: s.tileW,
                                                xStride: plan.ow)))
                                }
                            }
                        }
                        tileSeq += threads
                    }
                }
            }
        }
        insns.append(.finish(.popNext))
        precondition(insns.count == count, "instruction count \(insns.count) != planned \(count)")
    }

    static func addDeps(_ insn: inout Instruction, _ flags: DepFlags) {
        switch insn {
        case .load(var m):
            m.deps.formUnion(flags)
            insn = .load(m)
        case .store(var m):
            m.deps.formUnion(flags)
            insn = .store(m)
        case .gemm(var g):
            g.deps.formUnion(flags)
            insn = .gemm(g)
        case .alu(var a):
            a.deps.formUnion(flags)
            insn = .alu(a)
        case .finish(let d): insn = .finish(d.union(flags))
        }
    }
}
