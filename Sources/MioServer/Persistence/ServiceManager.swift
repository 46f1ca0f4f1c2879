/// What the daemon tells the service manager (systemd's sd_notify), and the
/// fd store that keeps persistent sessions' fds across a restart.
public protocol ServiceManager: AnyObject {
    /// A state line: `READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`.
    func notify(_ state: String)
    /// `FDSTORE=1` with `FDNAME=name` and `FDPOLL=0` (a stored pipe whose
    /// writer closed must stay stored): the manager keeps its own copy.
    /// Returns whether the manager took it.
    func store(_ fd: Int32, name: String) -> Bool
    /// `FDSTOREREMOVE=1` with `FDNAME=name`; returns whether it was sent.
    func removeStored(name: String) -> Bool
}

/// An fd the service manager handed back at start, with its name.
public struct InheritedFd: Sendable {
    public let fd: Int32
    public let name: String

    public init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// Whether the name is one the daemon stores registrations under.
    public var isStoredRegistration: Bool { name.hasPrefix(StoredRegistration.prefix) }
}
