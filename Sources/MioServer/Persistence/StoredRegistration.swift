import MioCore
import MioProtocol

/// The name a persistent registration is stored under in the fd store:
/// `mio~UID~SESSION~TOKEN~INTEREST~MODE~KIND`, e.g. `mio~1000~build~7~rw~e~f`.
///
/// `~` cannot occur in a session name, and the name has none of the
/// characters an `FDNAME=` may not hold (`:`, control characters).
/// INTEREST is letters from `r`, `w`, `p`; MODE `e` (edge) or `o` (oneshot);
/// KIND `f` (a client's fd) or `w` (a waker's eventfd).
struct StoredRegistration: Equatable {
    let uid: UInt32
    let session: String
    let token: Token
    let interest: Interest
    let mode: Mode
    let isWaker: Bool

    static let prefix = "mio~"

    var name: String {
        let letters = String(interest.names.compactMap(\.first))
        return "\(Self.prefix)\(uid)~\(session)~\(token.rawValue)~\(letters)~\(mode == .edge ? "e" : "o")~\(isWaker ? "w" : "f")"
    }

    init(uid: UInt32, session: String, token: Token, interest: Interest, mode: Mode, isWaker: Bool) {
        self.uid = uid
        self.session = session
        self.token = token
        self.interest = interest
        self.mode = mode
        self.isWaker = isWaker
    }

    /// nil when the name is not one of ours, or does not parse.
    init?(name: String) {
        guard name.hasPrefix(Self.prefix) else { return nil }
        let fields = name.dropFirst(Self.prefix.count).split(separator: "~", omittingEmptySubsequences: false)
        guard fields.count == 6,
              let uid = UInt32(fields[0]),
              SessionName.isValid(String(fields[1])),
              let token = UInt64(fields[2]),
              let interest = Self.interest(letters: fields[3]),
              fields[4] == "e" || fields[4] == "o",
              fields[5] == "f" || fields[5] == "w" else { return nil }
        self.init(uid: uid, session: String(fields[1]), token: Token(token), interest: interest,
                  mode: fields[4] == "e" ? .edge : .oneshot, isWaker: fields[5] == "w")
    }

    /// Each letter the first of an interest's wire name (`rw`: readable, writable).
    private static func interest(letters: Substring) -> Interest? {
        let names = letters.map { letter in Interest.wireNames.first { $0.name.first == letter }?.name ?? "" }
        return Interest(wireNames: names)
    }
}
