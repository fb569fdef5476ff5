import Foundation

/// A VTA hardware configuration: the keys of TVM's `vta_config.json` plus the memory-system
/// parameters the cycle model needs (AXI width, burst limit, clock, DRAM read latency).
///
/// Values are stored as the user wrote them (log2 where VTA uses log2). Whether the hardware can
/// actually be built is a separate question answered by ``HardwareSpec/invalidReason``: a
/// configuration can be well-formed here and still be rejected (for example when its ISA fields
/// no longer fit in 128 bits), which the search needs to see as "invalid", not as an error.
public struct HardwareConfig: Hashable, Sendable, Codable {
    public var target: String = "sim"
    public var hwVersion: String = "0.0.2"
    public var logInpWidth: Int = 3
    public var logWgtWidth: Int = 3
    public var logAccWidth: Int = 5
    public var logBatch: Int = 0
    public var logBlockIn: Int = 4
    public var logBlockOut: Int = 4
    public var logUopBuffSize: Int = 15
    public var logInpBuffSize: Int = 15
    public var logWgtBuffSize: Int = 18
    public var logAccBuffSize: Int = 17
    /// Width of the AXI data bus in bits (64, 128, 256 or 512).
    public var axiWidth: Int = 64
    /// Longest burst, in beats. Bursts also never cross a boundary aligned to this size; one
    /// instruction fetch chunk is one such burst (the RTL measured in VTA.md has 256).
    public var maxBurstBeats: Int = 16
    public var clockMHz: Double = 100
    /// Cycles from a read request to its first beat; every read pays it from its own request.
    /// 16 is tsim's simulated DRAM; the RTL measurements in VTA.md were made at 1 to 100.
    public var dramLatency: Int = 16

    /// The stock VTA: 1x16x16 int8 GEMM core, 32/32/256/128 KiB buffers, 64-bit AXI at 100 MHz.
    public static let stock = HardwareConfig()

    public init() {}
}

/// A malformed configuration: an unknown key, a value of the wrong type or outside what any VTA
/// could mean. Always names the key.
public struct HardwareConfigError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let message: String
    public var description: String { "hardware configuration: \(key): \(message)" }
}

extension HardwareConfig {
    /// One settable key: its name in vta_config.json / `--hw-set`, and its accepted range.
    struct Key: Sendable {
        let name: String
        let range: ClosedRange<Int>
        let path: any WritableKeyPath<HardwareConfig, Int> & Sendable
        let note: String
    }

    static let integerKeys: [Key] = [
        Key(name: "LOG_INP_WIDTH", range: 3...3, path: \.logInpWidth, note: "vtafarm models int8 inputs (3)"),
        Key(name: "LOG_WGT_WIDTH", range: 3...3, path: \.logWgtWidth, note: "vtafarm models int8 weights (3)"),
        Key(name: "LOG_ACC_WIDTH", range: 5...5, path: \.logAccWidth, note: "vtafarm models int32 accumulators (5)"),
        Key(name: "LOG_BATCH", range: 0...6, path: \.logBatch, note: "log2 of BATCH"),
        Key(name: "LOG_BLOCK_IN", range: 0...8, path: \.logBlockIn, note: "log2 of BLOCK_IN"),
        Key(name: "LOG_BLOCK_OUT", range: 0...8, path: \.logBlockOut, note: "log2 of BLOCK_OUT"),
        Key(name: "LOG_UOP_BUFF_SIZE", range: 8...24, path: \.logUopBuffSize, note: "log2 of uop buffer bytes"),
        Key(name: "LOG_INP_BUFF_SIZE", range: 8...24, path: \.logInpBuffSize, note: "log2 of input buffer bytes"),
        Key(name: "LOG_WGT_BUFF_SIZE", range: 8...26, path: \.logWgtBuffSize, note: "log2 of weight buffer bytes"),
        Key(name: "LOG_ACC_BUFF_SIZE", range: 8...26, path: \.logAccBuffSize, note: "log2 of accumulator buffer bytes"),
        Key(name: "AXI_WIDTH", range: 64...512, path: \.axiWidth, note: "AXI data width in bits: 64, 128, 256 or 512"),
        Key(
            name: "MAX_BURST", range: 1...256, path: \.maxBurstBeats,
            note: "maximum burst length in beats (power of two)"),
        Key(name: "DRAM_LATENCY", range: 0...100_000, path: \.dramLatency, note: "DRAM read latency in cycles"),
    ]

    /// The values ``set(_:to:)`` accepts for an integer key, or nil for a key that is not one: what a
    /// configuration can say, before the ISA and a board decide what can be built.
    public static func range(of key: String) -> ClosedRange<Int>? { integerKeys.first { $0.name == key }?.range }

    /// Every key accepted by ``set(_:to:)``, for help texts.
    public static var keyNames: [String] {
        ["TARGET", "HW_VER", "LOG_BLOCK"] + integerKeys.map(\.name) + ["CLOCK_MHZ"]
    }

    /// Sets one key from its textual value, as read from `--hw-set KEY=VALUE`.
    public mutating func set(_ key: String, to text: String) throws {
        let name = key.trimmingCharacters(in: .whitespaces).uppercased()
        let value = text.trimmingCharacters(in: .whitespaces)
        switch name {
        case "TARGET":
            guard !value.isEmpty else { throw HardwareConfigError(key: name, message: "must not be empty") }
            target = value
        case "HW_VER":
            try setVersion(value)
        case "CLOCK_MHZ":
            guard let mhz = Double(value), mhz.isFinite, mhz > 0, mhz <= 5000 else {
                throw HardwareConfigError(key: name, message: "'\(value)' is not a clock in MHz (0 < f <= 5000)")
            }
            clockMHz = mhz
        default:
            guard let number = Int(value) else {
                throw HardwareConfigError(key: name, message: "'\(value)' is not an integer")
            }
            try set(name, integer: number)
        }
    }

    mutating func set(_ name: String, integer value: Int) throws {
        if name == "LOG_BLOCK" {
            try set("LOG_BLOCK_IN", integer: value)
            try set("LOG_BLOCK_OUT", integer: value)
            return
        }
        guard let key = Self.integerKeys.first(where: { $0.name == name }) else {
            throw HardwareConfigError(
                key: name, message: "unknown key (known: \(Self.keyNames.joined(separator: ", ")))")
        }
        guard key.range.contains(value) else {
            throw HardwareConfigError(
                key: name,
                message: "\(value) is out of range \(key.range.lowerBound)...\(key.range.upperBound) (\(key.note))")
        }
        if name == "AXI_WIDTH", ![64, 128, 256, 512].contains(value) {
            throw HardwareConfigError(key: name, message: "\(value) is not one of 64, 128, 256, 512")
        }
        if name == "MAX_BURST", value & (value - 1) != 0 {
            throw HardwareConfigError(key: name, message: "\(value) is not a power of two")
        }
        self[keyPath: key.path] = value
    }

    mutating func setVersion(_ value: String) throws {
        guard ["0.0.1", "0.0.2"].contains(value) else {
            throw HardwareConfigError(
                key: "HW_VER", message: "'\(value)' is not a VTA ISA version vtafarm knows (0.0.1, 0.0.2)")
        }
        hwVersion = value
    }

    /// Applies a comma-separated list such as `LOG_BLOCK_IN=5,AXI_WIDTH=128`.
    public mutating func apply(assignments: String) throws {
        for item in assignments.split(separator: ",") where !item.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw HardwareConfigError(key: String(item), message: "expected KEY=VALUE")
            }
            try set(parts[0], to: parts[1])
        }
    }

    /// Checks every value as if it had been read from a file: a configuration that arrived some
    /// other way (over the wire) gets the same errors naming the key.
    public func validate() throws {
        var copy = HardwareConfig()
        for key in Self.integerKeys { try copy.set(key.name, integer: self[keyPath: key.path]) }
        try copy.set("CLOCK_MHZ", to: "\(clockMHz)")
        try copy.setVersion(hwVersion)
        if target.isEmpty { throw HardwareConfigError(key: "TARGET", message: "must not be empty") }
    }

    /// BATCH, BLOCK_IN and BLOCK_OUT.
    public var batch: Int { 1 << logBatch }
    public var blockIn: Int { 1 << logBlockIn }
    public var blockOut: Int { 1 << logBlockOut }

    /// A short label such as `1x16x16 axi64`.
    public var shortName: String {
        "\(batch)x\(blockIn)x\(blockOut) u\(logUopBuffSize) i\(logInpBuffSize) w\(logWgtBuffSize) a\(logAccBuffSize) axi\(axiWidth)"
    }
}
