import VTA

/// What one kind of flow stage is: the settings it takes in the flow file and how it runs on the
/// flow's shared state. Each kind is one file in FlowStages/ and one case of `Flow.Kind`; the
/// parser and the runner ask the kind, so a new stage touches nothing else.
protocol FlowStage {
    /// Settings keys it accepts besides none (`Flow.parse` rejects any other).
    static var settings: Set<String> { get }
    /// Whether the flow file must give it a budget.
    static var needsBudget: Bool { get }
    /// Runs one run of the stage (`name` as in its records and log lines) and reports it.
    static func run(
        _ stage: Flow.Stage, name: String, state: inout FlowRunner.State, flow: FlowRunner
    ) throws -> FlowRunner.StageReport
}

extension Flow.Kind {
    /// The stage kind's behaviour: the one row a new stage adds.
    var stage: any FlowStage.Type {
        switch self {
        case .search: return SearchStage.self
        case .tune: return TuneStage.self
        case .verify: return VerifyStage.self
        case .fork: return ForkStage.self
        }
    }
}

extension FlowRunner.State {
    /// Sets the model latency after a stage and its gain (percent) over `before`.
    mutating func update(latency: Int?, before: Int?) {
        self.latency = latency
        gain = latency.map { now in before.map { 100 * Double($0 - now) / Double($0) } ?? 100 }
    }
}
