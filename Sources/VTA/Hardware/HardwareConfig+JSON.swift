import Foundation

/// Reading and writing `vta_config.json` as TVM's VTA users already have it.
extension HardwareConfig {
    /// Parses a vta_config.json document. `LOG_BLOCK` sets both block sizes; `LOG_BLOCK_IN` /
    /// `LOG_BLOCK_OUT` override it. Unknown keys and values of the wrong type are errors that name
    /// the key. A TARGET of a known board supplies its AXI width and clock unless they are given.
    public init(json data: Data) throws {
        let dict: [String: JSONScalar]
        do {
            dict = try JSONDecoder().decode([String: JSONScalar].self, from: data)
        } catch {
            throw HardwareConfigError(key: "(file)", message: "not a JSON object of KEY: value (\(Self.reason(error)))")
        }
        try self.init(values: dict)
    }

    /// The configuration from already-decoded KEY: value pairs (a vta_config.json object, or the
    /// `hardware` object of a program directory's program.json).
    public init(values dict: [String: JSONScalar]) throws {
        self.init()
        // LOG_BLOCK first, so that explicit LOG_BLOCK_IN / LOG_BLOCK_OUT win whatever the key order.
        let ordered = dict.keys.sorted { a, b in (a == "LOG_BLOCK" ? 0 : 1, a) < (b == "LOG_BLOCK" ? 0 : 1, b) }
        for key in ordered {
            switch (key, dict[key]!) {
            case ("TARGET", .string(let text)):
                guard !text.isEmpty else { throw HardwareConfigError(key: key, message: "expected a non-empty string") }
                target = text
            case ("HW_VER", .string(let text)):
                try setVersion(text)
            case ("TARGET", _), ("HW_VER", _):
                throw HardwareConfigError(key: key, message: "expected a string")
            case ("CLOCK_MHZ", .integer(let n)):
                try set(key, to: "\(n)")
            case ("CLOCK_MHZ", .number(let x)):
                try set(key, to: "\(x)")
            case (_, .integer(let n)):
                try set(key, integer: n)
            case (_, let other):
                throw HardwareConfigError(key: key, message: "expected an integer, got \(other)")
            }
        }
        // Board defaults for the memory system (VTA.md), from the board's row in `FPGA.boards`.
        if let board = FPGA.named(target) {
            if dict["AXI_WIDTH"] == nil { axiWidth = board.defaultAXIWidth }
            if dict["CLOCK_MHZ"] == nil { clockMHz = board.clockMHz }
        }
    }

    static func reason(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let ctx) = error { return ctx.debugDescription }
        return "\(error)"
    }

    /// Loads a vta_config.json file.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HardwareConfigError(key: "(file)", message: "cannot read \(path)")
        }
        try self.init(json: data)
    }

    /// `values` as a JSONSerialization object (for documents built with JSONSerialization).
    public var jsonObject: [String: Any] {
        values.compactMapValues { v -> Any? in
            switch v {
            case .integer(let n): return n
            case .number(let x): return x
            case .string(let t): return t
            case .bool(let b): return b
            case .other: return nil
            }
        }
    }

    /// The configuration as vta_config.json KEY: value pairs (with vtafarm's memory-system keys).
    public var values: [String: JSONScalar] {
        var dict: [String: JSONScalar] = [
            "TARGET": .string(target), "HW_VER": .string(hwVersion), "CLOCK_MHZ": .number(clockMHz),
        ]
        for key in Self.integerKeys { dict[key.name] = .integer(self[keyPath: key.path]) }
        return dict
    }

    /// A canonical text of the whole configuration (KEY=value, sorted), equal for equal
    /// configurations however their JSON spelled the numbers: the identity of a hardware point.
    public var canonicalKey: String {
        var parts = Self.integerKeys.map { "\($0.name)=\(self[keyPath: $0.path])" }
        parts += ["CLOCK_MHZ=\(clockMHz)", "HW_VER=\(hwVersion)", "TARGET=\(target)"]
        return parts.sorted().joined(separator: ",")
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(values)
    }
}

/// One JSON value of a vta_config.json: JSONDecoder keeps true/false apart from 0/1, which
/// JSONSerialization on Linux does not.
public enum JSONScalar: Codable, Hashable, Sendable, CustomStringConvertible {
    case integer(Int)
    case number(Double)
    case string(String)
    case bool(Bool)
    case other

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Int.self) {
            self = .integer(n)
        } else if let x = try? c.decode(Double.self) {
            self = .number(x)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else {
            self = .other
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .integer(let n): try c.encode(n)
        case .number(let x): try c.encode(x)
        case .string(let s): try c.encode(s)
        case .bool(let b): try c.encode(b)
        case .other: try c.encodeNil()
        }
    }

    public var description: String {
        switch self {
        case .integer(let n): return "\(n)"
        case .number(let x): return "\(x)"
        case .string(let s): return "\"\(s)\""
        case .bool(let b): return "\(b)"
        case .other: return "an array or object"
        }
    }
}
