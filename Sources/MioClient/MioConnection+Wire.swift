#if canImport(Glibc)
import Glibc
#endif
import MioCore
import MioSystem
import Protocol

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
        try send(Array(line.utf8) + [0x0A], fd: nil)
        while true {
            let received = try readLine(timeout: nil)
            received.closeFds()
            switch received.line {
            case .reply?: return String(decoding: received.bytes, as: UTF8.self)
            case .event(let event)?: events.append(.ready(event))
            case .notice(let notice)?: events.append(ClientEvent(notice))
            case .unknown?, nil: continue
            }
        }
    }

    /// Sends `operation` and waits for its reply: the reply's typed fields,
    /// or the daemon's error as ``MioClientError/daemon(code:message:)``.
    func request(_ operation: Request.Operation, fd clientFd: Int32? = nil) throws(MioClientError) -> ReplyBody {
        var ignored: [Int32] = []
        return try request(operation, fd: clientFd, receivedFds: &ignored)
    }

    func request(_ operation: Request.Operation, fd clientFd: Int32? = nil,
                 receivedFds: inout [Int32]) throws(MioClientError) -> ReplyBody {
        let id = nextID
        nextID += 1
        var writer = JSONWriter(capacity: 256)
        writer.request(Request(id: .unsigned(id), operation))
        try send(writer.bytes, fd: clientFd)
        while true {
            let received = try readLine(timeout: nil)
            switch received.line {
            case .event(let event)?:
                events.append(.ready(event))
                received.closeFds()
            case .notice(let notice)?:
                events.append(ClientEvent(notice))
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
            if case .done(let n) = result { offset += n }  // blocking: never would-block
        }
    }

    /// The next line and its fds, decoded (the daemon's usual event line on
    /// a fast path without the JSON parser).
    func readLine(timeout: Duration?) throws(MioClientError) -> ReceivedLine {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while lines.isEmpty {
            if closed { throw .connectionClosed }
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
        guard case .request(let bytes) = line.content else { return ReceivedLine(bytes: [], fds: line.fds, line: nil) }
        return ReceivedLine(bytes: bytes, fds: line.fds, line: bytes.withUnsafeBytes { DaemonLine($0) })
    }

    /// One `recvmsg`, its bytes and fds to the framer (`wait`: block until
    /// something comes; else the socket was found readable).
    private func receive(wait: Bool) throws(MioClientError) {
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
        let fds = Array(received.prefix(got.fdCount))
        if got.bytes == 0 {
            for fd in fds { Sys.close(fd) }
            closed = true
            throw .connectionClosed
        }
        buffer.withUnsafeBytes { raw in
            framer.push(UnsafeRawBufferPointer(rebasing: raw[0..<got.bytes]), fds: fds, into: &lines)
        }
    }
}
