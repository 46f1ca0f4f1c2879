import Foundation
import Glibc

/// What /proc says of a process (ours or the daemon's): its fds' targets
/// and the rings it maps. By identity (an inode), not by count: the other
/// suites of this test process open and close fds meanwhile.
enum ProcessInspection {
    /// `readlink` of every `/proc/<pid>/fd/N`: "pipe:[123]", "socket:[456]", "/memfd:… (deleted)".
    static func fdTargets(_ pid: Int32? = nil) -> [String] {
        let directory = "/proc/\(pid.map(String.init) ?? "self")/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)") }
    }

    /// The inodes of the pipes among a process's fds.
    static func pipeInodes(_ pid: Int32? = nil) -> Set<String> {
        Set(fdTargets(pid).filter { $0.hasPrefix("pipe:[") })
    }

    /// The inodes of the daemon's event rings a process maps (/proc/<pid>/maps).
    static func ringMappings(_ pid: Int32? = nil) -> Set<String> {
        let maps = readWhole("/proc/\(pid.map(String.init) ?? "self")/maps")
        return Set(maps.split(separator: "\n").filter { $0.contains("mio-daemon-ring") }.map {
            String($0.split(separator: " ", omittingEmptySubsequences: true)[4])
        })
    }

    /// A /proc file read to its end (its size says 0: read(2) until EOF).
    private static func readWhole(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// How many of our fds are a ring's memfd (the client maps it and closes it).
    static var memfdsHeld: Int { fdTargets().filter { $0.contains("mio-daemon-ring") }.count }
}

/// Waits up to `seconds` for `condition`; whether it held.
func eventually(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(5_000)
    }
    return try condition()
}
