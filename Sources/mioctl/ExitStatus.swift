#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MioClient
import MioSystem

/// mioctl's exit statuses, one meaning each, for every verb.
enum ExitStatus: Int32 {
    case success = 0
    /// The daemon answered no (an error reply), or `wait` timed out, or
    /// `serve` found nothing it can serve or lost its session to a takeover.
    case refused = 1
    /// The daemon could not be reached or talked to: no socket, permission
    /// denied on it, no answer within --timeout, the connection lost.
    case unreachable = 2
    /// The command line was wrong (ArgumentParser's EX_USAGE).
    case usage = 64
    /// The program for `fetch` or `serve` to run was found but could not be run.
    case cannotExecute = 126
    /// The program for `fetch` or `serve` to run was not found (as env(1) and exec wrappers).
    case commandNotFound = 127

    static let summary = """
        Exit status: 0 success; 1 the daemon said no (an error reply), wait timed out, or serve has nothing \
        to serve or lost its session; \
        2 the daemon could not be reached or talked to (no socket, permission denied, \
        no answer within --timeout, connection lost); 64 usage error; \
        126 the command for fetch or serve could not be run; 127 it was not found.
        """
}

/// Ends mioctl with one line on stderr and the exit status the failure
/// stands for, never a trace.
enum Failure {
    /// Runs `body`; a client error ends mioctl (``exit(for:path:timeout:)``).
    static func guarded<T>(_ options: CommonOptions, path: String? = nil, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MioClientError {
            exit(for: error, path: path ?? options.socketPath, timeout: options.requestTimeout)
        } catch let error as MioError {
            fail("\(error)", .unreachable)
        }
    }

    static func exit(for error: MioClientError, path: String, timeout: TimeSpan) -> Never {
        switch error {
        case .daemon:
            fail("\(error)", .refused)
        case .timedOut:
            fail("mio-daemon at \(path) did not answer within \(timeout)", .unreachable)
        case .connectionClosed:
            fail("mio-daemon at \(path) closed the connection", .unreachable)
        default:
            fail("\(error)", .unreachable)
        }
    }

    static func fail(_ message: String, _ status: ExitStatus) -> Never {
        let line = Array("mioctl: \(message)\n".utf8)
        _ = line.withUnsafeBytes { try? Sys.write(2, from: $0.baseAddress!, count: $0.count) }
        Glibc.exit(status.rawValue)
    }
}
