/// Cycle costs of the Chisel VTA (post-2021 generation) that are not memory-system parameters of
/// the hardware configuration. With the engine's rules (``Simulator``) the defaults reproduce the
/// micro-program cycle counts measured on the VTA RTL exactly (Tests/Fixtures/rtl): FINISH alone =
/// 7 + L; a LOAD of B beats adds B + L + 5 (4 for uops) after the whole instruction chunk has been
/// fetched; a GEMM or immediate ALU over N uop executions costs N + 7, a register-operand ALU
/// 2N + 7; a STORE costs its beats plus one SRAM read per element plus 3, and 2 more per extra write
/// burst. They also bring the 50 whole ResNet-18 layers of Tests/Fixtures/rtl-layers within 2%.
public struct TimingParameters: Hashable, Sendable, Codable {
    /// Entries in each module's command queue; dispatch stalls when the target queue is full.
    public var queueDepth = 512
    /// Cycles from dispatch until the module can start the instruction (decode).
    public var dispatchToStart = 2
    /// Cycles from a load's start to its read request.
    public var loadIssue = 2
    /// Cycles from a load's last beat to its completion (SRAM write, token push).
    public var loadFinish = 3
    public var uopLoadFinish = 2
    /// Cycles per GEMM uop execution: 1 for the pipelined core (2021 on), about 4 before it.
    public var gemmCyclesPerUop = 1
    /// Pipeline fill and drain of GEMM and ALU instructions: on the RTL back-to-back GEMMs start
    /// N + 7 cycles apart, and the micro table's "N + 9" was this plus the fetch rule's cost.
    public var gemmOverhead = 7
    public var aluOverhead = 7
    public var finishCycles = 3
    /// Cycles of a LOAD/STORE with x_size 0 (it only moves tokens).
    public var noopCycles = 2
    /// Fixed cycles of a STORE (command, SRAM read latency, the last write acknowledge).
    public var storeBase = 3
    /// Cycles each write burst after the first adds: the write channel takes one burst at a time
    /// and waits for its acknowledge before the next address (RTL: 16 one-element rows take 91
    /// cycles against 61 for one 16-element row).
    public var storeBurstOverhead = 2

    public init() {}

    /// The current (pipelined GEMM) Chisel design.
    public static let tsim = TimingParameters()

    /// The pre-2021 design: about four cycles per GEMM uop.
    public static var legacyGemm: TimingParameters {
        var p = TimingParameters()
        p.gemmCyclesPerUop = 4
        return p
    }
}
