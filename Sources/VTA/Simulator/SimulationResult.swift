/// What a simulation measured. All counts are in accelerator cycles or bytes.
public struct SimCounters: Hashable, Sendable, Codable {
    public var cycles = 0
    /// Instructions executed by kind (load_inp, load_wgt, load_uop, load_acc, store, gemm, alu, finish).
    public var instructions: [String: Int] = [:]
    public var gemmUops = 0
    public var aluUops = 0
    /// GEMM uop executions x BATCH x BLOCK_IN x BLOCK_OUT (reset uops excluded).
    public var macs = 0
    /// Payload bytes read from DRAM, including instruction fetch and uops.
    public var dramBytesRead = 0
    public var dramBytesWritten = 0
    public var fetchBytes = 0
    /// Beats carried by the read and the write data channels together (they run side by side, so
    /// this can exceed the cycle count).
    public var busBusyCycles = 0
    /// Per module (load, compute, store): cycles spent executing instructions.
    public var busy: [String: Int] = [:]
    /// Per module: cycles an instruction was ready but waited for a dependency token.
    public var stalledOnTokens: [String: Int] = [:]
    /// Per module: cycles the module was free but its next instruction had not been dispatched.
    public var starved: [String: Int] = [:]

    public init() {}

    /// JSON keys in snake_case, as in every vtafarm JSON output.
    enum CodingKeys: String, CodingKey {
        case cycles, instructions, macs, busy, starved
        case gemmUops = "gemm_uops"
        case aluUops = "alu_uops"
        case dramBytesRead = "dram_bytes_read"
        case dramBytesWritten = "dram_bytes_written"
        case fetchBytes = "fetch_bytes"
        case busBusyCycles = "bus_busy_cycles"
        case stalledOnTokens = "stalled_on_tokens"
    }
}

public enum SimulationStatus: Hashable, Sendable {
    case ok
    /// Every module waits for a token that can never arrive. The text names who waits for what.
    case deadlock(String)
    /// The run passed the cycle limit.
    case cycleLimit(Int)
    /// The run passed its wall-clock deadline and was stopped.
    case stopped
    /// The program is malformed (an index outside a buffer, a token flag a module cannot use,
    /// no FINISH). The text names the instruction and field.
    case malformed(String)

    public var name: String {
        switch self {
        case .ok: return "ok"
        case .deadlock: return "deadlock"
        case .cycleLimit: return "cycle_limit"
        case .stopped: return "stopped"
        case .malformed: return "malformed"
        }
    }

    public var message: String? {
        switch self {
        case .ok: return nil
        case .stopped: return "stopped at its wall-clock deadline"
        case .deadlock(let m), .malformed(let m): return m
        case .cycleLimit(let n): return "stopped after \(n) cycles"
        }
    }
}

public struct SimulationResult: Sendable {
    public var status: SimulationStatus
    public var counters: SimCounters
    public var cycles: Int { counters.cycles }
}

/// Cycles with thousands separators (7,136,432), as every report prints them.
public func formatCycles(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, ch) in digits.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + String(out.reversed())
}
