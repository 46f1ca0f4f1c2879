#if canImport(Glibc)
import Glibc
#endif
import CMioLinux

/// How a child process ended (`waitpid`'s status, decoded).
package enum ChildEnd: Equatable, Sendable {
    case exited(Int32)
    case killed(signal: Int32)

    package var succeeded: Bool { self == .exited(0) }
}

/// What `stat` and `access(X_OK)` say of a program's path.
package enum Executable: Equatable {
    case runnable
    case missing
    case notRunnable(String)
}

/// What a spawn came to: a running child, or an exec that failed (its errno).
package enum SpawnOutcome {
    case started(pid_t)
    case execFailed(MioError)
}

/// Child processes: spawning with an fd at 3 as socket activation does,
/// reaping, signalling; and threads.
extension Sys {
    /// Runs `path` with `arguments` and `environment` (`NAME=value`; a
    /// `LISTEN_PID` with the child's own pid is added) and `fd` as its fd 3.
    /// See `cmio_spawn_with_fd3`. Throws when the fork itself failed.
    package static func spawn(_ path: String, arguments: [String], environment: [String], fd3 fd: Int32) throws(MioError) -> SpawnOutcome {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        // "LISTEN_PID=" and room for the digits the child writes.
        let slot = strdup("LISTEN_PID=" + String(repeating: "0", count: 23))!
        var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [slot, nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var execFailed: Int32 = 0
        let pid = cmio_spawn_with_fd3(path, &argv, &envp, slot + 11, fd, &execFailed)
        if pid >= 0 { return .started(pid) }
        let error = MioError(errno: errno, operation: execFailed != 0 ? "execve(\(path))" : "fork")
        if execFailed != 0 { return .execFailed(error) }
        throw error
    }

    /// `waitpid(-1, WNOHANG)`: one child that has ended, nil when none has (or there are none).
    package static func reapChild() -> (pid: pid_t, end: ChildEnd)? {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0 && errno == EINTR { continue }
            guard pid > 0 else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot call.
            let signal = status & 0x7f
            if signal == 0 { return (pid, .exited((status >> 8) & 0xff)) }
            if signal != 0x7f { return (pid, .killed(signal: signal)) }
        }
    }

    /// `kill(pid, signal)`; a child already gone (`ESRCH`) is no error.
    package static func send(_ signal: Int32, to pid: pid_t) {
        _ = Glibc.kill(pid, signal)
    }

    /// Whether `path` names a file this process may execute.
    package static func executable(_ path: String) -> Executable {
        var info = stat()
        guard fstatat(AT_FDCWD, path, &info, 0) == 0 else { return .missing }
        if info.st_mode & S_IFMT == S_IFDIR { return .notRunnable("it is a directory") }
        if access(path, X_OK) != 0 { return .notRunnable(String(cString: strerror(errno))) }
        return .runnable
    }

    /// A signal's name as kill -l prints it (`KILL`), else its number.
    package static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGHUP: "HUP", SIGINT: "INT", SIGQUIT: "QUIT", SIGILL: "ILL", SIGTRAP: "TRAP",
                                      SIGABRT: "ABRT", SIGBUS: "BUS", SIGFPE: "FPE", SIGKILL: "KILL", SIGUSR1: "USR1",
                                      SIGSEGV: "SEGV", SIGUSR2: "USR2", SIGPIPE: "PIPE", SIGALRM: "ALRM", SIGTERM: "TERM"]
        return names[signal].map { "SIG" + $0 } ?? "\(signal)"
    }

    /// Starts a detached thread running `body`.
    package static func startThread(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var handle = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&handle, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        pthread_detach(handle)
    }
}

extension Sys {
    /// `accept4(SOCK_CLOEXEC)`, and the peer's address and port when it is
    /// an inet socket (REMOTE_ADDR/REMOTE_PORT of systemd's Accept=yes).
    package static func acceptWithPeer(_ fd: Int32) throws(MioError) -> (fd: Int32, address: String?, port: Int32) {
        var text = [CChar](repeating: 0, count: 64)
        var port: Int32 = 0
        let connection = try retrying("accept4") { cmio_accept_peer(fd, &text, text.count, &port) }
        let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (connection, address.isEmpty ? nil : address, port)
    }
}
