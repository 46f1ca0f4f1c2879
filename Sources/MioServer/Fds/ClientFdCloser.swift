#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import MioSystem

/// Closes fds that clients sent, without ever waiting on a filesystem.
///
/// `close()` of a regular file (or directory) on FUSE or NFS can wait on a
/// server, so those go to a helper thread; every other kind closes at once.
/// Only refused fds can be regular files: registered ones never are.
final class ClientFdCloser: @unchecked Sendable {
    /// The one closer: fds are closed through it from wherever their last
    /// owner lets go (``ClientFd``, ``AttachedFds``, the line framer).
    static let shared = ClientFdCloser()

    private let queue = DispatchQueue(label: "mio-daemon.fd-closer")

    func close(_ fd: Int32) {
        guard fd >= 0 else { return }
        let mode = (try? Sys.fstat(fd)).map { $0.st_mode & S_IFMT } ?? 0
        if mode == S_IFREG || mode == S_IFDIR || mode == S_IFBLK {
            queue.async { Sys.close(fd) }
        } else {
            Sys.close(fd)
        }
    }

    func close(_ fds: some Sequence<Int32>) {
        for fd in fds { close(fd) }
    }

    /// Waits until every close handed to the helper thread is done.
    func drain() {
        queue.sync {}
    }
}
