extension Duration {
    /// The duration in seconds as a Double, for rates and reports (every module measures with
    /// ContinuousClock and prints seconds).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
