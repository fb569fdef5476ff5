/// Cycle costs of the tsim (Chisel) VTA that are not memory-system parameters of the hardware
/// configuration. The defaults reproduce the micro-program cycle counts measured on the VTA RTL
/// (VTA.md): FINISH alone = 7 + L; a LOAD of B beats adds B + L + 7 (6 for uops); a GEMM or
/// immediate ALU over N uop executions costs N + 9, a register-operand ALU 2N + 9; a STORE costs
/// its beats plus one SRAM read per element plus 5; FINISH completes 3 cycles after every module
/// is idle.
public struct TimingParameters: Hashable, Sendable, Codable {
    /// Entries in each module's command queue; dispatch stalls when the target queue is full.
    public var queueDepth = 512
    /// Cycles from dispatch until the module can start the instruction (decode).
    public var dispatchToStart = 2
    /// Cycles from a load's start to its first DRAM read request.
    public var loadIssue = 2
    /// Cycles from a load's last beat to its completion (SRAM write, token push).
    public var loadFinish = 5
    public var uopLoadFinish = 4
    /// Cycles per GEMM uop execution: 1 for the pipelined core (2021 on), about 4 before it.
    public var gemmCyclesPerUop = 1
    /// Pipeline fill and drain of GEMM and ALU instructions.
    public var gemmOverhead = 9
    public var aluOverhead = 9
    public var finishCycles = 3
    /// Cycles of a LOAD/STORE with x_size 0 (it only moves tokens).
    public var noopCycles = 2
    /// Fixed cycles of a STORE (command, write acknowledge).
    public var storeBase = 5
    /// Extra cycles per write burst. The RTL table (STORE of 1 and of 16 elements, one and two
    /// 16-beat bursts) shows none; VTA.md's 4-6 per burst is an estimate of the older design.
    public var storeBurstOverhead = 0

    public init() {}

    /// The current (pipelined GEMM) tsim design.
    public static let tsim = TimingParameters()

    /// The pre-2021 design: about four cycles per GEMM uop.
    public static var legacyGemm: TimingParameters {
        var p = TimingParameters()
        p.gemmCyclesPerUop = 4
        return p
    }
}
