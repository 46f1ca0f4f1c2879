import MioCore

/// Request lines as clients write them: the counterpart of
/// ``RequestDecoder``, so that a decode of an encode gives the request back.
extension JSONWriter {
    /// `{"op":"…","id":…,…}\n`
    public mutating func request(_ request: Request) {
        raw("{\"op\":")
        string(request.operation.op.rawValue)
        if let id = request.id { comma(); key("id"); requestID(id) }
        switch request.operation {
        case .hello(let hello):
            if let version = hello.protocolVersion { comma(); key("protocol"); unsigned(version) }
            if let session = hello.session { comma(); key("session"); string(session) }
            if hello.persist { comma(); key("persist"); bool(true) }
            if hello.takeover { comma(); key("takeover"); bool(true) }
            if let delivery = hello.delivery { comma(); key("delivery"); string(delivery.rawValue) }
            if let entries = hello.ringEntries { comma(); key("ring_entries"); unsigned(UInt64(entries)) }
            if let client = hello.client { comma(); key("client"); string(client) }
            switch hello.lease {
            case .set(let seconds)?: comma(); key("lease_s"); unsigned(UInt64(seconds))
            case .remove?: comma(); key("lease_s"); raw("null")
            case nil: break
            }
        case .register(let token, let interest, let mode), .reregister(let token, let interest, let mode):
            tokenField(token)
            comma(); key("interest"); stringArray(interest.names)
            comma(); key("mode"); string(mode.wireName)
        case .deregister(let token), .waker(let token), .store(let token):
            tokenField(token)
        case .wake(let token, let session):
            tokenField(token)
            if let session { comma(); key("session"); string(session) }
        case .poll(let timeout, let maxEvents):
            comma(); key("timeout_ms")
            if let timeout { unsigned(timeout) } else { raw("null") }
            comma(); key("max_events"); unsigned(UInt64(maxEvents))
        case .fetch(let token, let deregister):
            tokenField(token)
            if deregister { comma(); key("deregister"); bool(true) }
        case .list(let session, let uid), .end(let session, let uid):
            if let session { comma(); key("session"); string(session) }
            if let uid { comma(); key("uid"); unsigned(UInt64(uid)) }
        case .timer(let token, let settings):
            tokenField(token)
            comma(); key("after_ms"); unsigned(settings.afterMilliseconds)
            if let interval = settings.intervalMilliseconds { comma(); key("interval_ms"); unsigned(interval) }
        case .sessions, .stats, .ping:
            break
        }
        raw("}\n")
    }

    private mutating func tokenField(_ token: Token) {
        comma(); key("token"); unsigned(token.rawValue)
    }

    mutating func requestID(_ id: RequestID) {
        switch id {
        case .signed(let value): signed(value)
        case .unsigned(let value): unsigned(value)
        case .string(let value): string(value)
        }
    }
}
