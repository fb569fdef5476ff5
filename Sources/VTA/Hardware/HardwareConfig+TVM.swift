import Foundation

/// The configuration as TVM's VTA reads it, for building the chosen accelerator and compiling for
/// it (`vtafarm records best --emit-config`).
extension HardwareConfig {
    /// Why TVM's VTA (v0.18) cannot express this hardware, or nil. Its vta_config.json has one
    /// LOG_BLOCK, which sets both BLOCK_IN and BLOCK_OUT.
    public var tvmProblem: String? {
        if logBlockIn != logBlockOut {
            return
                "TVM's VTA has one LOG_BLOCK for BLOCK_IN and BLOCK_OUT; this hardware has LOG_BLOCK_IN=\(logBlockIn) and LOG_BLOCK_OUT=\(logBlockOut)"
        }
        return nil
    }

    /// vta_config.json's keys as TVM's VTA names them (LOG_BLOCK, not LOG_BLOCK_IN/OUT), plus
    /// vtafarm's memory-system keys (AXI_WIDTH, MAX_BURST, CLOCK_MHZ, DRAM_LATENCY): TVM's
    /// environment only looks its own keys up, so the extra ones ride along, and `--hw` reads the
    /// file back as the same configuration.
    public func tvmConfigValues() throws -> [String: JSONScalar] {
        if let problem = tvmProblem { throw HardwareConfigError(key: "LOG_BLOCK", message: problem) }
        var dict = values
        dict["LOG_BLOCK_IN"] = nil
        dict["LOG_BLOCK_OUT"] = nil
        dict["LOG_BLOCK"] = .integer(logBlockIn)
        return dict
    }

    public func tvmConfigData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(try tvmConfigValues())
    }
}
