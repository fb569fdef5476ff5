import VTA

/// `verify`: every layer's best recorded schedule on the flow's hardware, checked on the
/// functional model against the reference convolution (seeded random tensors).
enum VerifyStage: FlowStage {
    static let settings: Set<String> = ["seed", "when"]
    static let needsBudget = false

    static func run(
        _ stage: Flow.Stage, name: String, state: inout FlowRunner.State, flow: FlowRunner
    ) throws -> FlowRunner.StageReport {
        var report = FlowRunner.StageReport(name: name)
        report.verification = try verify(flow, on: state.hardware, seed: stage.seed ?? 1)
        let failed = report.verification.filter { !($0.outcome?.passed ?? false) }
        if !failed.isEmpty { state.verified = false }
        flow.log(
            "stage \(name): \(report.verification.count - failed.count) of \(report.verification.count) layers' best schedules match the reference on \(state.hardware.shortName)"
        )
        for f in failed { flow.log("  \(f.layer): \(f.outcome?.description ?? "no valid measurement to verify")") }
        return report
    }

    /// nil outcome: the layer has nothing to verify (no valid measurement on that hardware).
    static func verify(
        _ flow: FlowRunner, on hardware: HardwareConfig, seed: UInt64
    ) throws -> [(layer: String, outcome: FunctionalCheck.Outcome?)] {
        let spec = HardwareSpec(hardware)
        return try flow.records.layerOutcomes(flow.base.model, on: hardware).map { o in
            guard let best = o.best else { return (o.layer.name, nil) }
            return (o.layer.name, try FunctionalCheck.run(o.layer.workload, best.schedule, spec: spec, seed: seed))
        }
    }
}
