import MioProtocol

/// The name a persistent session's lease timer is stored under in the fd
/// store: `mio~UID~SESSION~lease~SECONDS`, e.g. `mio~1000~build~lease~3600`.
/// A registration's name has a token (digits) where this has `lease`, so
/// the two never mix. The timerfd keeps counting in the store: after a
/// restart the countdown goes on where it was.
struct StoredLease: Equatable {
    let uid: UInt32
    let session: String
    let seconds: UInt32

    var name: String { "\(StoredRegistration.prefix)\(uid)~\(session)~lease~\(seconds)" }

    init(uid: UInt32, session: String, seconds: UInt32) {
        self.uid = uid
        self.session = session
        self.seconds = seconds
    }

    /// nil when the name is not a lease's, or does not parse.
    init?(name: String) {
        guard name.hasPrefix(StoredRegistration.prefix) else { return nil }
        let fields = name.dropFirst(StoredRegistration.prefix.count).split(separator: "~", omittingEmptySubsequences: false)
        guard fields.count == 4, fields[2] == "lease",
              let uid = UInt32(fields[0]),
              SessionName.isValid(String(fields[1])),
              let seconds = UInt32(fields[3]), seconds >= 1, seconds <= LeaseChange.maxSeconds else { return nil }
        self.init(uid: uid, session: String(fields[1]), seconds: seconds)
    }
}
