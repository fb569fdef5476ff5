import VTA

/// `fork`: named branches of stages, each from the same state; the branch with the lowest model
/// latency carries on (ties: the first). Every branch's records stay in the file.
enum ForkStage: FlowStage {
    static let settings: Set<String> = []
    static let needsBudget = false

    static func run(
        _ stage: Flow.Stage, name: String, state: inout FlowRunner.State, flow: FlowRunner
    ) throws -> FlowRunner.StageReport {
        var report = FlowRunner.StageReport(name: name)
        var outcomes: [(name: String, state: FlowRunner.State)] = []
        for branch in stage.branches {
            var s = state
            s.reports = []
            try flow.run(branch.stages, prefix: "\(name)/\(branch.name)/", &s)
            state.reports += s.reports
            if !s.verified { state.verified = false }
            outcomes.append((branch.name, s))
        }
        let best = outcomes.min { a, b in (a.state.latency ?? .max) < (b.state.latency ?? .max) }!
        let before = state.latency
        let reports = state.reports
        state = best.state
        state.reports = reports
        state.verified = state.verified && outcomes.allSatisfy(\.state.verified)
        state.update(latency: state.latency, before: before)
        report.latency = state.latency
        report.gain = state.gain
        let branches = outcomes.map { "\($0.name) \($0.state.latency.map(formatCycles) ?? "incomplete")" }
        flow.log(
            "stage \(name): branch \(best.name) carries on (\(branches.joined(separator: ", ")) cycles); hardware \(state.hardware.shortName)"
        )
        return report
    }
}
