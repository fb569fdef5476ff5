import Foundation
import Search
import VTA
import Yams

/// A tuning job as a user-composable flow of stages (after MetaML: reusable tasks, shared state,
/// control blocks), declared in a YAML file instead of hard-coded:
///
///     stages:
///       - search:            # arco: hardware and schedules together
///           budget: 320
///           fpga: zcu104
///           space: {LOG_BATCH: 0}
///       - tune:              # schedules only, on the flow's hardware (the best found so far)
///           tuner: xgb
///           budget: 160
///           repeat: 3        # up to 3 runs ...
///           until: gain < 1  # ... stopping after one that improves latency by under 1%
///       - fork:              # branches from the same state; the lowest latency carries on
///           pynq: [search: {budget: 200, fpga: pynq-z1}]
///           zcu104: [search: {budget: 200, fpga: zcu104}]
///       - verify: {}         # functional check of every layer's best schedule
///
/// Shared state: one records file (every stage learns from everything measured before it and
/// never measures anything twice), the flow's hardware, and its model latency. Predicates
/// (`when`, `until`) compare `latency` (cycles), `gain` (percent improvement of the model latency
/// by the last stage run) or `measured` (measurements so far) with a number.
public struct Flow: Sendable, Equatable {
    /// The stage kinds; what each one does, and the settings it takes, are in FlowStages/.
    public enum Kind: String, Sendable, CaseIterable { case search, tune, verify, fork }

    public struct Stage: Sendable, Equatable {
        public var kind: Kind
        public var budget = 0
        public var tuner: TunerKind = .xgb
        public var fpga: String?
        public var space: [String: [Int]] = [:]
        public var planSize: Int?
        /// Added to the flow's seed (default: a hash of the stage's name, so every stage, repeat
        /// and branch draws differently, and the same in every run).
        public var seed: UInt64?
        public var when: Predicate?
        public var repeats = 1
        public var until: Predicate?
        /// A fork's named branches, each a list of stages, in file order.
        public var branches: [(name: String, stages: [Stage])] = []
        /// Line in the flow file, for messages.
        public var line: Int?

        public static func == (a: Stage, b: Stage) -> Bool {
            a.kind == b.kind && a.budget == b.budget && a.tuner == b.tuner && a.fpga == b.fpga && a.space == b.space
                && a.planSize == b.planSize && a.seed == b.seed && a.when == b.when && a.repeats == b.repeats
                && a.until == b.until
                && a.branches.map(\.name) == b.branches.map(\.name)
                && a.branches.map(\.stages) == b.branches.map(\.stages)
        }
    }

    public struct Predicate: Sendable, Equatable, CustomStringConvertible {
        public enum Variable: String, Sendable, CaseIterable { case latency, gain, measured }
        public enum Comparison: String, Sendable, CaseIterable {
            case lessOrEqual = "<="
            case greaterOrEqual = ">="
            case less = "<"
            case greater = ">"
        }
        public var variable: Variable
        public var comparison: Comparison
        public var value: Double

        public var description: String {
            "\(variable.rawValue) \(comparison.rawValue) \(value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value))"
        }

        /// `VARIABLE OP NUMBER`, NUMBER optionally with a `%` (gain) or `_`/`,` separators.
        public init?(parsing text: String) {
            let t = text.trimmingCharacters(in: .whitespaces)
            guard let v = Variable.allCases.first(where: { t.hasPrefix($0.rawValue) }) else { return nil }
            let rest = t.dropFirst(v.rawValue.count).trimmingCharacters(in: .whitespaces)
            guard let c = Comparison.allCases.first(where: { rest.hasPrefix($0.rawValue) }) else { return nil }
            var number = rest.dropFirst(c.rawValue.count).trimmingCharacters(in: .whitespaces)
            if number.hasSuffix("%") { number.removeLast() }
            number.removeAll { $0 == "_" || $0 == "," }
            guard let x = Double(number), x.isFinite else { return nil }
            variable = v
            comparison = c
            value = x
        }

        /// Whether it holds; a variable with no value yet (no latency) makes it false.
        public func holds(_ values: [Variable: Double]) -> Bool {
            guard let x = values[variable] else { return false }
            switch comparison {
            case .less: return x < value
            case .lessOrEqual: return x <= value
            case .greater: return x > value
            case .greaterOrEqual: return x >= value
            }
        }
    }

    public var stages: [Stage]

    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let line: Int?
        public let message: String
        public var description: String { "\(path)\(line.map { ":\($0)" } ?? ""): \(message)" }
    }

    public static func load(path: String) throws -> Flow {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LoadError(path: path, line: nil, message: "cannot read the file")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String = "flow.yaml") throws -> Flow {
        func fail(_ node: Node?, _ message: String) -> LoadError {
            LoadError(path: path, line: node?.mark.map { $0.line }, message: message)
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw LoadError(path: path, line: nil, message: "not valid YAML: \(error)")
        }
        guard let root, let mapping = root.mapping else { throw fail(root, "expected a mapping with a `stages:` list") }
        for (k, _) in mapping where k.string != "stages" {
            throw fail(k, "unknown key \(k.string ?? "?") (expected stages)")
        }
        guard let list = mapping["stages"] else { throw fail(root, "`stages:` must be a non-empty list") }
        func stageList(_ list: Node, _ what: String) throws -> [Stage] {
            guard let items = list.sequence, !items.isEmpty else {
                throw fail(list, "\(what) must be a non-empty list")
            }
            return try items.map(stage)
        }
        func stage(_ item: Node) throws -> Stage {
            guard let m = item.mapping, m.count == 1, let (kindNode, body) = m.first, let name = kindNode.string else {
                throw fail(
                    item,
                    "each stage is one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")) with its settings")
            }
            guard let kind = Kind(rawValue: name) else {
                throw fail(
                    kindNode, "unknown stage \(name) (stages: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            var stage = Stage(kind: kind, line: kindNode.mark?.line)
            if kind == .fork {
                guard let branches = body.mapping, branches.count >= 2 else {
                    throw fail(body, "fork: expected two or more named branches (NAME: list of stages)")
                }
                for (branchName, stages) in branches {
                    guard let n = branchName.string, !n.isEmpty, !n.contains("/") else {
                        throw fail(branchName, "fork: a branch needs a name without /")
                    }
                    stage.branches.append((n, try stageList(stages, "fork: branch \(n)")))
                }
                return stage
            }
            let settings: Node.Mapping
            if let b = body.mapping {
                settings = b
            } else if body.null != nil {
                settings = Node.Mapping([])
            } else {
                throw fail(body, "\(name): expected settings (key: value lines) or {}")
            }
            func int(_ node: Node, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
                guard let v = node.int, range.contains(v) else {
                    throw fail(
                        node,
                        "\(name): \(key) must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(node.string ?? "?")'"
                    )
                }
                return v
            }
            func predicate(_ node: Node, _ key: String) throws -> Predicate {
                guard let s = node.string, let p = Predicate(parsing: s) else {
                    throw fail(
                        node,
                        "\(name): \(key): expected `VARIABLE OP NUMBER` (variables: \(Predicate.Variable.allCases.map(\.rawValue).joined(separator: ", ")); OP: <, <=, >, >=), not '\(node.string ?? "?")'"
                    )
                }
                return p
            }
            for (keyNode, value) in settings {
                let key = keyNode.string ?? "?"
                guard kind.stage.settings.contains(key) else {
                    throw fail(
                        keyNode,
                        "\(name): unknown setting \(key) (\(kind.stage.settings.sorted().joined(separator: ", ")))")
                }
                switch key {
                case "budget": stage.budget = try int(value, key, 1...10_000_000)
                case "plan-size": stage.planSize = try int(value, key, 1...4096)
                case "seed": stage.seed = UInt64(try int(value, key, 0...Int.max))
                case "repeat": stage.repeats = try int(value, key, 1...100)
                case "when": stage.when = try predicate(value, key)
                case "until": stage.until = try predicate(value, key)
                case "tuner":
                    guard let t = value.string.flatMap(TunerKind.init(rawValue:)) else {
                        throw fail(
                            value,
                            "\(name): tuner '\(value.string ?? "?")' is not one of \(TunerKind.allCases.map(\.rawValue).joined(separator: ", "))"
                        )
                    }
                    stage.tuner = t
                case "fpga":
                    guard let f = value.string, FPGA.named(f) != nil else {
                        throw fail(
                            value,
                            "\(name): unknown FPGA '\(value.string ?? "?")' (\(FPGA.boards.map(\.name).joined(separator: ", ")))"
                        )
                    }
                    stage.fpga = f
                case "space":
                    do { stage.space = try HardwareSpaceFile.overrides(value, path: path) } catch let e as LoadError {
                        throw LoadError(path: e.path, line: e.line, message: "\(name): space: \(e.message)")
                    }
                default: break
                }
            }
            if kind.stage.needsBudget && stage.budget == 0 {
                throw fail(kindNode, "\(name): needs a budget (measurements for this stage)")
            }
            if stage.until != nil && stage.repeats == 1 {
                throw fail(kindNode, "\(name): `until` needs `repeat` (how many runs at most)")
            }
            return stage
        }
        let stages = try stageList(list, "`stages:`")
        return Flow(stages: stages)
    }

    /// Measurements the flow may dispatch at most (every stage run to its last repeat).
    public var maximumBudget: Int { Self.budget(stages) }

    static func budget(_ stages: [Stage]) -> Int {
        stages.reduce(0) { $0 + $1.budget * $1.repeats + $1.branches.reduce(0) { $0 + budget($1.stages) } }
    }
}
