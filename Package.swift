// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Wharf",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wharf", targets: ["wharf"]),
        .library(name: "WharfProtocol", targets: ["WharfProtocol"]),
        .library(name: "WharfStorage", targets: ["WharfStorage"]),
        .library(name: "WharfEngine", targets: ["WharfEngine"]),
        .library(name: "WharfServer", targets: ["WharfServer"]),
        .library(name: "WharfClient", targets: ["WharfClient"]),
        .library(name: "Wharf", targets: ["Wharf"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        .target(
            name: "WharfProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio")
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WharfClient",
            dependencies: [
                "WharfProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Wharf",
            dependencies: [
                "WharfClient",
                "WharfEngine",
                "WharfStorage",
                "WharfProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "CWharfSystem"),
        .target(
            name: "WharfStorage",
            dependencies: ["CWharfSystem"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WharfEngine",
            dependencies: [
                "WharfProtocol",
                "WharfStorage",
                "CWharfSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "WharfServer",
            dependencies: [
                "WharfProtocol",
                "WharfEngine",
                "WharfStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "CWharfSystem",
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "wharf",
            dependencies: [
                "WharfServer",
                "WharfStorage",
                "WharfProtocol",
                "CWharfSystem",
                "WharfEngine",
                "WharfClient",
                "Wharf",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WharfProtocolTests",
            dependencies: ["WharfProtocol", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WharfStorageTests",
            dependencies: ["WharfStorage", "CWharfSystem"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WharfEngineTests",
            dependencies: [
                "WharfEngine", "WharfProtocol", "WharfStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WharfClientTests",
            dependencies: ["WharfClient", "WharfProtocol", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WharfTests",
            dependencies: [
                "Wharf", "WharfEngine", "WharfProtocol", .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WharfClientIntegrationTests",
            dependencies: [
                "Wharf", "WharfClient", "WharfProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WharfServerTests",
            dependencies: [
                "WharfServer", "WharfEngine", "WharfProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
