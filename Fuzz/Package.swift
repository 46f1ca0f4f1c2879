// swift-tools-version:6.0
// libFuzzer targets for the wire protocol, in a package of their own:
//   swift build -c debug --sanitize=fuzzer --sanitize=address   (see `make fuzz`)
import PackageDescription

let package = Package(
    name: "mio-daemon-fuzz",
    dependencies: [.package(name: "mio-daemon", path: "..")],
    targets: [
        // The request decoder: arbitrary bytes as a request line.
        .executableTarget(name: "FuzzDecoder", dependencies: [.product(name: "MioProtocol", package: "mio-daemon")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        // Framing and fd attachment: random chunk boundaries, real fds.
        .executableTarget(name: "FuzzFramer", dependencies: [.product(name: "MioProtocol", package: "mio-daemon")],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v6]
)
