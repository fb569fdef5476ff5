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
    ],
    targets: [
        // The accelerator: hardware configuration, ISA, workloads, schedules, compiler, simulator.
        // Depends on nothing, so the runner, the search and the tests all share one model of VTA.
        .target(name: "VTA"),
        .executableTarget(
            name: "vtafarm",
            dependencies: [
                "VTA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(name: "VTATests", dependencies: ["VTA"]),
    ]
)
