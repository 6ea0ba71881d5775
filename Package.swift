// swift-tools-version:6.2
import PackageDescription

// One package, three programs: `otactl` (operators), `ota-server` (fleet registry) and
// `ota-agent` (each device). docs/architecture.md gives the layout, docs/decisions/ the why.

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ota",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "otactl", targets: ["otactl"]),
        .executable(name: "ota-server", targets: ["ota-server"]),
        .executable(name: "ota-agent", targets: ["ota-agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Named for the tests' in-process channels (already in the build through Hummingbird).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Tests only: property-based checks, and reading openapi.yaml for the conformance test.
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries from the system (Debian: libssl-dev, libcurl4-openssl-dev).
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Bundles, signatures, trust, versions, tar. No networking, no database.
        .target(name: "OTACore", dependencies: ["COpenSSL"], swiftSettings: strict),

        // The HTTP client (libcurl) and the typed server API on top of it.
        .target(name: "OTAClient", dependencies: ["OTACore", "CCurl", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),

        // The fleet registry: Hummingbird routes over SQLite (GRDB) or PostgreSQL (postgres-nio)
        // and a content store (a local
        // folder, or an S3-compatible bucket reached with OTAClient's libcurl client).
        .target(
            name: "OTAServer",
            dependencies: [
                "OTACore",
                "OTAClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Resources"],
            swiftSettings: strict,
            plugins: ["EmbedResourcesPlugin"]
        ),

        // The device agent: journaled update state machine. Links no NIO, Hummingbird or GRDB.
        .target(name: "OTAAgent", dependencies: ["OTACore", "OTAClient", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),

        .executableTarget(
            name: "otactl",
            dependencies: ["OTACore", "OTAClient", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ota-server",
            dependencies: ["OTAServer", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ota-agent",
            dependencies: ["OTAAgent", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),

        // A test tool: many simulated devices driving the real device API (fleet tests, benchmarks).
        .executableTarget(
            name: "ota-fleet-sim",
            dependencies: ["OTACore", "OTAClient", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),

        // Build-time embedding of migrations/*.sql and the server's static files, so that
        // `ota-server` is one self-contained binary.
        .executableTarget(name: "embed-resources", path: "Sources/EmbedResourcesTool"),
        .plugin(
            name: "EmbedResourcesPlugin",
            capability: .buildTool(),
            dependencies: ["embed-resources"],
            path: "Sources/EmbedResourcesPlugin"
        ),

        // Tests. End-to-end suites start the real binaries built next to the test bundle.
        .target(name: "TestSupport", dependencies: ["OTACore", "OTAClient", "OTAAgent"], path: "Tests/TestSupport"),
        .testTarget(name: "OTACoreTests", dependencies: [
            "OTACore", "TestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
        ], swiftSettings: strict),
        // The programs themselves too: documented command lines go through their parsers.
        .testTarget(name: "OTACtlTests", dependencies: [
            "OTACore", "TestSupport", "otactl", "ota-server", "ota-agent",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .testTarget(name: "OTAServerTests", dependencies: [
            "OTACore", "OTAClient", "OTAServer", "TestSupport",
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: strict),
        .testTarget(name: "OTAAgentTests", dependencies: [
            "OTACore", "OTAClient", "OTAAgent", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
