import VTA
import Wire

/// `verify`: every layer's best recorded schedule on the flow's hardware, run once more through
/// the runners with `verify` set: the backend computes the layer on seeded random data and
/// compares it with the reference convolution (vta-sim's functional model; behind `command:` the
/// board's own output against out.bin). Nothing is recorded: a check is not a measurement.
enum VerifyStage: FlowStage {
    static let settings: Set<String> = ["seed", "when"]
    static let needsBudget = false

    static func run(
        _ stage: Flow.Stage, name: String, state: inout FlowRunner.State, flow: FlowRunner
    ) throws -> FlowRunner.StageReport {
        var report = FlowRunner.StageReport(name: name)
        report.verification = try verify(flow, on: state.hardware, seed: stage.seed ?? 1)
        let failed = report.verification.filter { !($0.check?.passed ?? false) }
        if !failed.isEmpty { state.verified = false }
        flow.log(
            "stage \(name): \(report.verification.count - failed.count) of \(report.verification.count) layers' best schedules match the reference on \(state.hardware.shortName)"
        )
        for f in failed { flow.log("  \(f.layer): \(f.check?.description ?? "no valid measurement to verify")") }
        return report
    }

    /// nil check: the layer has nothing to verify (no valid measurement on that hardware).
    static func verify(
        _ flow: FlowRunner, on hardware: HardwareConfig, seed: UInt64
    ) throws -> [(layer: String, check: FlowRunner.LayerCheck?)] {
        let model = flow.base.model
        var layerOf: [UInt64: Int] = [:]
        var requests: [MeasureRequest] = []
        for (i, o) in flow.records.layerOutcomes(model, on: hardware).enumerated() {
            guard let best = o.best else { continue }
            let r = MeasureRequest(
                requestID: flow.dispatcher.newRequestID(), task: model.task(o.layer), workload: o.layer.workload,
                hardware: hardware, schedule: best.schedule, backend: flow.base.backend,
                timeoutMs: flow.base.timeoutMs, verify: true, dataSeed: seed)
            layerOf[r.requestID] = i
            requests.append(r)
        }
        var checks = [FlowRunner.LayerCheck?](repeating: nil, count: model.layers.count)
        flow.dispatcher.submit(requests)
        var received = 0
        while received < requests.count {
            guard let r = try flow.dispatcher.next(timeout: .seconds(1)) else { continue }
            guard let i = layerOf[r.requestID], checks[i] == nil else { continue }
            received += 1
            switch r.status {
            case .ok:
                checks[i] = FlowRunner.LayerCheck(passed: true, description: "matches the reference (on \(r.runner))")
            case .wrongAnswer:
                checks[i] = FlowRunner.LayerCheck(passed: false, description: "\(r.error) (on \(r.runner))")
            default:
                checks[i] = FlowRunner.LayerCheck(
                    passed: false, description: "not verified: \(r.status.rawValue) \(r.error) (on \(r.runner))")
            }
        }
        return model.layers.enumerated().map { ($0.element.name, checks[$0.offset]) }
    }
}
