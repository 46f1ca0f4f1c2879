#if canImport(Glibc)
import Glibc
#endif
import MioClient
import MioSystem

/// What the daemon said, as the watcher thread passes it on: one byte each.
enum DaemonNews: UInt8 {
    /// The held fd's token became readable.
    case ready = 0x72
    /// The daemon is shutting down.
    case shutdown = 0x73
    /// Another connection took the session over.
    case taken = 0x74
    /// The connection to the daemon was lost.
    case lost = 0x6c
}

/// A thread that owns the daemon connection after setup: it waits for the
/// session's events (and re-arms a oneshot registration after each), and
/// writes each as a byte to a pipe, which the supervisor polls next to its
/// signalfd. One thread, for serve's whole life.
struct DaemonWatcher {
    /// The pipe's read end, non-blocking.
    let pollable: Int32

    /// Starts the thread. `rearm`: the interest to re-arm a oneshot registration with.
    static func start(daemon: MioConnection, token: Token, rearm: Interest?) throws(MioError) -> DaemonWatcher {
        let (readEnd, writeEnd) = try Sys.pipe()
        try Sys.setNonBlocking(readEnd)
        Sys.startThread {
            func post(_ news: DaemonNews) {
                var byte = news.rawValue
                _ = try? Sys.write(writeEnd, from: &byte, count: 1)
            }
            do {
                while true {
                    switch try daemon.next(timeout: nil) {
                    case .ready(let event)? where event.token == token:
                        if let rearm { try daemon.reregister(token: token, interest: rearm, mode: .oneshot) }
                        post(.ready)
                    case .shutdown?:
                        return post(.shutdown)
                    case .sessionTaken?:
                        return post(.taken)
                    case .ready?, nil:
                        break
                    }
                }
            } catch {
                post(.lost)
            }
        }
        return DaemonWatcher(pollable: readEnd)
    }

    /// What has come since the last call.
    func drain() -> [DaemonNews] {
        var news: [DaemonNews] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while case .done(let count)? = try? Sys.read(pollable, into: &buffer, count: buffer.count), count > 0 {
            news += buffer[..<count].compactMap(DaemonNews.init(rawValue:))
        }
        return news
    }
}
