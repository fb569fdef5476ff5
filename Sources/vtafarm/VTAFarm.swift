import ArgumentParser

@main
struct VTAFarm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vtafarm",
        abstract: "Co-optimize the VTA deep-learning accelerator and the schedules that run on it.",
        discussion: """
            vtafarm compiles DNN layers to VTA instructions and measures them on a cycle-level VTA \
            simulator. Start with `vtafarm sim --model resnet18 --best`.
            """,
        subcommands: [
            Sim.self, Tune.self, CoordinatorCommand.self, Records.self, RunnerCommand.self, TrackerCommand.self,
            Measure.self, Cluster.self,
            Keys.self, Report.self, Bench.self,
        ]
    )
}

/// A user-facing failure: printed as `error: ...` with exit code 1, never a crash.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
