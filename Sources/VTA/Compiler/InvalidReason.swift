/// Why VTA cannot run a (hardware, workload, schedule) combination. Each case is a rule real VTA
/// enforces (VTA.md); the search counts them, and the histogram of reasons is a first-class result.
public struct InvalidReason: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable, Codable {
        // the workload itself (Workload.validate), e.g. sizes whose products overflow
        case badWorkload = "bad_workload"
        // hardware
        case blockTooSmall = "block_too_small"
        case elementTooLarge = "element_too_large"
        case bufferTooSmall = "buffer_too_small"
        case isaDoesNotFit = "isa_does_not_fit"
        case exceedsFPGA = "exceeds_fpga"
        // workload vs hardware
        case shapeNotPacked = "shape_not_packed"
        // schedule
        case knobNotDivisor = "knob_not_divisor"
        case threadSplitUneven = "thread_split_uneven"
        case inpBufferOverflow = "inp_buffer_overflow"
        case wgtBufferOverflow = "wgt_buffer_overflow"
        case accBufferOverflow = "acc_buffer_overflow"
        case uopBufferOverflow = "uop_buffer_overflow"
        case accWriteHazard = "acc_write_hazard"
        case padTooLarge = "pad_too_large"
        case dmaNotExpressible = "dma_not_expressible"
        case fieldOverflow = "field_overflow"
        // the compiler's own limits (Compiler.maxInstructions)
        case programTooLarge = "program_too_large"
        /// Not a property of the configuration: compiling stopped at the caller's deadline.
        case deadlineExceeded = "deadline_exceeded"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func hardware(_ code: Code, _ message: String) -> InvalidReason { InvalidReason(code, message) }

    public var description: String { "\(code.rawValue): \(message)" }
}
