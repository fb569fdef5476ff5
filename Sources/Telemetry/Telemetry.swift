import CoreMetrics
import Prometheus

/// Turns metrics on for this process: swift-metrics is bootstrapped with a Prometheus registry
/// (until then every Counter/Gauge/Timer in vtafarm is swift-metrics' no-op, so a run without
/// `--metrics` pays nothing), and `/metrics` is served at `address`. Call it once, before the
/// runner daemon or the tuning job is created (their metrics bind to the factory then).
public enum Telemetry {
    public static func start(address: String) throws -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Measurement wall times: a vta-sim layer takes milliseconds, a board or tsim seconds.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .milliseconds(1), .milliseconds(5), .milliseconds(20), .milliseconds(100),
            .milliseconds(500), .seconds(2), .seconds(10), .seconds(60),
        ]
        // Simulated cycles: from a tiny layer to a whole network's worth.
        factory.defaultValueHistogramBuckets = [1e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 1e8]
        MetricsSystem.bootstrap(factory)
        return try MetricsEndpoint(address: address) { registry.emitToString() }
    }
}
