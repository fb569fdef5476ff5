import ArgumentParser
import Foundation
import Search
import VTA
import Yams

/// `--hw FILE` and `--hw-set KEY=VALUE,...`, shared by every command that takes a VTA.
struct HardwareOptions: ParsableArguments {
    @Option(
        name: .customLong("hw"),
        help: ArgumentHelp("A vta_config.json file (default: the stock 1x16x16 VTA).", valueName: "vta_config.json"))
    var configFile: String?

    @Option(
        name: .customLong("hw-set"),
        help: ArgumentHelp(
            "Override configuration keys, e.g. LOG_BLOCK_IN=5,AXI_WIDTH=128. Keys: \(HardwareConfig.keyNames.joined(separator: ", ")).",
            valueName: "KEY=VALUE,..."))
    var assignments: [String] = []

    @Option(
        help: ArgumentHelp(
            "Check the configuration against an FPGA's DSP and block-RAM budget: \(FPGA.boards.map { "\($0.name) (\($0.part))" }.joined(separator: ", ")).",
            valueName: "board"))
    var fpga: String?

    func config() throws -> HardwareConfig {
        var config = HardwareConfig.stock
        do {
            if let path = configFile { config = try HardwareConfig(contentsOf: path) }
            for a in assignments { try config.apply(assignments: a) }
        } catch let e as HardwareConfigError {
            throw UserError(configFile.map { "\($0): \(e)" } ?? e.description)
        }
        return config
    }

    func part() throws -> FPGA? {
        guard let fpga else { return nil }
        guard let part = FPGA.named(fpga) else {
            throw UserError("unknown FPGA '\(fpga)': use one of \(FPGA.boards.map(\.name).joined(separator: ", "))")
        }
        return part
    }

    /// The derived spec. A configuration VTA cannot be built with (or that does not fit --fpga)
    /// prints its invalid reason and exits with status 2, like an invalid schedule.
    func spec() throws -> HardwareSpec {
        let spec = HardwareSpec(try config())
        let board = try part()
        if let reason = spec.invalidReason ?? board?.misfit(spec) {
            FileHandle.standardError.write(Data("invalid hardware configuration: \(reason)\n".utf8))
            throw ExitCode(2)
        }
        return spec
    }
}

/// Models by zoo name, from an ONNX network (`.onnx`), or from a YAML/JSON layer-table file.
enum ModelLoader {
    static func isONNX(_ name: String) -> Bool { name.lowercased().hasSuffix(".onnx") }

    static func load(_ name: String) throws -> Model {
        if let model = ModelZoo.model(named: name) { return model }
        guard FileManager.default.fileExists(atPath: name) else {
            throw UserError(
                "unknown model '\(name)': not one of \(ModelZoo.names.joined(separator: ", ")) and no such file")
        }
        if isONNX(name) { return try importONNX(name).model }
        guard let text = try? String(contentsOfFile: name, encoding: .utf8) else {
            throw UserError("\(name): cannot read the file")
        }
        do {
            return try YAMLDecoder().decode(ModelFile.self, from: text).model()
        } catch let e as WorkloadError {
            throw UserError("\(name): \(e.message)")
        } catch let e as DecodingError {
            throw UserError("\(name): \(describe(e))")
        } catch {
            throw UserError("\(name): not a valid layer table: \(error)")
        }
    }

    /// The ONNX import with its per-node report; a network with nothing VTA can run is an error
    /// that says why its convolutions and dense layers stay on the CPU.
    static func importONNX(_ path: String) throws -> ONNXImport {
        let imported: ONNXImport
        do { imported = try ONNXImport(contentsOf: path) } catch let e as WorkloadError {
            throw UserError("\(path): \(e.message)")
        }
        if imported.model.layers.isEmpty {
            let why = imported.nodes.prefix(3).map { n -> String in
                if case .cpu(let reason) = n.placement { return "\(n.node) (\(n.opType)): \(reason)" }
                return n.node
            }
            throw UserError(
                "\(path): no Conv, Gemm or MatMul that VTA can run"
                    + (why.isEmpty ? "" : "; \(why.joined(separator: "; "))"))
        }
        return imported
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ p: [CodingKey]) -> String {
            p.map { $0.intValue.map { "layers[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".").replacingOccurrences(of: "layers.layers[", with: "layers[")
        }
        switch e {
        case .keyNotFound(let key, let ctx):
            return
                "missing field '\(key.stringValue)' at \(path(ctx.codingPath).isEmpty ? "top level" : path(ctx.codingPath))"
        case .typeMismatch(let type, let ctx), .valueNotFound(let type, let ctx):
            let wanted = type == Int.self ? "an integer" : type == String.self ? "a string" : "\(type)"
            return "field \(path(ctx.codingPath)): expected \(wanted)"
        case .dataCorrupted(let ctx):
            // Yams puts the line and column of a syntax error in the underlying error.
            let detail = ctx.underlyingError.map { "\($0)" } ?? ctx.debugDescription
            return "not valid YAML: \(detail.trimmingCharacters(in: .whitespacesAndNewlines))"
        @unknown default: return "\(e)"
        }
    }
}

/// Pads to a column width (left-aligned text, or right-aligned numbers).
func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? fill + s : s + fill
}

func jsonLine(_ object: Any) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self)
}

extension SimCounters {
    /// The counters as a JSON object (through their Codable snake_case keys).
    var jsonObject: Any {
        let data = (try? JSONEncoder().encode(self)) ?? Data("{}".utf8)
        return (try? JSONSerialization.jsonObject(with: data)) ?? [:]
    }
}

extension HardwareSpace.Extent: ExpressibleByArgument {}
