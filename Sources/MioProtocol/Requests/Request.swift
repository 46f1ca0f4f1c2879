import MioCore

/// A request's `id`: a JSON string or integer, echoed in the reply as decoded.
public enum RequestID: Equatable, Sendable {
    case signed(Int64)
    case unsigned(UInt64)
    case string(String)
}

/// How a named session's events reach its connection.
public enum Delivery: String, Equatable, Sendable {
    /// Event lines are written as readiness arrives (the default).
    case stream
    /// Events wait for a `poll` request.
    case poll
    /// Events go into a shared-memory ring (docs/protocol.md, "Ring delivery").
    case ring
}

public struct HelloRequest: Equatable, Sendable {
    public var protocolVersion: UInt64?
    public var session: String?
    public var persist: Bool = false
    public var takeover: Bool = false
    public var delivery: Delivery?
    /// With ring delivery: the ring's size (a power of two, 64…65536).
    public var ringEntries: Int?
    public var client: String?
    /// nil: the session's lease stays as it is.
    public var lease: LeaseChange?

    public init(protocolVersion: UInt64? = nil, session: String? = nil, persist: Bool = false, takeover: Bool = false,
                delivery: Delivery? = nil, ringEntries: Int? = nil, client: String? = nil, lease: LeaseChange? = nil) {
        self.lease = lease
        self.ringEntries = ringEntries
        self.protocolVersion = protocolVersion
        self.session = session
        self.persist = persist
        self.takeover = takeover
        self.delivery = delivery
        self.client = client
    }
}

/// What a `hello` does to its session's lease (docs/protocol.md, "Leases").
public enum LeaseChange: Equatable, Sendable {
    /// `lease_s: N`: the session is ended after N seconds with no connection.
    case set(seconds: UInt32)
    /// `lease_s: null`: the session no longer has a lease.
    case remove

    /// The largest `lease_s`: 2^31−1 seconds.
    public static let maxSeconds: UInt32 = UInt32(Int32.max)
}

/// A daemon-side timer's settings (docs/protocol.md, "Timers").
public struct TimerSettings: Equatable, Sendable {
    /// The first expiry, this many milliseconds from the request.
    public var afterMilliseconds: UInt64
    /// Then every this many milliseconds; nil: once.
    public var intervalMilliseconds: UInt64?

    /// The largest `after_ms` and `interval_ms`: 2^53−1, the largest integer every JSON reader keeps exactly.
    public static let maxMilliseconds: UInt64 = (1 << 53) - 1

    public init(afterMilliseconds: UInt64, intervalMilliseconds: UInt64? = nil) {
        self.afterMilliseconds = afterMilliseconds
        self.intervalMilliseconds = intervalMilliseconds
    }
}

/// One decoded request: its id and what it asks.
public struct Request: Equatable, Sendable {
    public enum Operation: Equatable, Sendable {
        // Boxed: its fields would make every request as large as a hello,
        // and the hot path copies requests through outlined witnesses.
        indirect case hello(HelloRequest)
        case register(token: Token, interest: Interest, mode: Mode)
        case reregister(token: Token, interest: Interest, mode: Mode)
        case deregister(token: Token)
        case waker(token: Token)
        case wake(token: Token, session: String?)
        /// `timeoutMilliseconds` nil: wait until an event comes.
        case poll(timeoutMilliseconds: UInt64?, maxEvents: Int)
        case fetch(token: Token, deregister: Bool)
        /// nil `session`: the caller's own. With one: that named session of
        /// the caller's uid, or of `uid` (root only), read without attaching.
        case list(session: String?, uid: UInt32?)
        /// The named sessions of the caller's uid (root: of every uid).
        case sessions
        case stats
        /// nil `session`: the caller's own; with one, that named session,
        /// which must not be attached.
        case end(session: String?, uid: UInt32?)
        case ping
        /// Holds the request's fd under `token`, never polled.
        case store(token: Token)
        /// A timer of the daemon's under `token`; on a timer's token, sets it anew.
        case timer(token: Token, TimerSettings)

        public var op: Op {
            switch self {
            case .hello: return .hello
            case .register: return .register
            case .reregister: return .reregister
            case .deregister: return .deregister
            case .waker: return .waker
            case .wake: return .wake
            case .poll: return .poll
            case .fetch: return .fetch
            case .list: return .list
            case .sessions: return .sessions
            case .stats: return .stats
            case .end: return .end
            case .ping: return .ping
            case .store: return .store
            case .timer: return .timer
            }
        }

        /// Whether it takes an fd (`register`, `store`).
        public var takesFd: Bool { op.takesFd }
    }

    public var id: RequestID?
    public var operation: Operation

    public init(id: RequestID?, _ operation: Operation) {
        self.id = id
        self.operation = operation
    }
}

/// A request line that failed to decode: the error to reply with, and the
/// id if it could be read.
public struct DecodeFailure: Error, Equatable, Sendable {
    public var id: RequestID?
    public var error: ProtocolError
}

/// Session names: 1 to 64 bytes of `[A-Za-z0-9._-]`, per uid.
public enum SessionName {
    public static func isValid(_ name: String) -> Bool {
        let bytes = name.utf8
        return (1...64).contains(bytes.count) && bytes.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }
}
