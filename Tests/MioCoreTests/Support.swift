import Glibc
import Testing
@testable import MioCore
import MioSystem

/// A pipe whose ends close when the value goes away.
final class Pipe {
    let readEnd: Int32
    let writeEnd: Int32
    private var closed: Set<Int32> = []

    init() throws {
        (readEnd, writeEnd) = try Sys.pipe(flags: O_NONBLOCK)
    }

    func write(_ bytes: Int = 1) {
        let data = [UInt8](repeating: 0x61, count: bytes)
        #expect(Glibc.write(writeEnd, data, bytes) == bytes)
    }

    /// Reads until EAGAIN; returns how many bytes came.
    @discardableResult
    func drain() -> Int { drainFd(readEnd) }

    func closeWriteEnd() { close(writeEnd) }
    func closeReadEnd() { close(readEnd) }

    private func close(_ fd: Int32) {
        if closed.insert(fd).inserted { Glibc.close(fd) }
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }
}

/// Reads `fd` until EAGAIN or end of file; returns the byte count.
@discardableResult
func drainFd(_ fd: Int32) -> Int {
    var total = 0
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = Glibc.read(fd, &buffer, buffer.count)
        if n <= 0 { return total }
        total += n
    }
}

/// One poll with a short timeout, the events as an array.
func pollOnce(_ poll: Poll, capacity: Int = 64, timeout: Duration = .milliseconds(50)) throws -> [Event] {
    var events = try Events(capacity: capacity)
    try poll.poll(&events, timeout: timeout)
    return Array(events)
}

/// The epoll mask the kernel holds for `fd` in `epfd`, from /proc/self/fdinfo.
func epollMask(epfd: Int32, fd: Int32) throws -> UInt32? {
    let text = try readFile("/proc/self/fdinfo/\(epfd)")
    for line in text.split(separator: "\n") where line.hasPrefix("tfd:") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 4, Int32(fields[1]) == fd, fields[2] == "events:" else { continue }
        return UInt32(fields[3], radix: 16)
    }
    return nil
}

func readFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw MioError(errno: errno, operation: "open(\(path))") }
    defer { Glibc.close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = Glibc.read(fd, &buffer, buffer.count)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The kind a MioError must have, for `#expect(throws:)`.
func expectError(_ kind: MioError.Kind, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(kind), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as MioError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected MioError \(kind), got \(error)", sourceLocation: sourceLocation)
    }
}

/// A connected TCP pair on 127.0.0.1, both non-blocking.
func tcpPair() throws -> (client: Int32, server: Int32) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { Glibc.close(listener) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    try withUnsafeMutablePointer(to: &address) { pointer in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            guard bind(listener, sa, length) == 0, listen(listener, 1) == 0,
                  getsockname(listener, sa, &length) == 0 else { throw MioError(errno: errno, operation: "tcp listen") }
        }
    }
    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    try withUnsafePointer(to: &address) { pointer in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            guard connect(client, sa, length) == 0 else { throw MioError(errno: errno, operation: "tcp connect") }
        }
    }
    let server = accept(listener, nil, nil)
    try Sys.setNonBlocking(client)
    try Sys.setNonBlocking(server)
    return (client, server)
}
