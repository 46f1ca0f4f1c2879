// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mio-daemon",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "MioCore", targets: ["MioCore"]),
        .library(name: "MioClient", targets: ["MioClient"]),
        .library(name: "MioProtocol", targets: ["MioProtocol"]),
        .executable(name: "mio-daemon", targets: ["mio-daemon"]),
        .executable(name: "mioctl", targets: ["mioctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C side: headers Swift cannot see, CMSG_* macros, _GNU_SOURCE calls.
        .target(name: "CMioLinux"),
        // json-c, as the users asked (Debian: libjson-c-dev).
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        // Every system call of the project, wrapped once; package-internal
        // (only `MioError` is public, and MioCore re-exports it).
        .target(name: "MioSystem", dependencies: ["CMioLinux"]),
        // mio's Poll in Swift: usable with no daemon at all.
        .target(name: "MioCore", dependencies: ["CMioLinux", "MioSystem"]),
        // The wire format: framing with fd attachment, json-c decoding, encoding.
        .target(name: "MioProtocol", dependencies: ["MioCore", "CJSONC"]),
        // Connections, sessions, registrations, coalescing, limits: the event loop.
        .target(name: "MioServer", dependencies: [
            "MioSystem", "MioCore", "MioProtocol", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [
            // The loop is single-threaded; the runtime's exclusivity checks on
            // class properties cost a third of its instructions per event.
            // (MioServer is no product, so this flag never reaches a dependent.)
            .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
        ]),
        .executableTarget(name: "mio-daemon", dependencies: [
            "MioSystem", "MioCore", "MioProtocol", "MioServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The Swift client library, and the command line built on it.
        .target(name: "MioClient", dependencies: ["CMioLinux", "MioSystem", "MioCore", "MioProtocol"]),
        .executableTarget(name: "mioctl", dependencies: [
            "MioClient", "MioSystem", "MioCore", "MioProtocol", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "MioCoreTests", dependencies: ["MioCore", "MioSystem", "CMioLinux"]),
        // The server's pure types: slot table, coalescing, outbound compaction, stored names.
        .testTarget(name: "MioServerTests", dependencies: ["MioServer", "MioSystem", "MioCore", "MioProtocol"]),
        .testTarget(name: "ProtocolTests", dependencies: ["MioProtocol", "MioCore"]),
        // Run against the real daemon binary (built first by `swift build`).
        .testTarget(name: "MioClientTests", dependencies: ["MioClient", "MioSystem", "MioCore", "MioProtocol"]),
        // `make bench`: MioCore against a C epoll loop, and the Swift client's relay (Benchmarks/).
        .executableTarget(name: "mio-bench", dependencies: ["MioSystem", "MioCore", "CMioLinux", "MioClient", "MioProtocol"],
                          path: "Benchmarks/Sources/mio-bench"),
    ],
    swiftLanguageModes: [.v6]
)
