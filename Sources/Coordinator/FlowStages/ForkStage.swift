import Search
import VTA

/// `fork`: named branches of stages, each from the same state; the branch with the lowest model
/// latency carries on (ties: the first), or under `--objective dsp|bram` the branch whose design
/// the objective prefers (the smallest within the latency bound). Every branch's records stay in
/// the file.
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
        let objective = flow.base.objective
        let designs = outcomes.map { o in
            objective.maxCycles == nil ? nil : flow.records.design(flow.base.model, on: o.state.hardware)
        }
        // `min` keeps the first of equals: on a tie the first branch carries on.
        let best = outcomes[
            outcomes.indices.min { i, j in
                switch (designs[i], designs[j]) {
                case (let a?, let b?): return objective.prefers(a, b)
                case (.some, nil): return true
                case (nil, .some): return false
                case (nil, nil): return (outcomes[i].state.latency ?? .max) < (outcomes[j].state.latency ?? .max)
                }
            }!]
        let before = state.latency
        let reports = state.reports
        state = best.state
        state.reports = reports
        state.verified = state.verified && outcomes.allSatisfy(\.state.verified)
        // From the whole file: a later branch may have measured more on the winner's hardware.
        state.update(latency: flow.latency(on: state.hardware), before: before)
        report.latency = state.latency
        report.gain = state.gain
        let branches = zip(outcomes, designs).map { o, d in
            "\(o.name) \(o.state.latency.map(formatCycles) ?? "incomplete")"
                + (d.map { " cycles, \($0.dsp) DSP, \($0.bram) BRAM36" }
                    ?? (objective.maxCycles == nil ? "" : " cycles"))
        }
        let rule = objective.maxCycles == nil ? "" : " by objective \(objective)"
        let unit = objective.maxCycles == nil ? " cycles" : ""
        flow.log(
            "stage \(name): branch \(best.name) carries on\(rule) (\(branches.joined(separator: ", "))\(unit)); hardware \(state.hardware.shortName)"
        )
        return report
    }
}
