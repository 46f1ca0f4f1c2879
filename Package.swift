// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mio-daemon",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "MioCore", targets: ["MioCore"]),
    ],
    targets: [
        // C side: headers Swift cannot see, CMSG_* macros, _GNU_SOURCE calls.
        .target(name: "CMioLinux"),
        // json-c, as the users asked (Debian: libjson-c-dev).
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        // mio's Poll in Swift: usable with no daemon at all.
        .target(name: "MioCore", dependencies: ["CMioLinux"]),
        .testTarget(name: "MioCoreTests", dependencies: ["MioCore", "CMioLinux"]),
        // `make bench`: MioCore against a C epoll loop (Benchmarks/c).
        .executableTarget(name: "mio-bench", dependencies: ["MioCore", "CMioLinux"], path: "Benchmarks/Sources/mio-bench"),
    ],
    swiftLanguageModes: [.v6]
)
