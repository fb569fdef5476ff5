// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "vtafarm",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vtafarm", targets: ["vtafarm"]),
        .library(name: "VTA", targets: ["VTA"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
    ],
    targets: [
        // The accelerator: hardware configuration, ISA, workloads, schedules, compiler, simulator.
        // Depends on nothing, so the runner, the search and the tests all share one model of VTA.
        .target(name: "VTA"),
        // C interop lives only in these thin targets.
        .systemLibrary(name: "CZmq", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        // protoc-c's output for Protos/vtafarm.proto, committed; Scripts/gen-protos regenerates it.
        .target(name: "CFarmProto", dependencies: ["CProtobufC"]),
        .systemLibrary(name: "CXGBoost", pkgConfig: "xgboost", providers: [.apt(["libxgboost-dev"])]),
        // Messages as Swift values, their protobuf encoding, and the ZeroMQ sockets.
        .target(name: "Wire", dependencies: ["VTA", "CZmq", "CFarmProto"]),
        // The runner daemon and its measurement backends.
        .target(
            name: "Runner",
            dependencies: [
                "VTA", "Wire", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // The search: spaces, the XGBoost cost model, tuners (one file each under Tuners/).
        .target(name: "Search", dependencies: ["VTA", "CXGBoost"]),
        // The coordinator's side of the farm: cluster.yaml, the dispatcher, the embedded local farm.
        .target(name: "Coordinator", dependencies: [
            "VTA", "Wire", "Search", "Runner", .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // Metrics out: swift-metrics bootstrapped with Prometheus, and the /metrics listener.
        .target(name: "Telemetry", dependencies: [
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // What a records file says, as data and as one self-contained HTML page.
        .target(name: "Reports", dependencies: ["VTA", "Coordinator"]),
        .executableTarget(
            name: "vtafarm",
            dependencies: [
                "VTA", "Wire", "Runner", "Coordinator", "Search", "Reports", "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The fuzz targets: built with -sanitize=fuzzer by Scripts/fuzz, or as a replayer of the
        // regression inputs under Tests/Fuzz.
        .executableTarget(name: "vtafarm-fuzz", dependencies: ["VTA", "Wire"]),
        // Tests mirror Sources; FarmTestSupport holds what the farm tests share (the binary, requests).
        .target(name: "FarmTestSupport", dependencies: ["VTA", "Wire", "Coordinator"], path: "Tests/FarmTestSupport"),
        .testTarget(name: "VTATests", dependencies: ["VTA"]),
        .testTarget(name: "WireTests", dependencies: ["VTA", "Wire"]),
        .testTarget(name: "RunnerTests", dependencies: ["VTA", "Wire", "Runner", "Coordinator", "FarmTestSupport"]),
        .testTarget(name: "SearchTests", dependencies: ["VTA", "Search"]),
        .testTarget(name: "CoordinatorTests", dependencies: ["VTA", "Wire", "Search", "Coordinator", "FarmTestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["VTA", "Coordinator", "Reports"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry"]),
    ]
)
