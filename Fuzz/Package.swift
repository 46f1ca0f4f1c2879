// swift-tools-version:6.0
// libFuzzer targets for the wire protocol, in a package of their own:
//   swift build -c debug --sanitize=fuzzer --sanitize=address \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
// (`make fuzz` says why the combined option; scripts/fuzz-target.sh fails a
// build that is not instrumented)
// The code under test is linked in by symlink (Sources/MioProtocol and what it
// needs), not depended on: only a root package's targets get libFuzzer's
// coverage instrumentation, and without it the fuzzer runs blind.
import PackageDescription

let package = Package(
    name: "mio-daemon-fuzz",
    targets: [
        .target(name: "CMioLinux"),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .target(name: "MioSystem", dependencies: ["CMioLinux"]),
        .target(name: "MioCore", dependencies: ["CMioLinux", "MioSystem"]),
        .target(name: "MioProtocol", dependencies: ["MioCore", "CJSONC"]),
        // The request decoder: arbitrary bytes as a request line.
        .executableTarget(name: "FuzzDecoder", dependencies: ["MioProtocol"],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        // Framing and fd attachment: random chunk boundaries, real fds.
        .executableTarget(name: "FuzzFramer", dependencies: ["MioProtocol"],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v6]
)
