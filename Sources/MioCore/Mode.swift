import CMioLinux

/// How a registration reports readiness.
public enum Mode: Hashable, Sendable, CustomStringConvertible {
    /// Edge-triggered (`EPOLLET`), as mio: one event per change of readiness.
    /// Drain the source until it would block before waiting for the next.
    case edge
    /// Edge-triggered and disarmed after one event (`EPOLLONESHOT`), until
    /// ``Registry/reregister(_:token:interest:mode:)`` arms it again.
    /// Beyond mio, which has no oneshot on its public API.
    case oneshot

    /// The epoll bits of this mode: always `EPOLLET`, plus `EPOLLONESHOT`.
    @inlinable
    package var epollEvents: UInt32 {
        switch self {
        case .edge: return CMIO_EPOLLET
        case .oneshot: return CMIO_EPOLLET | CMIO_EPOLLONESHOT
        }
    }

    public var description: String {
        switch self {
        case .edge: return "edge"
        case .oneshot: return "oneshot"
        }
    }
}
