#if canImport(Glibc)
import Glibc
#endif

/// The result of a non-blocking call: done, or it would have blocked.
///
/// Would-block is not an error on a non-blocking fd, so it is kept out of
/// `throws` (as SwiftNIO's `IOResult`).
@frozen
package enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// Every system call of the project, wrapped once, in this target: one file
/// an area (`Sys+Files`, `Sys+Epoll`, `Sys+Sockets`, `Sys+Process`).
///
/// Each wrapper retries `EINTR` (except ``epollWait``, which surfaces it as
/// mio does), returns would-block as ``IOResult/wouldBlock``, and throws
/// every other failure as a ``MioError`` that names the call.
package enum Sys {
    /// The one retry loop: `EINTR` again, any other failure thrown.
    @inlinable @inline(__always)
    static func retrying<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(MioError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw MioError(errno: code, operation: operation())
        }
    }

    /// The retry loop for non-blocking fds: would-block is a result.
    @inlinable @inline(__always)
    static func nonBlocking<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(MioError) -> IOResult<T> {
        while true {
            let result = body()
            if result >= 0 { return .done(result) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw MioError(errno: code, operation: operation())
        }
    }
}
