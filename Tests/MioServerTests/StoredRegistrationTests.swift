import Testing
import MioCore
@testable import MioServer

@Suite("Names of registrations in the fd store")
struct StoredRegistrationTests {
    @Test("a name parses back to what made it")
    func roundTrip() {
        for (interest, mode, waker) in [(Interest.readable, Mode.edge, false), (.readable | .writable | .priority, .oneshot, false),
                                        (.writable, .edge, true)] {
            let stored = StoredRegistration(uid: 1000, session: "build.1_x-y", token: Token(UInt64.max), interest: interest,
                                            mode: mode, isWaker: waker)
            #expect(StoredRegistration(name: stored.name) == stored)
            #expect(stored.name.hasPrefix("mio~1000~build.1_x-y~18446744073709551615~"))
        }
    }

    @Test("names not of ours, or damaged, are refused")
    func refused() {
        for name in ["", "mio~", "other~1~s~1~r~e~f", "mio~x~s~1~r~e~f", "mio~1~bad name~1~r~e~f", "mio~1~s~-1~r~e~f",
                     "mio~1~s~1~~e~f", "mio~1~s~1~rx~e~f", "mio~1~s~1~r~q~f", "mio~1~s~1~r~e~z", "mio~1~s~1~r~e~f~extra"] {
            #expect(StoredRegistration(name: name) == nil, "\(name)")
        }
    }
}
