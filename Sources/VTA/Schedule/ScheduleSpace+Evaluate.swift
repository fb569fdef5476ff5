import Foundation

/// The outcome of compiling and simulating one schedule.
public enum Evaluation: Sendable {
    case invalid(InvalidReason)
    case measured(cycles: Int, counters: SimCounters)
    case failed(SimulationStatus)

    public var cycles: Int? { if case .measured(let c, _) = self { return c } else { return nil } }
}

extension ScheduleSpace {
    /// Compiles and simulates (timing mode) one schedule.
    public static func evaluate(
        _ workload: Workload, _ schedule: Schedule, _ spec: HardwareSpec,
        timing: TimingParameters = .tsim
    ) -> Evaluation {
        switch Compiler.compile(workload, schedule, spec) {
        case .failure(let reason): return .invalid(reason)
        case .success(let program):
            let result = Simulator(spec: spec, timing: timing).run(program)
            guard result.status == .ok else { return .failed(result.status) }
            return .measured(cycles: result.cycles, counters: result.counters)
        }
    }

    /// Everything an exhaustive sweep of a space learned.
    public struct Sweep: Sendable {
        public var best: (schedule: Schedule, cycles: Int, counters: SimCounters)?
        public var size: Int
        public var valid: Int
        public var reasons: [InvalidReason.Code: Int]
        public var failures: [String]
        /// Wall seconds spent compiling + simulating each valid schedule.
        public var secondsPerValid: [Double]
    }

    /// Evaluates every schedule of the space (in parallel over `threads` workers).
    public func sweep(
        _ spec: HardwareSpec, timing: TimingParameters = .tsim,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> Sweep {
        let n = size
        let results = UnsafeSendableBox([(Evaluation, Double)?](repeating: nil, count: n))
        let workers = max(1, min(threads, n))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var i = worker
            while i < n {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let e = Self.evaluate(workload, schedule(at: i), spec, timing: timing)
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                results.set(i, (e, dt))
                i += workers
            }
        }
        var sweep = Sweep(best: nil, size: n, valid: 0, reasons: [:], failures: [], secondsPerValid: [])
        for i in 0..<n {
            guard let (e, dt) = results.value[i] else { continue }
            switch e {
            case .invalid(let r): sweep.reasons[r.code, default: 0] += 1
            case .failed(let status):
                sweep.failures.append("\(schedule(at: i)): \(status.name) \(status.message ?? "")")
            case .measured(let cycles, let counters):
                sweep.valid += 1
                sweep.secondsPerValid.append(dt)
                if sweep.best == nil || cycles < sweep.best!.cycles {
                    sweep.best = (schedule(at: i), cycles, counters)
                }
            }
        }
        return sweep
    }

    /// A sensible schedule without searching: the valid schedule with the lowest analytic cost
    /// (GEMM cycles, DMA beats and instruction overheads; loads and compute overlap when there
    /// are virtual threads). Nil when the space has no valid schedule.
    public func defaultSchedule(_ spec: HardwareSpec) -> Schedule? {
        var best: (Schedule, Double)? = nil
        for i in 0..<size {
            let s = schedule(at: i)
            guard case .success(let p) = TilePlan.make(workload, s, spec) else { continue }
            let cost = p.estimatedCycles(spec)
            if best == nil || cost < best!.1 { best = (s, cost) }
        }
        return best?.0
    }
}

extension TilePlan {
    /// A rough cycle estimate used only to pick a default schedule.
    func estimatedCycles(_ spec: HardwareSpec) -> Double {
        let s = schedule
        let tiles = Double(bOuter * hOuter * wOuter * coOuter)
        let chunks = tiles * Double(ciOuter)
        let gemm = chunks * Double(gemmKernel * (isDense ? s.tileCI : s.tileCO * s.tileH) + 9)
        let epilogue = tiles * 4 * Double(accTile + 9)
        let latency = Double(spec.config.dramLatency + 7)
        let loadBytes = chunks * Double(inpTile * spec.inpElemBytes + wgtTile * spec.wgtElemBytes)
        let loads = loadBytes / Double(spec.axiBytes) + chunks * Double(s.tileB * s.tileCI + 1) * latency
        let stores = tiles * Double(accTile * (spec.outElemBytes / spec.axiBytes + 2) + s.tileCO * s.tileB * 8)
        return threads > 1 ? max(gemm + epilogue, loads + stores) * 1.05 : gemm + epilogue + loads + stores
    }
}

/// A fixed-size array that concurrent workers fill at distinct indices.
final class UnsafeSendableBox<T>: @unchecked Sendable {
    var value: [T]
    private let lock = NSLock()
    init(_ value: [T]) { self.value = value }
    func set<U>(_ i: Int, _ v: U) where T == U? {
        lock.lock()
        value[i] = v
        lock.unlock()
    }
}
