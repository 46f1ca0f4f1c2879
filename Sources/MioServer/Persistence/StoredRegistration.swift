import MioCore
import MioProtocol

/// The name a persistent registration is stored under in the fd store:
/// `mio~UID~SESSION~TOKEN~INTEREST~MODE~KIND`, e.g. `mio~1000~build~7~rw~e~f`.
///
/// `~` cannot occur in a session name, and the name has none of the
/// characters an `FDNAME=` may not hold (`:`, control characters).
/// INTEREST is letters from `r`, `w`, `p`; MODE `e` (edge) or `o` (oneshot);
/// KIND `f` (a client's fd, polled), `w` (a waker's eventfd), `t` (a
/// timer's timerfd) or `h` (a client's fd held without polling, whose
/// INTEREST and MODE are `-`).
struct StoredRegistration: Equatable {
    let uid: UInt32
    let session: String
    let token: Token
    let role: Registration.Role
    let interest: Interest
    let mode: Mode

    static let prefix = "mio~"

    var name: String {
        let letters = role == .held ? "-" : String(interest.names.compactMap(\.first))
        let modeLetter = role == .held ? "-" : (mode == .edge ? "e" : "o")
        return "\(Self.prefix)\(uid)~\(session)~\(token.rawValue)~\(letters)~\(modeLetter)~\(Self.letter(of: role))"
    }

    init(uid: UInt32, session: String, token: Token, role: Registration.Role, interest: Interest = .readable, mode: Mode = .edge) {
        self.uid = uid
        self.session = session
        self.token = token
        self.role = role
        // Only a polled fd's interest and mode are its own; the rest are fixed.
        self.interest = role == .polled ? interest : .readable
        self.mode = role == .polled ? mode : .edge
    }

    /// nil when the name is not one of ours, or does not parse.
    init?(name: String) {
        guard name.hasPrefix(Self.prefix) else { return nil }
        let fields = name.dropFirst(Self.prefix.count).split(separator: "~", omittingEmptySubsequences: false)
        guard fields.count == 6,
              let uid = UInt32(fields[0]),
              SessionName.isValid(String(fields[1])),
              let token = UInt64(fields[2]),
              let role = Self.role(letter: fields[5]) else { return nil }
        if role == .held {
            guard fields[3] == "-", fields[4] == "-" else { return nil }
            self.init(uid: uid, session: String(fields[1]), token: Token(token), role: role)
            return
        }
        guard let interest = Self.interest(letters: fields[3]), fields[4] == "e" || fields[4] == "o" else { return nil }
        self.init(uid: uid, session: String(fields[1]), token: Token(token), role: role, interest: interest,
                  mode: fields[4] == "e" ? .edge : .oneshot)
    }

    private static func letter(of role: Registration.Role) -> String {
        switch role {
        case .polled: return "f"
        case .waker: return "w"
        case .timer: return "t"
        case .held: return "h"
        }
    }

    private static func role(letter: Substring) -> Registration.Role? {
        switch letter {
        case "f": return .polled
        case "w": return .waker
        case "t": return .timer
        case "h": return .held
        default: return nil
        }
    }

    /// Each letter the first of an interest's wire name (`rw`: readable, writable).
    private static func interest(letters: Substring) -> Interest? {
        let names = letters.map { letter in Interest.wireNames.first { $0.name.first == letter }?.name ?? "" }
        return Interest(wireNames: names)
    }
}
