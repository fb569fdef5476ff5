/// What both PPO trainers (the software agents' and the hardware agent's) share.
enum PPO {
    /// Generalized advantage estimation (gamma 0.9, lambda 0.95) over walker trajectories, with
    /// the critic's values as baseline. Returns (step, normalized advantage, return) per step,
    /// each trajectory from its last step back, or nil with fewer than two steps.
    static func advantages(
        _ trajectories: [[ARCOTuner.Step]], gamma: Float = 0.9,
        lambda: Float = 0.95
    ) -> [(ARCOTuner.Step, Float, Float)]? {
        var samples: [(ARCOTuner.Step, Float, Float)] = []
        for t in trajectories {
            var gae: Float = 0
            for k in stride(from: t.count - 1, through: 0, by: -1) {
                let nextValue: Float = k + 1 < t.count ? t[k + 1].value : 0
                let delta = t[k].reward + gamma * nextValue - t[k].value
                gae = delta + gamma * lambda * gae
                samples.append((t[k], gae, gae + t[k].value))
            }
        }
        guard samples.count > 1 else { return nil }
        let mean = samples.map(\.1).reduce(0, +) / Float(samples.count)
        let std = max(
            1e-6, (samples.map { ($0.1 - mean) * ($0.1 - mean) }.reduce(0, +) / Float(samples.count)).squareRoot())
        return samples.map { ($0.0, ($0.1 - mean) / std, $0.2) }
    }
}
