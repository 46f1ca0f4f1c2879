/// Registers sources with a ``Poll``. Safe to use from any thread.
///
/// A registration is edge-triggered (mio's only mode) unless `mode` says
/// `.oneshot`. Registering the same fd twice fails with
/// `.alreadyRegistered`; reregistering or deregistering an fd that is not
/// registered fails with `.notRegistered`.
public final class Registry: @unchecked Sendable {
    let selector: Selector
    private let ownsSelector: Bool

    init(selector: Selector, ownsSelector: Bool) {
        self.selector = selector
        self.ownsSelector = ownsSelector
    }

    deinit {
        if ownsSelector { selector.close() }
    }

    /// Starts reporting readiness of `source` under `token`.
    ///
    /// If the source is already ready, the first poll reports it.
    public func register(_ source: some Source, token: Token, interest: Interest, mode: Mode = .edge) throws(MioError) {
        try source.register(with: self, token: token, interest: interest, mode: mode)
    }

    /// Replaces the token, interest and mode of a registration, and re-arms
    /// it (after a oneshot event, or to be told of current readiness again).
    public func reregister(_ source: some Source, token: Token, interest: Interest, mode: Mode = .edge) throws(MioError) {
        try source.reregister(with: self, token: token, interest: interest, mode: mode)
    }

    /// Stops reporting readiness of `source`. Events already returned by a
    /// poll stay in that `Events`; none come afterwards.
    public func deregister(_ source: some Source) throws(MioError) {
        try source.deregister(from: self)
    }

    /// Beyond mio, for a server's own sockets: watches `fd` level-triggered,
    /// so it is reported at every poll while it is ready, and a reader may
    /// stop before `EAGAIN`. `interest` nil: only hang-up and errors
    /// (always reported). `adding`: the first call (`EPOLL_CTL_ADD`), then
    /// changes (`EPOLL_CTL_MOD`).
    package func watchLevelTriggered(_ fd: Int32, token: Token, interest: Interest?, adding: Bool) throws(MioError) {
        try selector.watchLevelTriggered(fd, token: token, interest: interest, adding: adding)
    }

    /// A second handle on the same epoll instance (`F_DUPFD_CLOEXEC`), as
    /// mio's `Registry::try_clone`.
    public func tryClone() throws(MioError) -> Registry {
        Registry(selector: try selector.tryClone(), ownsSelector: true)
    }
}
