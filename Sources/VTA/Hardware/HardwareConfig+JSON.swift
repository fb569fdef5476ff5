import Foundation

/// Reading and writing `vta_config.json` as TVM's VTA users already have it.
extension HardwareConfig {
    /// Parses a vta_config.json document. `LOG_BLOCK` sets both block sizes; `LOG_BLOCK_IN` /
    /// `LOG_BLOCK_OUT` override it. Unknown keys and values of the wrong type are errors that name
    /// the key. A TARGET of a known board supplies its AXI width and clock unless they are given.
    public init(json data: Data) throws {
        self.init()
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw HardwareConfigError(key: "(file)", message: "not valid JSON: \(error.localizedDescription)")
        }
        guard let dict = object as? [String: Any] else {
            throw HardwareConfigError(key: "(file)", message: "expected a JSON object of KEY: value")
        }
        // LOG_BLOCK first, so that explicit LOG_BLOCK_IN / LOG_BLOCK_OUT win whatever the key order.
        let ordered = dict.keys.sorted { a, b in (a == "LOG_BLOCK" ? 0 : 1, a) < (b == "LOG_BLOCK" ? 0 : 1, b) }
        for key in ordered {
            let value = dict[key]!
            switch key {
            case "TARGET":
                guard let text = value as? String, !text.isEmpty else {
                    throw HardwareConfigError(key: key, message: "expected a non-empty string")
                }
                target = text
            case "HW_VER":
                guard let text = value as? String else { throw HardwareConfigError(key: key, message: "expected a string such as \"0.0.2\"") }
                try setVersion(text)
            case "CLOCK_MHZ":
                guard let number = value as? NSNumber, !(value is Bool) else {
                    throw HardwareConfigError(key: key, message: "expected a number")
                }
                try set(key, to: "\(number.doubleValue)")
            default:
                guard let number = value as? NSNumber, !(value is Bool),
                      number.doubleValue == number.doubleValue.rounded(), abs(number.doubleValue) < 1e9 else {
                    throw HardwareConfigError(key: key, message: "expected an integer, got \(value)")
                }
                try set(key, integer: number.intValue)
            }
        }
        if let board = Self.boardDefaults(target) {
            if dict["AXI_WIDTH"] == nil { axiWidth = board.axi }
            if dict["CLOCK_MHZ"] == nil { clockMHz = board.mhz }
        }
    }

    /// Loads a vta_config.json file.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HardwareConfigError(key: "(file)", message: "cannot read \(path)")
        }
        try self.init(json: data)
    }

    /// The configuration as a vta_config.json object (with vtafarm's memory-system keys).
    public var jsonObject: [String: Any] {
        var dict: [String: Any] = ["TARGET": target, "HW_VER": hwVersion, "CLOCK_MHZ": clockMHz]
        for key in Self.integerKeys { dict[key.name] = self[keyPath: key.path] }
        if logBlockIn == logBlockOut { dict["LOG_BLOCK"] = logBlockIn }
        return dict
    }

    public func jsonData() throws -> Data {
        try JSONSerialization.data(withJSONObject: jsonObject, options: [.prettyPrinted, .sortedKeys])
    }
}
