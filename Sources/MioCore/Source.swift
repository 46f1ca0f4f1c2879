/// Something that can be registered with a ``Registry``: an fd, or a type
/// built around one.
public protocol Source {
    func register(with registry: Registry, token: Token, interest: Interest, mode: Mode) throws(MioError)
    func reregister(with registry: Registry, token: Token, interest: Interest, mode: Mode) throws(MioError)
    func deregister(from registry: Registry) throws(MioError)
}

/// A raw file descriptor as a ``Source``. It does not own the fd: the
/// caller keeps it open while registered, deregisters it, and closes it.
public struct SourceFd: Source, Hashable, Sendable {
    public let fd: Int32

    @inlinable
    public init(_ fd: Int32) { self.fd = fd }

    public func register(with registry: Registry, token: Token, interest: Interest, mode: Mode) throws(MioError) {
        try registry.selector.register(fd, token: token, interest: interest, mode: mode)
    }

    public func reregister(with registry: Registry, token: Token, interest: Interest, mode: Mode) throws(MioError) {
        try registry.selector.reregister(fd, token: token, interest: interest, mode: mode)
    }

    public func deregister(from registry: Registry) throws(MioError) {
        try registry.selector.deregister(fd)
    }
}
