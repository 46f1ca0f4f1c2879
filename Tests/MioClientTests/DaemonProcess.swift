import Foundation
import Glibc
import MioClient
import MioCore
import MioSystem

/// The real mio-daemon binary on a socket of its own, for one test.
final class DaemonProcess {
    let process = Process()
    let directory: String
    let socketPath: String

    init(arguments: [String] = []) throws {
        directory = NSTemporaryDirectory() + "mio-client-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socketPath = directory + "/mio.sock"
        process.executableURL = URL(fileURLWithPath: DaemonProcess.binary)
        process.arguments = ["--socket", socketPath, "--log-level", "warning"] + arguments
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? MioConnection(path: socketPath)) == nil {
            guard ContinuousClock.now < deadline, process.isRunning else { throw MioClientError.notRunning(path: socketPath, reason: "did not start") }
            usleep(10_000)
        }
    }

    /// `<repo>/.build/debug/mio-daemon`, or `$MIO_DAEMON_BIN`.
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["MIO_DAEMON_BIN"] { return path }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent(".build/debug/mio-daemon").path
    }

    /// The daemon's fd count with no client connected: read while one
    /// connection of ours is the only one (stats says so), less that one.
    func idleFdCount() throws -> Int {
        let probe = try MioConnection(path: socketPath)
        let deadline = ContinuousClock.now + .seconds(5)
        while try probe.stats().connections != 1, ContinuousClock.now < deadline { usleep(10_000) }
        return fdCount - 1
    }

    var fdCount: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count) ?? -1
    }

    /// SIGTERM, and the exit status.
    func stop() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
        return process.terminationStatus
    }
}

/// A pipe for tests; both ends close when it goes.
final class TestPipe {
    let readEnd: Int32
    let writeEnd: Int32
    private var writeEndOpen = true

    init() {
        (readEnd, writeEnd) = try! Sys.pipe(flags: O_NONBLOCK)
    }

    func write(_ text: String = "x") { _ = text.withCString { Glibc.write(writeEnd, $0, strlen($0)) } }

    /// Reads what the pipe holds (edge-triggered: then the next write is a new edge).
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 512)
        while read(readEnd, &buffer, buffer.count) > 0 {}
    }

    /// A hang-up for the reader.
    func closeWriteEnd() {
        if writeEndOpen { close(writeEnd) }
        writeEndOpen = false
    }

    deinit {
        close(readEnd)
        closeWriteEnd()
    }
}
