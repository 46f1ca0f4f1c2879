import Testing
import MioCore
import MioSystem
import MioProtocol
@testable import MioServer

@Suite("Pending readiness is coalesced per token, in arrival order")
struct CoalescingTests {
    /// A registration holding one end of a fresh pipe (closed with it).
    func registration(_ token: Token, in session: Session) throws -> Registration {
        let (readEnd, writeEnd) = try Sys.pipe()
        Sys.close(writeEnd)
        return Registration(token: token, session: session, kind: .pipe, holding: ClientFd(adopting: readEnd),
                            interest: .readable, mode: .edge)
    }

    @Test("flags of one token are OR-ed into one event; order is first arrival")
    func orAndOrder() throws {
        let session = Session(uid: 1, name: nil)
        let a = try registration(1, in: session), b = try registration(2, in: session)
        session.add(a)
        session.add(b)
        #expect(!session.enqueue(a, .readable))
        #expect(!session.enqueue(b, .writable))
        #expect(session.enqueue(a, .readClosed), "a second readiness of token 1 is coalesced")
        var events: [ReadinessEvent] = []
        #expect(session.takePending { events.append($0) } == 2)
        #expect(events == [ReadinessEvent(token: 1, readiness: [.readable, .readClosed]),
                           ReadinessEvent(token: 2, readiness: .writable)])
        #expect(!session.hasPending)
    }

    @Test("a removed registration's pending readiness is dropped")
    func removedDropped() throws {
        let session = Session(uid: 1, name: nil)
        let a = try registration(1, in: session), b = try registration(2, in: session)
        session.add(a)
        session.add(b)
        _ = session.enqueue(a, .readable)
        _ = session.enqueue(b, .readable)
        _ = session.remove(1)
        var tokens: [Token] = []
        _ = session.takePending { tokens.append($0.token) }
        #expect(tokens == [2])
    }

    @Test("a limit takes the oldest first and leaves the rest pending")
    func limit() throws {
        let session = Session(uid: 1, name: nil)
        let all = try (1...5).map { try registration(Token(UInt64($0)), in: session) }
        for r in all {
            session.add(r)
            _ = session.enqueue(r, .readable)
        }
        var first: [Token] = []
        #expect(session.takePending(limit: 2) { first.append($0.token) } == 2)
        #expect(first == [1, 2])
        #expect(session.hasPending)
        var rest: [Token] = []
        _ = session.takePending { rest.append($0.token) }
        #expect(rest == [3, 4, 5])
    }
}
