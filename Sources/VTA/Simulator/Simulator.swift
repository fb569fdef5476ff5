/// The cycle-level VTA model: an event-driven simulation of the Chisel VTA (post-2021 generation,
/// pipelined GEMM), calibrated against its RTL on micro-programs and on whole ResNet-18 layers.
///
/// Four actors advance in time order: the front end and the load, compute and store modules (each
/// executes one instruction at a time, in order, after popping the dependency tokens it needs;
/// pushes happen when an instruction completes). Each step costs O(1) work per instruction, not
/// per cycle, which is what makes the model fast. The rules, each measured on the RTL (VTA.md,
/// "Whole layers on the RTL"):
///
/// - Fetch: the front end reads instructions in chunks of one maximum burst (128 instructions at
///   a 64-bit AXI with MAX_BURST 256), dispatches a chunk only once all of it has arrived, at most
///   one instruction a cycle, and asks for the next chunk only after the last one is dispatched.
///   So a program's first instruction starts a whole chunk's transfer after launch.
/// - Reads (fetch, uop/inp/wgt/acc loads) share one read data channel, one beat a cycle, in
///   request order, and every read pays the DRAM read latency from its own request: its first
///   beat comes at max(channel free, request + latency). None streams on behind other traffic.
/// - Stores use their own write channel (address, data, then the write acknowledge, one burst at
///   a time), so they never queue behind read beats, and every burst after the first costs
///   ``TimingParameters/storeBurstOverhead`` for its acknowledge. The RTL writes each store row as
///   one burst (up to MAX_BURST beats).
/// - Zero padding of a load is written one element a cycle only while the load waits for its
///   first beat; once data streams, padding no longer overlaps it.
/// - GEMM and ALU instructions cost N + ``TimingParameters/gemmOverhead`` (7) cycles, back to back.
/// - FINISH retires as soon as compute reaches it (after the tokens it pops); it does not wait
///   for the load or store modules, and the run's cycle count is the cycle it retires.
///
/// Not modelled: the read arbiter's fixed client priority, one-entry command queues and 16 read
/// tags (reads are served in request order); on the measured layers reads almost never compete.
///
/// In functional mode the same run also executes every instruction on real data
/// (``FunctionalMachine``), in the order the timing model starts them.
public struct Simulator: Sendable {
    public let spec: HardwareSpec
    public var timing: TimingParameters
    /// Runs longer than this are stopped with ``SimulationStatus/cycleLimit(_:)``.
    public var cycleLimit: Int
    /// Wall-clock deadline: a run still going then is stopped with ``SimulationStatus/stopped``.
    public var deadline: ContinuousClock.Instant?

    public init(spec: HardwareSpec, timing: TimingParameters = .tsim, cycleLimit: Int = 1 << 40) {
        self.spec = spec
        self.timing = timing
        self.cycleLimit = cycleLimit
    }

    /// Timing only.
    public func run(_ program: Program) -> SimulationResult {
        var engine = Engine(spec: spec, timing: timing, cycleLimit: cycleLimit, instructions: program.instructions)
        engine.deadline = deadline
        return engine.run(machine: nil)
    }

    /// Timing and function: `machine` holds the DRAM image and SRAMs and is updated in place.
    public func run(_ program: Program, machine: FunctionalMachine) -> SimulationResult {
        var engine = Engine(spec: spec, timing: timing, cycleLimit: cycleLimit, instructions: program.instructions)
        engine.deadline = deadline
        return engine.run(machine: machine)
    }
}

/// Token queues between modules, by index.
private enum TokenQueue {
    static let loadToCompute = 0, computeToLoad = 1, computeToStore = 2, storeToCompute = 3
}

private struct Engine {
    let spec: HardwareSpec
    let timing: TimingParameters
    let cycleLimit: Int
    let insns: [Instruction]

    // Static per-instruction data.
    var moduleOf: [Int]
    var streamPos: [Int]
    var streams: [[Int]] = [[], [], []]
    var popQueues: [(Int, Int)]  // up to two queues popped, -1 if none
    var pushQueues: [(Int, Int)]

    // Front end.
    let chunkInsns: Int
    var chunkStart: [Int]  // first data beat of each requested chunk
    var chunkRequest: [Int]
    var nextDispatch = 0
    var lastDispatch = -1
    var dispatchTime: [Int]

    // Modules.
    var pos = [0, 0, 0]
    var free = [0, 0, 0]
    var startTimes: [[Int]] = [[], [], []]

    // Tokens.
    var pushes: [[Int]] = [[], [], [], []]
    var pops = [0, 0, 0, 0]

    // Memory: the read and write data channels are independent (AXI R and W).
    var readFree = 0
    var writeFree = 0
    var counters = SimCounters()
    var kindCounts = [Int](repeating: 0, count: 8)
    var busy = [0, 0, 0], stalled = [0, 0, 0], starved = [0, 0, 0]
    var finishEnd: Int? = nil
    var failure: SimulationStatus? = nil
    var deadline: ContinuousClock.Instant? = nil

    init(spec: HardwareSpec, timing: TimingParameters, cycleLimit: Int, instructions: [Instruction]) {
        self.spec = spec
        self.timing = timing
        self.cycleLimit = cycleLimit
        self.insns = instructions
        let n = instructions.count
        moduleOf = [Int](repeating: 0, count: n)
        streamPos = [Int](repeating: 0, count: n)
        popQueues = [(Int, Int)](repeating: (-1, -1), count: n)
        pushQueues = [(Int, Int)](repeating: (-1, -1), count: n)
        dispatchTime = [Int](repeating: 0, count: n)
        chunkInsns = max(1, spec.config.maxBurstBeats * spec.axiBytes / HardwareSpec.instructionBytes)
        let chunks = (n + chunkInsns - 1) / chunkInsns
        chunkStart = [Int](repeating: -1, count: chunks)
        chunkRequest = [Int](repeating: -1, count: chunks)
        for (i, insn) in instructions.enumerated() {
            let m = insn.module.rawValue
            moduleOf[i] = m
            streamPos[i] = streams[m].count
            streams[m].append(i)
            if failure == nil, let problem = Self.tokenQueues(insn, m, &popQueues[i], &pushQueues[i]) {
                failure = .malformed("instruction \(i) (\(insn.kind)): \(problem)")
            }
        }
        for m in 0..<3 { startTimes[m] = [Int](repeating: 0, count: streams[m].count) }
    }

    /// Maps an instruction's prev/next flags to token queues for its module.
    static func tokenQueues(_ insn: Instruction, _ m: Int, _ pop: inout (Int, Int), _ push: inout (Int, Int)) -> String?
    {
        let d = insn.deps
        // (prev queue popped, next queue popped, prev queue pushed, next queue pushed), -1: none
        let map: (Int, Int, Int, Int)
        switch m {
        case Module.load.rawValue: map = (-1, TokenQueue.computeToLoad, -1, TokenQueue.loadToCompute)
        case Module.compute.rawValue:
            map = (
                TokenQueue.loadToCompute, TokenQueue.storeToCompute,
                TokenQueue.computeToLoad, TokenQueue.computeToStore
            )
        default: map = (TokenQueue.computeToStore, -1, TokenQueue.storeToCompute, -1)
        }
        if d.contains(.popPrev) && map.0 < 0 { return "pop_prev_dep set, but the load module has no previous module" }
        if d.contains(.pushPrev) && map.2 < 0 { return "push_prev_dep set, but the load module has no previous module" }
        if d.contains(.popNext) && map.1 < 0 { return "pop_next_dep set, but the store module has no next module" }
        if d.contains(.pushNext) && map.3 < 0 { return "push_next_dep set, but the store module has no next module" }
        pop = (d.contains(.popPrev) ? map.0 : -1, d.contains(.popNext) ? map.1 : -1)
        push = (d.contains(.pushPrev) ? map.2 : -1, d.contains(.pushNext) ? map.3 : -1)
        return nil
    }

    // MARK: memory channels

    /// Reserves the read channel for `beats` requested at `t`; returns the first beat's cycle.
    /// Every read pays the latency from its own request, even one queued behind other reads
    /// (the RTL's memory answers each request after the latency; the channel carries one beat a cycle).
    mutating func read(at t: Int, beats: Int) -> Int {
        let start = max(readFree, t + spec.config.dramLatency)
        readFree = start + beats
        counters.busBusyCycles += beats
        return start
    }

    /// The first data beat of a write of `beats` issued at `t` on the write channel, which takes
    /// one store at a time; the caller holds the channel until the store's last acknowledge.
    mutating func write(at t: Int, beats: Int) -> Int {
        counters.busBusyCycles += beats
        return max(t, writeFree)
    }

    /// Beats and bursts of a 2-D transfer: one command per row, split at burst boundaries.
    func transferShape(_ m: MemoryInsn, elemBytes: Int) -> (beats: Int, bursts: Int) {
        let axi = spec.axiBytes
        let burstBytes = spec.config.maxBurstBeats * axi
        let rowBytes = m.xSize * elemBytes
        if elemBytes % axi == 0 && (m.xStride * elemBytes) % burstBytes == 0
            && (m.dramBase * elemBytes) % burstBytes == 0
        {
            return (m.ySize * rowBytes / axi, m.ySize * ((rowBytes + burstBytes - 1) / burstBytes))
        }
        var beats = 0
        var bursts = 0
        for y in 0..<m.ySize {
            let start = (m.dramBase + y * m.xStride) * elemBytes
            let end = start + rowBytes - 1
            beats += end / axi - start / axi + 1
            bursts += end / burstBytes - start / burstBytes + 1
        }
        return (beats, bursts)
    }

    // MARK: front end

    mutating func requestChunk(_ c: Int, at t: Int) {
        guard c < chunkStart.count, chunkRequest[c] < 0 else { return }
        let first = c * chunkInsns
        let count = min(chunkInsns, insns.count - first)
        let bytes = count * HardwareSpec.instructionBytes
        let beats = (bytes + spec.axiBytes - 1) / spec.axiBytes
        chunkRequest[c] = t
        chunkStart[c] = read(at: t, beats: beats)
        counters.fetchBytes += bytes
    }

    /// Beats of chunk `c`'s transfer.
    func chunkBeats(_ c: Int) -> Int {
        let count = min(chunkInsns, insns.count - c * chunkInsns)
        return (count * HardwareSpec.instructionBytes + spec.axiBytes - 1) / spec.axiBytes
    }

    /// The cycle the next instruction can be dispatched, or nil if it waits on a queue slot.
    /// A chunk is dispatched only once all its beats have arrived (the RTL's fetch unit decodes
    /// from a full chunk buffer).
    func frontEndReady() -> Int? {
        let i = nextDispatch
        let c = i / chunkInsns
        let arrival = chunkStart[c] + chunkBeats(c)
        var t = max(arrival, lastDispatch + 1)
        let m = moduleOf[i]
        let k = streamPos[i]
        if k >= timing.queueDepth {
            let blocker = k - timing.queueDepth
            guard pos[m] > blocker else { return nil }
            t = max(t, startTimes[m][blocker] + 1)
        }
        return t
    }

    mutating func dispatch(at t: Int) {
        let i = nextDispatch
        dispatchTime[i] = t
        lastDispatch = t
        nextDispatch += 1
        // The fetch unit holds one chunk: it asks for the next once this one is fully dispatched.
        if nextDispatch % chunkInsns == 0 && nextDispatch < insns.count {
            requestChunk(nextDispatch / chunkInsns, at: t + 1)
        }
    }

    // MARK: modules

    /// The cycle module `m` can start its next instruction, or nil when it waits for dispatch or
    /// for a token not yet pushed.
    func moduleReady(_ m: Int) -> Int? {
        guard pos[m] < streams[m].count else { return nil }
        let i = streams[m][pos[m]]
        guard i < nextDispatch else { return nil }
        var t = max(dispatchTime[i] + timing.dispatchToStart, free[m])
        let (p0, p1) = popQueues[i]
        if p0 >= 0 {
            guard pops[p0] < pushes[p0].count else { return nil }
            t = max(t, pushes[p0][pops[p0]])
        }
        if p1 >= 0 {
            guard pops[p1] < pushes[p1].count else { return nil }
            t = max(t, pushes[p1][pops[p1]])
        }
        return t
    }

    mutating func execute(_ m: Int, at start: Int, machine: FunctionalMachine?) {
        let i = streams[m][pos[m]]
        let insn = insns[i]
        let notBefore = max(dispatchTime[i] + timing.dispatchToStart, free[m])
        if start > notBefore { stalled[m] += start - notBefore }
        if dispatchTime[i] + timing.dispatchToStart > free[m] {
            starved[m] += dispatchTime[i] + timing.dispatchToStart - free[m]
        }
        let (p0, p1) = popQueues[i]
        if p0 >= 0 { pops[p0] += 1 }
        if p1 >= 0 { pops[p1] += 1 }

        if let machine, failure == nil, let problem = machine.execute(insn) {
            failure = .malformed("instruction \(i) (\(insn.kind)): \(problem)")
        }

        let end: Int
        switch insn {
        case .load(let mem):
            let elemBytes = spec.elementBytes(mem.memoryType)
            if mem.xSize == 0 || mem.ySize == 0 {
                end = start + timing.noopCycles
            } else {
                let shape = transferShape(mem, elemBytes: elemBytes)
                let request = start + timing.loadIssue
                let first = read(at: request, beats: shape.beats)
                // Padding is written one element a cycle while the load waits for its first
                // beat, and no longer once data streams (the RTL's load pads before the data).
                let pads = mem.sramElements - mem.xSize * mem.ySize
                let finish = mem.memoryType == .uop ? timing.uopLoadFinish : timing.loadFinish
                end = max(first, request + pads) + shape.beats + finish
                counters.dramBytesRead += mem.xSize * mem.ySize * elemBytes
            }
            kindCounts[Self.kindIndex(insn)] += 1
        case .store(let mem):
            if mem.xSize == 0 || mem.ySize == 0 {
                end = start + timing.noopCycles
            } else {
                let elemBytes = spec.elementBytes(mem.memoryType)
                let shape = transferShape(mem, elemBytes: elemBytes)
                let first = write(at: start, beats: shape.beats)
                end =
                    first + shape.beats + mem.xSize * mem.ySize + timing.storeBase + (shape.bursts - 1)
                    * timing.storeBurstOverhead
                writeFree = end
                counters.dramBytesWritten += mem.xSize * mem.ySize * elemBytes
            }
            kindCounts[4] += 1
        case .gemm(let g):
            let n = g.loop.executions
            end = start + n * timing.gemmCyclesPerUop + timing.gemmOverhead
            counters.gemmUops += n
            if !g.reset { counters.macs += n * spec.macsPerCycle }
            kindCounts[5] += 1
        case .alu(let a):
            let n = a.loop.executions
            end = start + n * (a.useImm ? 1 : 2) + timing.aluOverhead
            counters.aluUops += n
            kindCounts[6] += 1
        case .finish:
            // FINISH retires when compute reaches it: the RTL's cycle counter stops then, whether
            // or not the load and store modules are still busy (a program waits for them with tokens).
            end = start + timing.finishCycles
            if finishEnd == nil { finishEnd = end }
            kindCounts[7] += 1
        }
        busy[m] += end - start
        let (q0, q1) = pushQueues[i]
        if q0 >= 0 { pushes[q0].append(end) }
        if q1 >= 0 { pushes[q1].append(end) }
        free[m] = end
        startTimes[m][pos[m]] = start
        pos[m] += 1
    }

    static func kindIndex(_ insn: Instruction) -> Int {
        if case .load(let m) = insn {
            switch m.memoryType {
            case .inp: return 0
            case .wgt: return 1
            case .uop: return 2
            default: return 3
            }
        }
        return 4
    }

    static let kindNames = ["load_inp", "load_wgt", "load_uop", "load_acc", "store", "gemm", "alu", "finish"]

    // MARK: main loop

    mutating func run(machine: FunctionalMachine?) -> SimulationResult {
        if failure == nil, !insns.contains(where: { if case .finish = $0 { return true } else { return false } }) {
            failure = .malformed("the program has no FINISH instruction: VTA would never signal completion")
        }
        if failure == nil && !insns.isEmpty {
            requestChunk(0, at: 0)
        }
        var steps = 0
        while failure == nil {
            steps &+= 1
            if steps & 1023 == 0, let deadline, ContinuousClock.now >= deadline {
                failure = .stopped
                break
            }
            // Pick the actor that can act earliest; ties go to the front end, then compute, load, store.
            var best = Int.max
            var who = -2
            if nextDispatch < insns.count, let t = frontEndReady() {
                best = t
                who = -1
            }
            for m in [1, 0, 2] {
                if let t = moduleReady(m), t < best {
                    best = t
                    who = m
                }
            }
            if who == -2 {
                if nextDispatch == insns.count && (0..<3).allSatisfy({ pos[$0] == streams[$0].count }) { break }
                failure = .deadlock(deadlockReport())
                break
            }
            if best > cycleLimit {
                failure = .cycleLimit(cycleLimit)
                break
            }
            if who == -1 { dispatch(at: best) } else { execute(who, at: best, machine: machine) }
        }
        counters.cycles = finishEnd ?? (free.max() ?? 0)
        for (k, name) in Self.kindNames.enumerated() where kindCounts[k] > 0 {
            counters.instructions[name] = kindCounts[k]
        }
        for m in Module.allCases {
            counters.busy[m.name] = busy[m.rawValue]
            counters.stalledOnTokens[m.name] = stalled[m.rawValue]
            counters.starved[m.name] = starved[m.rawValue]
        }
        counters.dramBytesRead += counters.fetchBytes
        return SimulationResult(status: failure ?? .ok, counters: counters)
    }

    func deadlockReport() -> String {
        let queueNames = ["load->compute", "compute->load", "compute->store", "store->compute"]
        var parts: [String] = []
        for m in 0..<3 where pos[m] < streams[m].count {
            let i = streams[m][pos[m]]
            let (p0, p1) = popQueues[i]
            let waits = [p0, p1].filter { $0 >= 0 && pops[$0] >= pushes[$0].count }.map { queueNames[$0] }
            if !waits.isEmpty {
                parts.append(
                    "\(Module(rawValue: m)!.name) waits at instruction \(i) (\(insns[i].kind)) for a \(waits.joined(separator: " and ")) token"
                )
            } else if i >= nextDispatch {
                parts.append("\(Module(rawValue: m)!.name) waits for instruction \(i) to be dispatched")
            }
        }
        if nextDispatch < insns.count {
            parts.append(
                "dispatch waits at instruction \(nextDispatch) for a full \(Module(rawValue: moduleOf[nextDispatch])!.name) queue"
            )
        }
        return parts.joined(separator: "; ")
    }
}
