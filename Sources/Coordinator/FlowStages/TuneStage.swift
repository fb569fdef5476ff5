import Search
import VTA

/// `tune`: schedules only, with the stage's tuner, on the flow's hardware (the best found so far).
enum TuneStage: FlowStage {
    static let settings: Set<String> = ["budget", "tuner", "plan-size", "seed", "when", "repeat", "until"]
    static let needsBudget = true

    static func run(
        _ stage: Flow.Stage, name: String, state: inout FlowRunner.State, flow: FlowRunner
    ) throws -> FlowRunner.StageReport {
        var settings = flow.settings(for: stage, name: name, state: state)
        settings.tuner = stage.tuner
        settings.hardwareSpace = nil
        return try flow.runJob(settings, stage: stage, name: name, what: stage.tuner.rawValue, &state)
    }
}
