import Foundation
import Yams

/// `KNOB: value` or `KNOB: [values]` lines narrowing or fixing arco's hardware knobs (a
/// `--hw-space` file, or a flow's `space:`).
public enum HardwareSpaceFile {
    public static func load(path: String) throws -> [String: [Int]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Flow.LoadError(path: path, line: nil, message: "cannot read the file")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw Flow.LoadError(path: path, line: nil, message: "not valid YAML: \(error)")
        }
        guard let node else { throw Flow.LoadError(path: path, line: nil, message: "expected KNOB: value lines") }
        return try overrides(node, path: path)
    }

    static func overrides(_ node: Node, path: String) throws -> [String: [Int]] {
        guard let mapping = node.mapping else {
            throw Flow.LoadError(path: path, line: node.mark?.line, message: "expected KNOB: value lines")
        }
        var out: [String: [Int]] = [:]
        for (key, value) in mapping {
            let name = key.string ?? "?"
            let line = key.mark?.line
            if let v = value.int {
                out[name] = [v]
                continue
            }
            guard let list = value.sequence, !list.isEmpty else {
                throw Flow.LoadError(
                    path: path, line: line, message: "\(name): expected an integer or a list of integers")
            }
            out[name] = try list.map { item in
                guard let v = item.int else {
                    throw Flow.LoadError(
                        path: path, line: line, message: "\(name): '\(item.string ?? "?")' is not an integer")
                }
                return v
            }
        }
        return out
    }
}
