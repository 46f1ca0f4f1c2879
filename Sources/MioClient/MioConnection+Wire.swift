#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import MioProtocol

/// One line from the daemon, decoded, and the fds that came with it.
struct ReceivedLine {
    let bytes: [UInt8]
    let fds: [Int32]
    /// nil when the line is not JSON.
    let line: DaemonLine?

    func closeFds() {
        for fd in fds { Sys.close(fd) }
    }
}

/// The transport: request lines out (with an fd where one goes), lines in,
/// replies matched to requests in order, events kept for ``MioConnection/next(timeout:)``.
extension MioConnection {
    /// Sends a raw request line (a JSON object, without its newline) and
    /// returns the raw reply line: what `mioctl --json` prints.
    public func raw(_ line: String) throws(MioClientError) -> String {
        try exchange { () throws(MioClientError) -> String in
            let deadline = requestDeadline(waitAlso: nil)
            try sendOrRefusal(Array(line.utf8) + [0x0A], fd: nil, deadline: deadline)
            return try rawReply(deadline: deadline)
        }
    }

    private func rawReply(deadline: ContinuousClock.Instant?) throws(MioClientError) -> String {
        while true {
            let received = try readLine(timeout: deadline.map { max(.zero, $0 - .now) })
            received.closeFds()
            switch received.line {
            case .reply?: return String(decoding: received.bytes, as: UTF8.self)
            case .event(let event)?: events.append(.ready(event))
            case .notice(let notice)?: queueNotice(notice)
            case .unknown?, nil: continue
            }
        }
    }

    /// Sends `operation` and waits for its reply: the reply's typed fields,
    /// or the daemon's error as ``MioClientError/daemon(code:message:)``.
    /// (Called under the lock, from ``exchange(_:)``.) `waitAlso`: how long
    /// the daemon itself may wait before it answers (`poll`'s timeout).
    func request(_ operation: Request.Operation, fd clientFd: Int32? = nil,
                 waitAlso: Duration? = nil) throws(MioClientError) -> ReplyBody {
        var ignored: [Int32] = []
        return try request(operation, fd: clientFd, receivedFds: &ignored, waitAlso: waitAlso)
    }

    func request(_ operation: Request.Operation, fd clientFd: Int32? = nil,
                 receivedFds: inout [Int32], waitAlso: Duration? = nil) throws(MioClientError) -> ReplyBody {
        let id = nextID
        nextID += 1
        var writer = JSONWriter(capacity: 256)
        writer.request(Request(id: .unsigned(id), operation))
        let deadline = requestDeadline(waitAlso: waitAlso)
        try sendOrRefusal(writer.bytes, fd: clientFd, deadline: deadline)
        while true {
            let received = try readLine(timeout: deadline.map { max(.zero, $0 - .now) })
            switch received.line {
            case .event(let event)?:
                events.append(.ready(event))
                received.closeFds()
            case .notice(let notice)?:
                queueNotice(notice)
                received.closeFds()
            case .unknown?:
                received.closeFds()
            case nil:
                received.closeFds()
                throw .protocolViolation("not JSON")
            case .reply(let replyID, let outcome)?:
                guard replyID == .unsigned(id) else {
                    received.closeFds()
                    if replyID == nil, case .failed(let code, let message) = outcome {
                        // An error about the connection itself (line_too_long, fd_overflow).
                        throw .daemon(code: code, message: message)
                    }
                    throw .protocolViolation("reply for another request")
                }
                switch outcome {
                case .failed(let code, let message):
                    received.closeFds()
                    throw .daemon(code: code, message: message)
                case .ok(let value):
                    guard let body = ReplyBody(decoding: value, for: operation.op) else {
                        received.closeFds()
                        throw .protocolViolation("\(operation.op.rawValue) reply without its fields")
                    }
                    receivedFds = received.fds
                    return body
                }
            }
        }
    }

    /// When the reply must have come: ``requestTimeout`` from now (plus
    /// what the daemon may wait itself); nil: no bound.
    func requestDeadline(waitAlso: Duration?) -> ContinuousClock.Instant? {
        guard let requestTimeout else { return nil }
        let total = requestTimeout + (waitAlso ?? .zero)
        return total > .seconds(100 * 365 * 86400) ? nil : .now + total
    }

    /// Sends, and when the daemon has already closed the connection, the
    /// reason it sent first (`permission_denied`, `limit_exceeded` right
    /// after accept: a line with no `id`) rather than "closed".
    private func sendOrRefusal(_ bytes: [UInt8], fd clientFd: Int32?, deadline: ContinuousClock.Instant?) throws(MioClientError) {
        do {
            try send(bytes, fd: clientFd)
        } catch {
            guard error == .connectionClosed else { throw error }
            let drainUntil = ContinuousClock.now + .seconds(1)
            while true {
                let until = deadline.map { min($0, drainUntil) } ?? drainUntil
                guard let received = try? readLine(timeout: max(.zero, until - .now)) else { throw error }
                received.closeFds()
                if case .reply(nil, .failed(let code, let message))? = received.line {
                    throw .daemon(code: code, message: message)
                }
            }
        }
    }

    /// One line and its fds: a request with an fd goes alone in its sendmsg.
    private func send(_ bytes: [UInt8], fd clientFd: Int32?) throws(MioClientError) {
        var offset = 0
        while offset < bytes.count {
            let fds = offset == 0 ? (clientFd.map { [$0] } ?? []) : []
            let result: IOResult<Int>
            do {
                result = try bytes.withUnsafeBytesTyped { (raw) throws(MioError) -> IOResult<Int> in
                    try Sys.send(fd, from: raw.baseAddress! + offset, count: raw.count - offset, fds: fds)
                }
            } catch {
                throw error.kind == .connectionClosed ? .connectionClosed : .system(error)
            }
            switch result {
            case .done(let n): offset += n
            case .wouldBlock: throw .timedOut  // SO_SNDTIMEO: the daemon stopped reading
            }
        }
    }

    /// The next line and its fds, decoded (the daemon's usual event line on
    /// a fast path without the JSON parser).
    func readLine(timeout: Duration?) throws(MioClientError) -> ReceivedLine {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while lines.isEmpty {
            if closed || closedByUser { throw .connectionClosed }
            if let deadline {
                let ready: Bool
                do {
                    ready = try Sys.waitReadable(fd, timeout: max(.zero, deadline - .now))
                } catch {
                    throw .system(error)
                }
                if !ready { throw .timedOut }
            }
            try receive(wait: deadline == nil)
        }
        let line = lines.removeFirst()
        guard case .request(let range) = line.content else { return ReceivedLine(bytes: [], fds: Array(line.fds), line: nil) }
        let bytes = Array(framer.bytes(of: range))
        return ReceivedLine(bytes: bytes, fds: Array(line.fds), line: bytes.withUnsafeBytes { DaemonLine($0) })
    }

    /// One `recvmsg`, its bytes and fds to the framer (`wait`: block until
    /// something comes; else the socket was found readable).
    func receive(wait: Bool) throws(MioClientError) {
        let flags = wait ? 0 : Int32(MSG_DONTWAIT)
        let result: IOResult<(bytes: Int, fdCount: Int, truncated: Bool)>
        do {
            result = try buffer.withUnsafeMutableBufferPointerTyped { (raw) throws(MioError) in
                try received.withUnsafeMutableBufferPointerTyped { (fds) throws(MioError) in
                    try Sys.receive(fd, into: raw.baseAddress!, count: raw.count, fds: fds.baseAddress!, flags: flags)
                }
            }
        } catch {
            throw error.kind == .connectionClosed ? .connectionClosed : .system(error)
        }
        guard case .done(let got) = result else { return }
        let fds = LineFds(received.prefix(got.fdCount))
        if got.bytes == 0 {
            for fd in fds { Sys.close(fd) }
            closed = true
            throw .connectionClosed
        }
        // Every line taken was copied out: the framer's store can go.
        if lines.isEmpty { framer.forgetLines() }
        buffer.withUnsafeBytes { raw in
            framer.push(UnsafeRawBufferPointer(rebasing: raw[0..<got.bytes]), fds: fds, into: &lines)
        }
    }
}
