import Search
import VTA

extension RecordStore {
    /// Every fully measured configuration of `model` (fastest first, as `measuredConfigurations`)
    /// with its design: the same core with the smallest buffers that still compile each layer's
    /// best schedule there (`Objective.Design.shrunk`; cycles do not depend on buffer sizes).
    /// Shrinking compiles every layer at each step (about 20 ms a ResNet-18 configuration), so it
    /// runs on every core.
    public func designs(_ model: Model) -> [(measured: HardwareConfig, design: Objective.Design)] {
        let measured = measuredDesigns(model)
        let workloads = model.layers.map(\.workload)
        return concurrentMap(measured.count) { i in
            let c = measured[i]
            return (
                c.hardware,
                Objective.Design(shrinking: c.hardware, holding: zip(workloads, c.schedules), cycles: c.latency)
            )
        }
    }

    /// The design `hardware` stands for (see `designs`), nil while a layer of `model` has no
    /// valid measurement there.
    public func design(_ model: Model, on hardware: HardwareConfig) -> Objective.Design? {
        let outcomes = layerOutcomes(model, on: hardware)
        guard let cycles = model.latency({ outcomes[$0].best?.cycles }) else { return nil }
        let held = zip(model.layers.map(\.workload), outcomes.map { $0.best!.schedule })
        return Objective.Design(shrinking: hardware, holding: held, cycles: cycles)
    }
}
