import Testing
import MioCore
@testable import MioServer

@Suite("Names of registrations in the fd store")
struct StoredRegistrationTests {
    @Test("a name parses back to what made it")
    func roundTrip() {
        for (interest, mode, role) in [(Interest.readable, Mode.edge, Registration.Role.polled),
                                       (.readable | .writable | .priority, .oneshot, .polled),
                                       (.readable, .edge, .waker), (.readable, .edge, .timer), (.readable, .edge, .held)] {
            let stored = StoredRegistration(uid: 1000, session: "build.1_x-y", token: Token(UInt64.max), role: role,
                                            interest: interest, mode: mode)
            #expect(StoredRegistration(name: stored.name) == stored)
            #expect(stored.name.hasPrefix("mio~1000~build.1_x-y~18446744073709551615~"))
        }
        #expect(StoredRegistration(uid: 1, session: "s", token: 2, role: .held).name == "mio~1~s~2~-~-~h")
        #expect(StoredRegistration(uid: 1, session: "s", token: 2, role: .timer).name == "mio~1~s~2~r~e~t")
    }

    @Test("names not of ours, or damaged, are refused")
    func refused() {
        for name in ["", "mio~", "other~1~s~1~r~e~f", "mio~x~s~1~r~e~f", "mio~1~bad name~1~r~e~f", "mio~1~s~-1~r~e~f",
                     "mio~1~s~1~~e~f", "mio~1~s~1~rx~e~f", "mio~1~s~1~r~q~f", "mio~1~s~1~r~e~z", "mio~1~s~1~r~e~f~extra",
                     "mio~1~s~1~r~e~h", "mio~1~s~1~-~-~f", "mio~1~s~1~-~e~h"] {
            #expect(StoredRegistration(name: name) == nil, "\(name)")
        }
    }
}
