import Search
import VTA

/// `search`: arco over hardware and schedules together, within the stage's board (`fpga`, else
/// the flow's) and `space`; the flow's hardware becomes the best configuration found.
enum SearchStage: FlowStage {
    static let settings: Set<String> = ["budget", "fpga", "space", "plan-size", "seed", "when", "repeat", "until"]
    static let needsBudget = true

    static func run(
        _ stage: Flow.Stage, name: String, state: inout FlowRunner.State, flow: FlowRunner
    ) throws -> FlowRunner.StageReport {
        var settings = flow.settings(for: stage, name: name, state: state)
        settings.tuner = .arco
        let board = stage.fpga.flatMap(FPGA.named) ?? flow.defaultFPGA ?? FPGA.defaultBoard
        do {
            settings.hardwareSpace = try HardwareSpace(
                base: state.hardware, fpga: board, workloads: flow.base.model.layers.map(\.workload),
                overrides: stage.space)
        } catch let e as HardwareSpace.SpaceError {
            throw FlowRunner.FlowError(description: "stage \(name) (line \(stage.line ?? 0)): \(e.description)")
        }
        return try flow.runJob(settings, stage: stage, name: name, what: "arco within \(board.name)", &state)
    }
}
