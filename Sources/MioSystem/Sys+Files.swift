#if canImport(Glibc)
import Glibc
#endif
import CMioLinux

extension Sys {
    /// Closes `fd`. On Linux the fd is released even when `close` reports
    /// `EINTR` or `EIO`, so there is nothing to retry. `EBADF` means the fd
    /// was not open: a double close, which in a daemon holding other
    /// people's fds closes the next owner's fd. Debug builds trap on it (as
    /// SwiftNIO does).
    package static func close(_ fd: Int32) {
        let result = Glibc.close(fd)
        #if DEBUG
        if result < 0 && errno == EBADF { fatalError("close(\(fd)): EBADF, a double close or a stray fd") }
        #endif
        _ = result
    }

    /// `pipe2(O_CLOEXEC | flags)`: (read end, write end).
    package static func pipe(flags: Int32 = 0) throws(MioError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try retrying("pipe2") { cmio_pipe2(&fds, O_CLOEXEC | flags) }
        return (fds[0], fds[1])
    }

    /// `eventfd(initial, EFD_CLOEXEC | EFD_NONBLOCK)`.
    package static func eventfd(initial: UInt32 = 0) throws(MioError) -> Int32 {
        try retrying("eventfd") { cmio_eventfd(initial, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK)) }
    }

    @inlinable
    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) throws(MioError) -> IOResult<Int> {
        try nonBlocking("read") { Glibc.read(fd, buffer, count) }
    }

    @inlinable
    package static func write(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int) throws(MioError) -> IOResult<Int> {
        try nonBlocking("write") { Glibc.write(fd, buffer, count) }
    }

    package static func fstat(_ fd: Int32) throws(MioError) -> stat {
        var info = stat()
        _ = try retrying("fstat") { Glibc.fstat(fd, &info) }
        return info
    }

    /// `fcntl(F_GETFL)`: the file status flags (`O_PATH`, `O_NONBLOCK`, …).
    package static func statusFlags(_ fd: Int32) throws(MioError) -> Int32 {
        try retrying("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
    }

    /// Whether `fd` was opened with `O_PATH` (Glibc's module lacks the constant).
    package static func isPathOnly(_ fd: Int32) throws(MioError) -> Bool {
        try statusFlags(fd) & CMIO_O_PATH != 0
    }

    package static func setNonBlocking(_ fd: Int32) throws(MioError) {
        let flags = try statusFlags(fd)
        _ = try retrying("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// `fcntl(F_DUPFD_CLOEXEC)`.
    package static func duplicate(_ fd: Int32) throws(MioError) -> Int32 {
        try retrying("fcntl(F_DUPFD_CLOEXEC)") { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
    }

    /// `dup2(fd, target)`: `target` becomes a copy of `fd` without
    /// close-on-exec (or, when they are the same, loses close-on-exec).
    package static func duplicate(_ fd: Int32, to target: Int32) throws(MioError) {
        if fd == target {
            _ = try retrying("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, 0) }
        } else {
            _ = try retrying("dup2") { dup2(fd, target) }
        }
    }

    /// Whether two fds are the same open file (`kcmp(KCMP_FILE)`); nil
    /// when the kernel cannot tell.
    package static func isSameOpenFile(_ a: Int32, _ b: Int32) -> Bool? {
        switch cmio_same_open_file(a, b) {
        case 1: return true
        case 0: return false
        default: return nil
        }
    }

    /// `fcntl(F_GETFD)`, only to ask whether `fd` is open.
    package static func isOpen(_ fd: Int32) -> Bool {
        fcntl(fd, F_GETFD) >= 0
    }

    package static func unlink(_ path: String) throws(MioError) {
        _ = try retrying("unlink(\(path))") { Glibc.unlink(path) }
    }

    package static func makeDirectory(_ path: String, mode: mode_t) throws(MioError) {
        _ = try retrying("mkdir(\(path))") { Glibc.mkdir(path, mode) }
    }

    package static func changeMode(_ path: String, mode: mode_t) throws(MioError) {
        _ = try retrying("chmod(\(path))") { Glibc.chmod(path, mode) }
    }

    /// `readlink`: what a symbolic link (such as `/proc/self/fd/N`) points at.
    package static func readLink(_ path: String) throws(MioError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = try retrying("readlink(\(path))") { Glibc.readlink(path, &buffer, buffer.count - 1) }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    package static func lstat(_ path: String) throws(MioError) -> stat {
        var info = stat()
        _ = try retrying("lstat(\(path))") { Glibc.lstat(path, &info) }
        return info
    }
}
