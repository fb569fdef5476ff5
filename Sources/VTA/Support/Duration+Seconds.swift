extension Duration {
    /// The duration in seconds as a Double, for rates and reports (every module measures with
    /// ContinuousClock and prints seconds).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// Whole nanoseconds (truncated), for ping nonces and Dispatch timeouts.
    public var inNanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
