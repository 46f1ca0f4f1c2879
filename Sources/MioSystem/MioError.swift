#if canImport(Glibc)
import Glibc
#endif

/// An error from a system call, named in Swift, with the errno kept.
///
/// Match on ``kind``: `catch let error as MioError where error.kind == .alreadyRegistered`.
public struct MioError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, in Swift's words. Each case names the errno it stands for.
    public enum Kind: Equatable, Sendable {
        /// `EEXIST`: the fd is already registered with this `Poll`.
        case alreadyRegistered
        /// `ENOENT`: the fd is not registered with this `Poll`.
        case notRegistered
        /// `EPERM`: the fd cannot be polled (a regular file, a directory, `/dev/null`).
        case notPollable
        /// `EBADF`: not an open file descriptor.
        case badDescriptor
        /// `EINTR`: a signal arrived while waiting (``Poll/poll(_:timeout:)`` surfaces it, as mio does).
        case interrupted
        /// `EAGAIN`/`EWOULDBLOCK`: the operation would block.
        case wouldBlock
        /// `EINVAL`: an invalid argument (registering a `Poll` with itself, capacity 0).
        case invalidArgument
        /// `ELOOP`: registering would create a cycle of epoll instances, or nest too deep.
        case loop
        /// `EMFILE`/`ENFILE`: out of file descriptors.
        case tooManyOpenFiles
        /// `ENOMEM`/`ENOBUFS`: out of memory.
        case outOfMemory
        /// `ENOSPC`: the per-user epoll watch limit (`max_user_watches`) is reached.
        case watchLimitReached
        /// `EPIPE`/`ECONNRESET`: the peer went away.
        case connectionClosed
        /// `EACCES`, or `EPERM` outside epoll: permission denied.
        case accessDenied
        /// `ENOENT` outside epoll: no such file or directory.
        case noSuchFile
        /// Any other errno.
        case other
    }

    public let kind: Kind
    /// The errno the system call failed with (0 for errors raised by this library itself).
    public let errno: Int32
    /// The call that failed, such as `epoll_ctl(ADD)`.
    public let operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
        self.kind = Kind(errno: errno)
    }

    /// An `epoll_ctl` failure: EEXIST, ENOENT and EPERM have the
    /// registration meanings mio gives them; other errnos their usual one.
    public static func epollControl(errno: Int32, operation: String) -> MioError {
        let kind: Kind
        switch errno {
        case EEXIST: kind = .alreadyRegistered
        case ENOENT: kind = .notRegistered
        case EPERM: kind = .notPollable
        default: kind = Kind(errno: errno)
        }
        return MioError(kind: kind, operation: operation, errno: errno)
    }

    /// An error raised by the library itself, not by the kernel.
    public init(kind: Kind, operation: String, errno: Int32 = 0) {
        self.kind = kind
        self.errno = errno
        self.operation = operation
    }

    /// A sentence a person understands: what failed, why, and the errno.
    public var description: String {
        let what: String
        switch kind {
        case .alreadyRegistered: what = "the file descriptor is already registered"
        case .notRegistered: what = "the file descriptor is not registered"
        case .notPollable: what = "this kind of file cannot be polled (regular file, directory, /dev/null)"
        case .badDescriptor: what = "not an open file descriptor"
        case .interrupted: what = "interrupted by a signal"
        case .wouldBlock: what = "the operation would block"
        case .invalidArgument: what = "invalid argument"
        case .loop: what = "registering it would make a loop of epoll instances, or nest them too deep"
        case .tooManyOpenFiles: what = "too many open files"
        case .outOfMemory: what = "out of memory"
        case .watchLimitReached: what = "the per-user limit of epoll watches is reached"
        case .connectionClosed: what = "the peer closed the connection"
        case .accessDenied: what = "permission denied"
        case .noSuchFile: what = "no such file or directory"
        case .other: what = String(cString: strerror(errno))
        }
        return errno == 0 ? "\(operation): \(what)" : "\(operation): \(what) (errno \(errno))"
    }
}

extension MioError.Kind {
    /// The general meaning of an errno. `epoll_ctl` gives EEXIST, ENOENT
    /// and EPERM meanings of its own: its wrapper says so (``MioError/epollControl(errno:operation:)``).
    init(errno: Int32) {
        switch errno {
        case ENOENT: self = .noSuchFile
        case EPERM: self = .accessDenied
        case EBADF: self = .badDescriptor
        case EINTR: self = .interrupted
        case EAGAIN: self = .wouldBlock
        case EINVAL: self = .invalidArgument
        case ELOOP: self = .loop
        case EMFILE, ENFILE: self = .tooManyOpenFiles
        case ENOMEM, ENOBUFS: self = .outOfMemory
        case ENOSPC: self = .watchLimitReached
        case EPIPE, ECONNRESET: self = .connectionClosed
        case EACCES: self = .accessDenied
        default: self = .other
        }
    }
}
