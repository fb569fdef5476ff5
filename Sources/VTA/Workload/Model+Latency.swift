/// A model's latency, written once: the sum over its layers of `count x` the layer's cycles.
extension Model {
    /// The sum over `layers` of count x `cycles(index)`; nil when a layer has no cycles or the sum
    /// overflows (cycles come from runners and files, which are not trusted to be small).
    public static func latency(of layers: [Layer], _ cycles: (Int) -> Int?) -> Int? {
        var total = 0
        for (i, layer) in layers.enumerated() {
            guard let c = cycles(i) else { return nil }
            let (product, o1) = c.multipliedReportingOverflow(by: layer.count)
            let (sum, o2) = total.addingReportingOverflow(product)
            guard !o1, !o2 else { return nil }
            total = sum
        }
        return total
    }

    /// The sum over `layers` of count x ceil(MACs / MACs per cycle of `spec`): no schedule runs
    /// them on that GEMM core in fewer cycles (padding only adds MACs). Nil when the sum overflows.
    public static func computeBound(of layers: [Layer], on spec: HardwareSpec) -> Int? {
        latency(of: layers) { (layers[$0].workload.macs + spec.macsPerCycle - 1) / spec.macsPerCycle }
    }

    /// This model's latency from each layer's cycles, by layer index (see `latency(of:_:)`).
    public func latency(_ cycles: (Int) -> Int?) -> Int? { Self.latency(of: layers, cycles) }

    /// Each layer's cycles with its default schedule on `spec` (nil: no valid default): the
    /// baseline every summary compares a tuned model against.
    public func defaultScheduleCycles(on spec: HardwareSpec) -> [Int?] {
        layers.map { layer in
            ScheduleSpace(workload: layer.workload, spec: spec).defaultSchedule(spec).flatMap {
                ScheduleSpace.evaluate(layer.workload, $0, spec).cycles
            }
        }
    }
}
