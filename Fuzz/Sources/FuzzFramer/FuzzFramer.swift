import Glibc
import MioProtocol

/// The input is cut into chunks (as many recvmsg() calls) by its own bytes;
/// each chunk carries 0–3 real fds (copies of one /dev/null fd: dup is
/// cheaper than open, and the fuzzer runs five times faster). At the end every fd made is
/// either attached to exactly one complete line or was closed by the
/// framer, never both, never neither: then all are closed and checked closed.
private let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFramer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    var disposed: [Int32] = []
    var framer = LineFramer(maxLine: Int(data[0] % 32) + 1) { disposed.append($0) }
    var lines: [FramedLine] = []
    var made: [Int32] = []
    var offset = 1
    while offset < size {
        let control = data[offset]
        offset += 1
        let length = min(Int(control & 0x1F), size - offset)
        var fds: [Int32] = []
        for _ in 0..<Int(control >> 6) {
            let fd = fcntl(devNull, F_DUPFD_CLOEXEC, 0)
            precondition(fd >= 0)
            fds.append(fd)
            made.append(fd)
        }
        framer.push(UnsafeRawBufferPointer(start: data + offset, count: length), fds: LineFds(fds), into: &lines)
        offset += length
    }
    // End of input: the line in progress, if any, gives up its fds.
    framer.finish()
    let attached: [Int32] = lines.flatMap(\.fds)
    precondition(Set(attached).count == attached.count, "an fd attached twice")
    precondition(Set(disposed).count == disposed.count, "an fd closed twice")
    precondition(Set(attached).isDisjoint(with: disposed), "an fd both attached and closed")
    precondition(Set(attached).union(disposed) == Set(made), "an fd lost: neither attached nor closed")
    for line in lines {
        if case .request(let range) = line.content {
            precondition(!framer.bytes(of: range).contains(0x0A), "a newline inside a line")
        }
    }
    for fd in made { close(fd) }
    for fd in made { precondition(fcntl(fd, F_GETFD) == -1, "fd \(fd) still open") }
    return 0
}
