#if canImport(Glibc)
import Glibc
#endif
import MioSystem
import MioProtocol

/// What a client's fd is, as `list` names it (docs/protocol.md, "Passing
/// file descriptors"). The pollable kinds can be registered; any kind can
/// be held (`store`); `waker` and `timer` are the daemon's own.
enum ClientFdKind: String {
    case pipe, fifo, socket, char, eventfd, timerfd, pidfd, epoll, inotify, waker
    /// Held only (docs/protocol.md, "Holding without polling").
    case file, directory, memfd, path, other
    /// A daemon-side timer (docs/protocol.md, "Timers").
    case timer

    /// Whether closing it never waits: everything but what a filesystem
    /// server may hold up (a regular file's last close can flush over NFS
    /// or FUSE), which the closer thread closes instead.
    var closesAtOnce: Bool {
        switch self {
        case .file, .directory, .other: return false
        default: return true
        }
    }

    /// The kind of an fd to hold without polling: any open fd has one.
    static func classifyHeld(_ fd: Int32) -> Result<ClientFdKind, ProtocolError> {
        do throws(MioError) {
            if try Sys.isPathOnly(fd) { return .success(.path) }
            let info = try Sys.fstat(fd)
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                let target = (try? Sys.readLink("/proc/self/fd/\(fd)")) ?? ""
                return .success(target.hasPrefix("/memfd:") ? .memfd : .file)
            case S_IFDIR: return .success(.directory)
            default:
                // Anything that could be registered is named as it would be there.
                if case .success(let kind) = kind(of: info, fd) { return .success(kind) }
                return .success(.other)
            }
        } catch {
            return .failure(ProtocolError(.badFd, "the file descriptor cannot be inspected: \(error)"))
        }
    }

    /// Tells the kind of `fd`, or why it cannot be registered.
    ///
    /// `fstat` on an `O_PATH` fd describes what it points at, so a kind
    /// found here may still be an `O_PATH` fd: epoll refuses those
    /// (`EBADF`), and the caller asks ``pathOnlyRefusal(_:)`` then, which
    /// keeps a syscall off every registration. A refusal here names
    /// `O_PATH` first when the fd is one. Anonymous-inode fds (eventfd,
    /// timerfd, …) have no file type; `/proc/self/fd` names them. signalfd
    /// is refused: it would report the daemon's signals, not the client's.
    static func classify(_ fd: Int32) -> Result<ClientFdKind, ProtocolError> {
        let kind = classifyByType(fd)
        if case .failure = kind, let refusal = pathOnlyRefusal(fd) { return .failure(refusal) }
        return kind
    }

    /// The refusal of an `O_PATH` fd, or nil when `fd` is not one.
    static func pathOnlyRefusal(_ fd: Int32) -> ProtocolError? {
        do throws(MioError) {
            guard try Sys.isPathOnly(fd) else { return nil }
            return ProtocolError(.notPollable, "an O_PATH file descriptor cannot be polled")
        } catch {
            return ProtocolError(.badFd, "the file descriptor cannot be inspected: \(error)")
        }
    }

    private static func classifyByType(_ fd: Int32) -> Result<ClientFdKind, ProtocolError> {
        do throws(MioError) {
            return kind(of: try Sys.fstat(fd), fd)
        } catch {
            return .failure(ProtocolError(.badFd, "the file descriptor cannot be inspected: \(error)"))
        }
    }

    /// The pollable kind `fstat` (`info`) and, for an anonymous inode,
    /// `/proc/self/fd` tell, or why it cannot be registered.
    private static func kind(of info: stat, _ fd: Int32) -> Result<ClientFdKind, ProtocolError> {
        switch info.st_mode & S_IFMT {
        case S_IFSOCK: return .success(.socket)
        case S_IFCHR: return .success(.char)
        case S_IFIFO:
            // A pipe lives on pipefs; a FIFO on a real filesystem.
            return .success(UInt64(info.st_dev) == pipeDevice ? .pipe : .fifo)
        case S_IFREG:
            return .failure(ProtocolError(.notPollable, "a regular file cannot be polled (epoll refuses it)"))
        case S_IFDIR:
            return .failure(ProtocolError(.notPollable, "a directory cannot be polled"))
        case S_IFBLK:
            return .failure(ProtocolError(.notPollable, "a block device cannot be polled"))
        case 0:
            return classifyAnonymous(fd)
        default:
            return .failure(ProtocolError(.notPollable, "this kind of file cannot be polled"))
        }
    }

    /// The device of pipefs, read once from a pipe of our own.
    private static let pipeDevice: UInt64? = {
        guard let (r, w) = try? Sys.pipe() else { return nil }
        defer { Sys.close(r); Sys.close(w) }
        return (try? Sys.fstat(r)).map { UInt64($0.st_dev) }
    }()

    private static func classifyAnonymous(_ fd: Int32) -> Result<ClientFdKind, ProtocolError> {
        let target: String
        do {
            target = try Sys.readLink("/proc/self/fd/\(fd)")
        } catch {
            return .failure(ProtocolError(.badFd, "the file descriptor cannot be inspected: \(error)"))
        }
        if target.contains("[eventfd]") { return .success(.eventfd) }
        if target.contains("[timerfd]") { return .success(.timerfd) }
        if target.contains("pidfd") { return .success(.pidfd) }
        if target.contains("[eventpoll]") { return .success(.epoll) }
        if target.contains("inotify") { return .success(.inotify) }
        if target.contains("[signalfd]") {
            return .failure(ProtocolError(.notPollable, "a signalfd cannot be registered: it would report the daemon's signals, not yours"))
        }
        return .failure(ProtocolError(.notPollable, "\(target) cannot be registered (allowed: pipe, FIFO, socket, character device, eventfd, timerfd, pidfd, inotify, epoll)"))
    }
}
