import CMioLinux

/// One readiness event: the token of the registration and what it is ready for.
///
/// The accessors mean what mio's mean on Linux. Events may be spurious: a
/// readable event does not promise that a read will succeed. After an event,
/// read or write until the call would block (`EAGAIN`), then wait again.
public struct Event: Hashable, Sendable, CustomStringConvertible {
    /// The token given at registration.
    public let token: Token
    /// The raw epoll bits (`EPOLLIN`, `EPOLLOUT`, …) the kernel reported:
    /// epoll's own, kept inside this package (read the accessors).
    @usableFromInline package let epollEvents: UInt32

    @inlinable
    package init(token: Token, epollEvents: UInt32) {
        self.token = token
        self.epollEvents = epollEvents
    }

    @inlinable func has(_ bits: UInt32) -> Bool { epollEvents & bits != 0 }

    /// Readable: `EPOLLIN` or `EPOLLPRI`.
    @inlinable public var isReadable: Bool { has(CMIO_EPOLLIN | CMIO_EPOLLPRI) }
    /// Writable: `EPOLLOUT`.
    @inlinable public var isWritable: Bool { has(CMIO_EPOLLOUT) }
    /// An error on the source: `EPOLLERR`.
    @inlinable public var isError: Bool { has(CMIO_EPOLLERR) }
    /// The read half is closed: `EPOLLHUP`, or `EPOLLIN` with `EPOLLRDHUP`.
    @inlinable public var isReadClosed: Bool {
        has(CMIO_EPOLLHUP) || (has(CMIO_EPOLLIN) && has(CMIO_EPOLLRDHUP))
    }
    /// The write half is closed: `EPOLLHUP`, or `EPOLLOUT` with `EPOLLERR`, or `EPOLLERR` alone.
    @inlinable public var isWriteClosed: Bool {
        has(CMIO_EPOLLHUP) || (has(CMIO_EPOLLOUT) && has(CMIO_EPOLLERR)) || epollEvents == CMIO_EPOLLERR
    }
    /// Priority data (such as TCP out-of-band data): `EPOLLPRI`.
    @inlinable public var isPriority: Bool { has(CMIO_EPOLLPRI) }
    /// Both directions are closed (`EPOLLHUP`): beyond mio's accessors, for
    /// the daemon, which closes a connection once its peer has gone.
    @inlinable package var isHangUp: Bool { has(CMIO_EPOLLHUP) }
    /// Always false on Linux, as in mio.
    @inlinable public var isAIO: Bool { false }
    /// Always false on Linux, as in mio.
    @inlinable public var isLIO: Bool { false }

    /// Like mio's `Debug` for `Event`.
    public var description: String {
        "Event { token: \(token), readable: \(isReadable), writable: \(isWritable), error: \(isError), "
            + "read_closed: \(isReadClosed), write_closed: \(isWriteClosed), priority: \(isPriority), "
            + "aio: false, lio: false }"
    }
}
