import Foundation

/// The backends a runner can serve, as data: `--backend`, cluster.yaml's validator and the help
/// texts all read this table. A new backend is one new file beside this one plus one row here.
public struct BackendKind: Sendable {
    /// What a request selects it by, and the part of `--backend` before the colon.
    public let name: String
    /// The argument after `name:` (e.g. "PATH"), or nil for a backend that takes none.
    public let argument: String?
    public let help: String
    /// Builds the backend from its argument ("" when it takes none); throws on a bad argument.
    let make: @Sendable (String) throws -> MeasurementBackend

    public static let all: [BackendKind] = [
        BackendKind(name: "vta-sim", argument: nil, help: "the built-in cycle-level VTA simulator (default)") { _ in
            VTASimBackend()
        },
        BackendKind(
            name: "command", argument: "PATH",
            help: """
                runs PATH per request: request JSON on stdin, result JSON on stdout, killed at the timeout \
                (README: "Command backend")
                """
        ) { path in
            guard !path.isEmpty else { throw BackendError("command: needs a program path, e.g. command:/opt/tsim/run") }
            return CommandBackend(path: path)
        },
        BackendKind(
            name: "delay", argument: "MS",
            help: "a synthetic backend that takes MS milliseconds, for benchmarking the farm"
        ) { text in
            guard let ms = Double(text), ms >= 0, ms <= 3_600_000 else {
                throw BackendError("delay: needs milliseconds between 0 and 3600000, e.g. delay:20")
            }
            return DelayBackend(milliseconds: ms, argument: text)
        },
    ]

    /// How `--backend` is written: `vta-sim` or `command:PATH`.
    public var usage: String { argument.map { "\(name):\($0)" } ?? name }

    /// "vta-sim, command:PATH or delay:MS".
    public static var choices: String {
        let all = Self.all.map(\.usage)
        return all.dropLast().joined(separator: ", ") + (all.count > 1 ? " or " : "") + (all.last ?? "")
    }

    /// One line per backend, for `--help`.
    public static var helpLines: String {
        let width = (all.map(\.usage.count).max() ?? 0) + 3
        return all.map { "  " + $0.usage.padding(toLength: width, withPad: " ", startingAt: 0) + $0.help }
            .joined(separator: "\n")
    }

    /// Parses a `--backend` value into its backend.
    public static func make(_ spec: String) throws -> MeasurementBackend {
        guard !spec.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw BackendError("backend '\(spec.debugDescription.dropFirst().dropLast())' holds control characters")
        }
        let name = spec.split(separator: ":", maxSplits: 1).first.map(String.init) ?? spec
        guard let kind = all.first(where: { $0.name == name }) else {
            throw BackendError("unknown backend '\(spec)': use \(choices)")
        }
        if kind.argument == nil {
            guard spec == kind.name else { throw BackendError("\(kind.name) takes no argument") }
            return try kind.make("")
        }
        guard spec.hasPrefix(kind.name + ":") else {
            throw BackendError("\(kind.name) needs an argument: \(kind.usage)")
        }
        return try kind.make(String(spec.dropFirst(kind.name.count + 1)))
    }

    /// Nil when `spec` names a backend with a good argument, else why not (cluster.yaml's check).
    public static func problem(with spec: String) -> String? {
        do {
            _ = try make(spec)
            return nil
        } catch { return "\(error)" }
    }
}
