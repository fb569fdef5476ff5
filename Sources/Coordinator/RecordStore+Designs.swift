import Foundation
import Search
import Synchronization
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
        let out = Mutex([Objective.Design?](repeating: nil, count: measured.count))
        let next = Mutex(0)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, measured.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let i = next.withLock { n -> Int in
                    defer { n += 1 }
                    return n
                }
                guard i < measured.count else { return }
                let c = measured[i]
                let small = Objective.Design.shrunk(c.hardware, holding: zip(workloads, c.schedules).map { ($0, $1) })
                let design = Objective.Design(hardware: small, cycles: c.latency)
                out.withLock { $0[i] = design }
            }
        }
        let designs = out.withLock { $0 }
        return measured.indices.compactMap { i in designs[i].map { (measured[i].hardware, $0) } }
    }

    /// The design `hardware` stands for (see `designs`), nil while a layer of `model` has no
    /// valid measurement there.
    public func design(_ model: Model, on hardware: HardwareConfig) -> Objective.Design? {
        let outcomes = layerOutcomes(model, on: hardware)
        guard let cycles = model.latency({ outcomes[$0].best?.cycles }) else { return nil }
        let held = zip(model.layers, outcomes).map { ($0.workload, $1.best!.schedule) }
        return Objective.Design(hardware: Objective.Design.shrunk(hardware, holding: held), cycles: cycles)
    }
}
