import CJSONC
import MioCore

/// Typed access to the fields of one request object.
struct Fields {
    let object: OpaquePointer
    /// Integer literals on the line that json-c clamped.
    let outOfRangeIntegers: Int
    var id: RequestID?

    init(object: OpaquePointer, outOfRangeIntegers: Int) {
        self.object = object
        self.outOfRangeIntegers = outOfRangeIntegers
    }

    /// The id, if it can be read (for a reply to a line refused as a whole).
    var readableID: RequestID? { try? readID() }

    mutating func decodeRequest(fdCount: Int) -> Result<Request, DecodeFailure> {
        // The id is read first, so that every later error can echo it; a bad
        // id is reported after unknown_op, as the error order says.
        let idResult = Result { () throws(ProtocolError) -> RequestID? in try readID() }
        id = try? idResult.get()
        do throws(ProtocolError) {
            let opValue = value("op")
            var op: Op?
            if let opValue, json_object_get_type(opValue) == json_type_string {
                let name = rawString(opValue)
                op = Op(rawValue: name)
                if op == nil { throw Op.unknown(name) }
            }
            _ = try idResult.get()
            guard let opValue else { throw ProtocolError(.badRequest, "missing \"op\"") }
            guard let op else {
                _ = opValue
                throw ProtocolError(.badRequest, "\"op\" must be a string")
            }
            let operation = try decodeOperation(op)
            try checkFdCount(op, fdCount: fdCount)
            return .success(Request(id: id, operation))
        } catch {
            return .failure(DecodeFailure(id: id, error: error))
        }
    }

    private func decodeOperation(_ op: Op) throws(ProtocolError) -> Request.Operation {
        switch op {
        case .hello: return .hello(try decodeHello())
        case .register: return .register(token: try token(), interest: try interest(), mode: try mode())
        case .reregister: return .reregister(token: try token(), interest: try interest(), mode: try mode())
        case .deregister: return .deregister(token: try token())
        case .waker: return .waker(token: try token())
        case .wake: return .wake(token: try token(), session: try optionalString("session"))
        case .poll:
            let timeout = try optionalUnsigned("timeout_ms")
            let maxEvents = try optionalUnsigned("max_events") ?? 1024
            guard maxEvents >= 1, maxEvents <= UInt64(RequestDecoder.maxPollEvents) else {
                throw ProtocolError(.badRequest, "\"max_events\" must be between 1 and \(RequestDecoder.maxPollEvents)")
            }
            return .poll(timeoutMilliseconds: timeout, maxEvents: Int(maxEvents))
        case .fetch: return .fetch(token: try token(), deregister: try optionalBool("deregister") ?? false)
        case .list: return .list(session: try sessionName(), uid: try optionalUID())
        case .sessions: return .sessions
        case .stats: return .stats
        case .end: return .end(session: try sessionName(), uid: try optionalUID())
        case .ping: return .ping
        case .store: return .store(token: try token())
        case .timer: return .timer(token: try token(), try timerSettings())
        }
    }

    private func timerSettings() throws(ProtocolError) -> TimerSettings {
        guard let after = try optionalUnsigned("after_ms") else {
            throw ProtocolError(.badRequest, "missing \"after_ms\" (milliseconds to the first expiry, 0 or more)")
        }
        let most = TimerSettings.maxMilliseconds
        guard after <= most else { throw ProtocolError(.badRequest, "\"after_ms\" is at most \(most)") }
        let interval = try optionalUnsigned("interval_ms")
        if let interval {
            guard interval >= 1, interval <= most else {
                throw ProtocolError(.badRequest, "\"interval_ms\" is from 1 to \(most)")
            }
        }
        return TimerSettings(afterMilliseconds: after, intervalMilliseconds: interval)
    }

    /// `lease_s`: absent keeps the lease, null removes it, else 1 … 2^31−1.
    private func leaseChange() throws(ProtocolError) -> LeaseChange? {
        var found: OpaquePointer?
        guard json_object_object_get_ex(object, "lease_s", &found) != 0 else { return nil }
        guard let raw = found else { return .remove }  // json-c's null is a NULL value
        let seconds = try unsigned(raw, "lease_s")
        guard seconds >= 1, seconds <= UInt64(LeaseChange.maxSeconds) else {
            throw ProtocolError(.badRequest, "\"lease_s\" is from 1 to \(LeaseChange.maxSeconds) seconds, or null to remove the lease")
        }
        return .set(seconds: UInt32(seconds))
    }

    private func checkFdCount(_ op: Op, fdCount: Int) throws(ProtocolError) {
        if op.takesFd {
            if fdCount == 0 { throw ProtocolError(.noFd, "\(op.rawValue) needs one file descriptor, sent with the request line in one sendmsg()") }
            if fdCount > 1 { throw ProtocolError(.badRequest, "\(op.rawValue) takes exactly one file descriptor, \(fdCount) came") }
        } else if fdCount > 0 {
            throw ProtocolError(.badRequest, "this request takes no file descriptor, \(fdCount) came (they were closed)")
        }
    }

    /// An optional `session`: a valid session name.
    private func sessionName() throws(ProtocolError) -> String? {
        guard let name = try optionalString("session") else { return nil }
        guard SessionName.isValid(name) else {
            throw ProtocolError(.badRequest, "a session name is 1 to 64 bytes of [A-Za-z0-9._-]")
        }
        return name
    }

    /// An optional `uid` (with `session`: another uid's session, for root).
    private func optionalUID() throws(ProtocolError) -> UInt32? {
        guard let uid = try optionalUnsigned("uid") else { return nil }
        guard uid <= UInt64(UInt32.max) else { throw ProtocolError(.badRequest, "\"uid\" is out of range") }
        guard present("session") != nil else { throw ProtocolError(.badRequest, "\"uid\" needs \"session\"") }
        return UInt32(uid)
    }

    private func decodeHello() throws(ProtocolError) -> HelloRequest {
        var hello = HelloRequest()
        hello.protocolVersion = try optionalUnsigned("protocol")
        hello.session = try sessionName()
        hello.persist = try optionalBool("persist") ?? false
        hello.takeover = try optionalBool("takeover") ?? false
        if let delivery = try optionalString("delivery") {
            guard let parsed = Delivery(rawValue: delivery) else {
                throw ProtocolError(.badRequest, "\"delivery\" is \"stream\", \"poll\" or \"ring\"")
            }
            hello.delivery = parsed
        }
        if let entries = try optionalUnsigned("ring_entries") {
            guard hello.delivery == .ring else { throw ProtocolError(.badRequest, "\"ring_entries\" needs \"delivery\":\"ring\"") }
            guard entries >= 64, entries <= 65536, entries & (entries - 1) == 0 else {
                throw ProtocolError(.badRequest, "\"ring_entries\" is a power of two from 64 to 65536")
            }
            hello.ringEntries = Int(entries)
        }
        hello.client = try optionalString("client")
        hello.lease = try leaseChange()
        if case .set? = hello.lease, !hello.persist {
            throw ProtocolError(.badRequest, "\"lease_s\" needs \"persist\":true: only a persistent session outlives its connection")
        }
        return hello
    }

    // MARK: - Field readers

    private func value(_ key: String) -> OpaquePointer? {
        var result: OpaquePointer?
        guard json_object_object_get_ex(object, key, &result) != 0 else { return nil }
        return result
    }

    /// A present field whose value is not JSON null.
    private func present(_ key: String) -> OpaquePointer? {
        guard let v = value(key), json_object_get_type(v) != json_type_null else { return nil }
        return v
    }

    /// A string value as it is, NULs and all.
    private func rawString(_ v: OpaquePointer) -> String {
        let length = Int(json_object_get_string_len(v))
        guard let pointer = json_object_get_string(v) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    /// A string value the daemon reads. (One with a NUL never gets here:
    /// the line's scan refuses it.)
    private func string(_ v: OpaquePointer, _ key: String) throws(ProtocolError) -> String {
        rawString(v)
    }

    private func readID() throws(ProtocolError) -> RequestID? {
        var raw: OpaquePointer?
        guard json_object_object_get_ex(object, "id", &raw) != 0 else { return nil }
        guard let v = raw else { throw ProtocolError(.badRequest, "\"id\" must be a string or an integer, not null") }
        switch json_object_get_type(v) {
        case json_type_string:
            // The one string echoed back: an id that holds a NUL is not (the
            // line is refused for it anyway).
            let text = rawString(v)
            if text.utf8.contains(0) { throw ProtocolError(.badRequest, "a string contains U+0000 (NUL)") }
            return .string(text)
        case json_type_int:
            try checkNotClamped(v, "id")
            let signed = json_object_get_int64(v)
            return signed < 0 ? .signed(signed) : .unsigned(json_object_get_uint64(v))
        default:
            throw ProtocolError(.badRequest, "\"id\" must be a string or an integer")
        }
    }

    /// json-c clamps integers it cannot hold to 2^64-1 or -2^63; the line's
    /// scan tells whether such a value here came from a larger literal.
    private func checkNotClamped(_ v: OpaquePointer, _ key: String) throws(ProtocolError) {
        let signed = json_object_get_int64(v)
        let atClamp = signed == Int64.min || (signed == Int64.max && json_object_get_uint64(v) == UInt64.max)
        // A literal past the range was on the line and this value sits at
        // the clamp: refuse rather than guess which literal it came from.
        if atClamp, outOfRangeIntegers > 0 {
            throw ProtocolError(.badRequest, "\"\(key)\" is out of range")
        }
    }

    private func unsigned(_ v: OpaquePointer, _ key: String) throws(ProtocolError) -> UInt64 {
        guard json_object_get_type(v) == json_type_int else {
            throw ProtocolError(.badRequest, "\"\(key)\" must be an integer")
        }
        try checkNotClamped(v, key)
        guard json_object_get_int64(v) >= 0 else {
            throw ProtocolError(.badRequest, "\"\(key)\" must not be negative")
        }
        return json_object_get_uint64(v)
    }

    private func optionalUnsigned(_ key: String) throws(ProtocolError) -> UInt64? {
        guard let v = present(key) else { return nil }
        return try unsigned(v, key)
    }

    private func token() throws(ProtocolError) -> Token {
        guard let v = value("token") else { throw ProtocolError(.badRequest, "missing \"token\"") }
        return Token(try unsigned(v, "token"))
    }

    private func optionalString(_ key: String) throws(ProtocolError) -> String? {
        guard let v = present(key) else { return nil }
        guard json_object_get_type(v) == json_type_string else {
            throw ProtocolError(.badRequest, "\"\(key)\" must be a string")
        }
        return try string(v, key)
    }

    private func optionalBool(_ key: String) throws(ProtocolError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard json_object_get_type(v) == json_type_boolean else {
            throw ProtocolError(.badRequest, "\"\(key)\" must be true or false")
        }
        return json_object_get_boolean(v) != 0
    }

    private func interest() throws(ProtocolError) -> Interest {
        guard let v = value("interest") else { throw ProtocolError(.badRequest, "missing \"interest\"") }
        var names: [String] = []
        switch json_object_get_type(v) {
        case json_type_string: names = [try string(v, "interest")]
        case json_type_array:
            for index in 0..<json_object_array_length(v) {
                guard let element = json_object_array_get_idx(v, index),
                      json_object_get_type(element) == json_type_string else {
                    throw ProtocolError(.badRequest, "\"interest\" holds strings only")
                }
                names.append(try string(element, "interest"))
            }
        default:
            throw ProtocolError(.badRequest, "\"interest\" is an array of \"readable\", \"writable\", \"priority\"")
        }
        if let unknown = names.first(where: { Interest(wireName: $0) == nil }) {
            throw ProtocolError(.badRequest, "unknown interest \"\(ProtocolText.printable(unknown))\"")
        }
        guard let result = Interest(wireNames: names) else { throw ProtocolError(.badRequest, "\"interest\" must not be empty") }
        return result
    }

    private func mode() throws(ProtocolError) -> Mode {
        guard let name = try optionalString("mode") else { return .edge }
        guard let mode = Mode(wireName: name) else {
            throw ProtocolError(.badRequest, "unknown mode \"\(ProtocolText.printable(name))\": \"edge\" or \"oneshot\"")
        }
        return mode
    }
}
