/// Everything derived from a ``HardwareConfig``, in one place (the role of VTA's hw_spec.h):
/// element sizes, buffer depths and the ISA's field widths. The encoder, the compiler, the
/// validity rules and the simulator all read these values from here and nowhere else.
public struct HardwareSpec: Hashable, Sendable {
    public let config: HardwareConfig

    public let batch: Int
    public let blockIn: Int
    public let blockOut: Int

    /// Bytes of one element ("tensor row") of each buffer.
    public let inpElemBytes: Int
    public let wgtElemBytes: Int
    public let accElemBytes: Int
    public let outElemBytes: Int
    public static let uopBytes = 4
    public static let instructionBytes = 16

    /// log2 of each buffer's depth in elements; the widths of SRAM index fields.
    public let logUopDepth: Int
    public let logInpDepth: Int
    public let logWgtDepth: Int
    public let logAccDepth: Int

    public var uopDepth: Int { 1 << logUopDepth }
    public var inpDepth: Int { 1 << logInpDepth }
    public var wgtDepth: Int { 1 << logWgtDepth }
    public var accDepth: Int { 1 << logAccDepth }

    /// Bytes moved per AXI beat.
    public let axiBytes: Int
    /// Multiply-accumulates the GEMM core performs per cycle.
    public var macsPerCycle: Int { batch * blockIn * blockOut }

    /// The instruction field layout; `isa.fits` is false when the fields need more than 128 bits.
    public let isa: ISALayout

    public init(_ config: HardwareConfig) {
        self.config = config
        batch = config.batch
        blockIn = config.blockIn
        blockOut = config.blockOut
        inpElemBytes = (batch * blockIn << config.logInpWidth) / 8
        wgtElemBytes = (blockOut * blockIn << config.logWgtWidth) / 8
        accElemBytes = (batch * blockOut << config.logAccWidth) / 8
        outElemBytes = (batch * blockOut << config.logInpWidth) / 8
        func logDepth(_ logBytes: Int, _ elemBytes: Int) -> Int {
            max(0, logBytes - elemBytes.trailingZeroBitCount)
        }
        logUopDepth = logDepth(config.logUopBuffSize, Self.uopBytes)
        logInpDepth = logDepth(config.logInpBuffSize, inpElemBytes)
        logWgtDepth = logDepth(config.logWgtBuffSize, wgtElemBytes)
        logAccDepth = logDepth(config.logAccBuffSize, accElemBytes)
        axiBytes = config.axiWidth / 8
        isa = ISALayout(
            logUopDepth: logUopDepth, logInpDepth: logInpDepth,
            logWgtDepth: logWgtDepth, logAccDepth: logAccDepth)
    }

    /// Bytes of one element of a memory type.
    public func elementBytes(_ type: MemoryType) -> Int {
        switch type {
        case .uop: return Self.uopBytes
        case .wgt: return wgtElemBytes
        case .inp: return inpElemBytes
        case .acc: return accElemBytes
        case .out: return outElemBytes
        case .acc8: return outElemBytes
        }
    }

    /// Depth in elements of the SRAM a memory type is loaded into or stored from.
    public func depth(_ type: MemoryType) -> Int {
        switch type {
        case .uop: return uopDepth
        case .wgt: return wgtDepth
        case .inp: return inpDepth
        case .acc, .out, .acc8: return accDepth
        }
    }

    /// Why VTA could not be built with this configuration, or nil when it can.
    public var invalidReason: InvalidReason? {
        if blockIn < 2 || blockOut < 2 {
            return .hardware(
                .blockTooSmall, "BLOCK_IN=\(blockIn), BLOCK_OUT=\(blockOut): each must be a power of two >= 2")
        }
        let page = 4096
        for (name, bytes) in [("INP", inpElemBytes), ("WGT", wgtElemBytes), ("ACC", accElemBytes)] where bytes > page {
            return .hardware(.elementTooLarge, "a \(name) element is \(bytes) bytes, more than a \(page)-byte page")
        }
        for (name, log) in [("UOP", logUopDepth), ("INP", logInpDepth), ("WGT", logWgtDepth), ("ACC", logAccDepth)]
        where log < 1 {
            return .hardware(.bufferTooSmall, "the \(name) buffer holds fewer than two elements")
        }
        if let overflow = isa.overflow {
            return .hardware(.isaDoesNotFit, overflow)
        }
        return nil
    }
}
