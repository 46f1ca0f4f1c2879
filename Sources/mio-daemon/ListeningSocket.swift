#if canImport(Glibc)
import Glibc
#endif
import Logging
import MioCore
import MioSystem
import MioServer
import MioProtocol

struct StartupError: Error {
    let message: String
}

/// The socket the daemon serves: inherited by socket activation, or made
/// here at the path of docs/protocol.md, "Socket path".
struct ListeningSocket {
    let fd: Int32
    let path: String
    let activated: Bool
    /// The socket file this process made (device, inode), to unlink at exit
    /// only if it is still ours.
    private let madeFile: (dev: UInt, ino: UInt)?

    static func open(inherited: Int32?, explicitPath: String?, socketMode: mode_t?, openToOthers: Bool, logger: Logger) throws -> ListeningSocket {
        if let inherited {
            let address = (try? Sys.unixAddress(inherited, peer: false)).flatMap { $0 }.map(Self.path(ofAddress:)) ?? "(inherited)"
            return ListeningSocket(fd: inherited, path: explicitPath ?? address, activated: true, madeFile: nil)
        }
        let path = SocketPath.resolve(explicit: explicitPath)
        return try create(at: path, mode: socketMode ?? (openToOthers ? 0o666 : 0o600),
                          directoryMode: openToOthers ? 0o755 : 0o700, logger: logger)
    }

    private static func create(at path: String, mode: mode_t, directoryMode: mode_t, logger: Logger) throws -> ListeningSocket {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !directory.isEmpty, (try? Sys.lstat(directory)) == nil {
            do {
                try makeDirectories(directory, mode: directoryMode)
            } catch {
                throw StartupError(message: "cannot create \(directory): \(error)")
            }
        }
        try replaceStaleSocket(at: path, logger: logger)
        do {
            let fd = try Sys.socket(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue), flags: Int32(SOCK_NONBLOCK.rawValue))
            do {
                // The mode is set before listen(), so no one connects through a wider one.
                try Sys.bind(fd, unixPath: path)
                try Sys.changeMode(path, mode: mode)
                try Sys.listen(fd, backlog: SOMAXCONN)
                let info = try Sys.lstat(path)
                return ListeningSocket(fd: fd, path: path, activated: false, madeFile: (UInt(info.st_dev), UInt(info.st_ino)))
            } catch {
                Sys.close(fd)
                throw error
            }
        } catch let error as MioError {
            throw StartupError(message: "cannot listen on \(path): \(error)")
        }
    }

    /// A live daemon on the path: refuse. A socket file no one answers on: remove it.
    private static func replaceStaleSocket(at path: String, logger: Logger) throws {
        guard let info = try? Sys.lstat(path) else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw StartupError(message: "\(path) exists and is not a socket; not touching it")
        }
        guard let probe = try? Sys.socket(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue)) else { return }
        defer { Sys.close(probe) }
        do {
            _ = try Sys.connect(probe, unixPath: path)
            throw StartupError(message: "another mio-daemon is already serving \(path); stop it first, or pick another --socket")
        } catch let error as MioError {
            guard error.errno == ECONNREFUSED else {
                throw StartupError(message: "cannot tell whether \(path) is in use: \(error)")
            }
            logger.info("removing stale socket file \(path)")
            do { try Sys.unlink(path) } catch { throw StartupError(message: "cannot remove stale \(path): \(error)") }
        }
    }

    private static func makeDirectories(_ directory: String, mode: mode_t) throws(MioError) {
        var partial = ""
        for component in directory.split(separator: "/") {
            partial += "/" + component
            if (try? Sys.lstat(partial)) == nil {
                try Sys.makeDirectory(partial, mode: mode)
                try Sys.changeMode(partial, mode: mode)  // umask would narrow it
            }
        }
    }

    /// Unlinks the socket file if this process made it and it is still there.
    func removeSocketFile() {
        guard let madeFile, let info = try? Sys.lstat(path),
              UInt(info.st_dev) == madeFile.dev, UInt(info.st_ino) == madeFile.ino else { return }
        try? Sys.unlink(path)
    }

    private static func path(ofAddress bytes: [UInt8]) -> String {
        let path = bytes.dropFirst(2).prefix { $0 != 0 }
        return String(decoding: path, as: UTF8.self)
    }
}

/// `LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES` (sd_listen_fds_with_names):
/// fds from 3 on. The listening socket is the one that is a listening
/// `AF_UNIX` socket and not named as a stored registration; stored
/// registrations (`mio~…` names) go to the server; anything else is closed.
enum SocketActivation {
    static let firstFd: Int32 = 3

    struct Inherited {
        var listener: Int32?
        var stored: [InheritedFd] = []
    }

    /// Reads and clears the environment; nil when not activated.
    static func take(logger: Logger) -> Inherited? {
        guard let pidText = Environment.get("LISTEN_PID") else { return nil }
        let countText = Environment.get("LISTEN_FDS")
        let namesText = Environment.get("LISTEN_FDNAMES")
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { Environment.unset(name) }
        guard let pid = Int32(pidText), pid == getpid() else {
            logger.warning("LISTEN_PID=\(pidText) is not this process; ignoring socket activation")
            return nil
        }
        guard let countText, let count = Int32(countText), count >= 0, count < 100_000 else {
            logger.warning("LISTEN_FDS=\(countText ?? "(unset)") is malformed; ignoring socket activation")
            return nil
        }
        var names = namesText.map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        if !names.isEmpty && names.count != Int(count) {
            logger.warning("LISTEN_FDNAMES has \(names.count) names for \(count) fds; ignoring the names")
            names = []
        }
        var result = Inherited()
        for index in 0..<Int(count) {
            let fd = firstFd + Int32(index)
            let name = index < names.count ? names[index] : ""
            let item = InheritedFd(fd: fd, name: name)
            if item.isStoredRegistration {
                result.stored.append(item)
            } else if result.listener == nil, Sys.isListeningSocket(fd),
                      (try? Sys.unixAddress(fd, peer: false)) != nil {
                try? Sys.setNonBlocking(fd)
                result.listener = fd
            } else {
                logger.warning("inherited fd \(fd) (\(name.isEmpty ? "unnamed" : name)) is not a listening AF_UNIX socket of ours; closing it")
                Sys.close(fd)
            }
        }
        return result
    }
}
