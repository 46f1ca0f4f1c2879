import MioCore

/// The limits a `hello` reply reports.
public struct Limits: Equatable, Sendable {
    public var maxLine: Int
    public var maxRegistrationsPerUID: Int
    public var maxConnectionsPerUID: Int
    public var maxSessionsPerUID: Int

    public init(maxLine: Int, maxRegistrationsPerUID: Int, maxConnectionsPerUID: Int, maxSessionsPerUID: Int) {
        self.maxLine = maxLine
        self.maxRegistrationsPerUID = maxRegistrationsPerUID
        self.maxConnectionsPerUID = maxConnectionsPerUID
        self.maxSessionsPerUID = maxSessionsPerUID
    }
}

public struct HelloReply: Equatable, Sendable {
    public var server: String
    public var version: String
    public var session: String?
    public var limits: Limits
    /// Set for ring delivery only (the reply then carries the ring's fds).
    public var ringEntries: Int?

    public init(server: String, version: String, session: String?, limits: Limits, ringEntries: Int? = nil) {
        self.server = server
        self.version = version
        self.session = session
        self.limits = limits
        self.ringEntries = ringEntries
    }
}

/// One line of a `list` reply.
public struct RegistrationInfo: Equatable, Sendable {
    public var token: Token
    /// What epoll watches it for; nil for a held fd (`store`: never polled).
    public var interest: Interest?
    public var mode: Mode?
    public var kind: String
    /// A daemon-side timer's schedule (kind `timer`).
    public var timer: TimerInfo?

    /// A held fd (`store`): never polled, no interest, no mode.
    public var held: Bool { interest == nil }

    public init(token: Token, interest: Interest, mode: Mode, kind: String, timer: TimerInfo? = nil) {
        self.token = token
        self.interest = interest
        self.mode = mode
        self.kind = kind
        self.timer = timer
    }

    /// A held fd's line.
    public init(heldToken token: Token, kind: String) {
        self.token = token
        self.kind = kind
    }
}

/// Where a timer stands, as `list` shows it.
public struct TimerInfo: Equatable, Sendable {
    /// nil: a timer that expires once.
    public var intervalMilliseconds: UInt64?
    /// Milliseconds to the next expiry; nil once a one-shot timer has expired.
    public var expiresInMilliseconds: UInt64?

    public init(intervalMilliseconds: UInt64?, expiresInMilliseconds: UInt64?) {
        self.intervalMilliseconds = intervalMilliseconds
        self.expiresInMilliseconds = expiresInMilliseconds
    }
}

public struct StatsReply: Equatable, Sendable {
    public var uptimeSeconds: Double
    public var connections: Int
    public var sessions: Int
    public var registrations: Int
    public var fdsHeld: Int
    public var eventsDelivered: UInt64
    public var eventsCoalesced: UInt64

    public init(uptimeSeconds: Double, connections: Int, sessions: Int, registrations: Int, fdsHeld: Int,
                eventsDelivered: UInt64, eventsCoalesced: UInt64) {
        self.uptimeSeconds = uptimeSeconds
        self.connections = connections
        self.sessions = sessions
        self.registrations = registrations
        self.fdsHeld = fdsHeld
        self.eventsDelivered = eventsDelivered
        self.eventsCoalesced = eventsCoalesced
    }
}


/// One line of a `sessions` reply: a named session seen from outside.
public struct SessionInfo: Equatable, Sendable {
    public var name: String
    public var uid: UInt32
    public var persistent: Bool
    public var attached: Bool
    public var registrations: Int
    /// Tokens with readiness waiting for delivery.
    public var pending: Int
    /// The lease, in seconds, when the session has one.
    public var leaseSeconds: Int?
    /// Seconds left of the lease while no connection is attached.
    public var expiresInSeconds: Double?

    public init(name: String, uid: UInt32, persistent: Bool, attached: Bool, registrations: Int, pending: Int,
                leaseSeconds: Int? = nil, expiresInSeconds: Double? = nil) {
        self.name = name
        self.uid = uid
        self.persistent = persistent
        self.attached = attached
        self.registrations = registrations
        self.pending = pending
        self.leaseSeconds = leaseSeconds
        self.expiresInSeconds = expiresInSeconds
    }
}
