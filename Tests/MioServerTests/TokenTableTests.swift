import Testing
import MioCore
import MioSystem
@testable import MioServer

@Suite("A session's token table: small tokens by index, the rest by keyed hash")
struct TokenTableTests {
    /// Tokens on both sides of the array's reach, and ones that fall inside
    /// it only after it has grown (added to the dictionary first).
    static let tokens: [UInt64] = Array(0..<40) + [63, 64, 65, 100, 150, 255, 256, 1000, 1 << 40, UInt64.max]

    func registrations() throws -> [UInt64: Registration] {
        let session = Session(uid: 1, name: nil)
        var made: [UInt64: Registration] = [:]
        for raw in Self.tokens {
            let (readEnd, writeEnd) = try Sys.pipe()
            Sys.close(writeEnd)
            made[raw] = Registration(token: Token(raw), session: session, kind: .pipe,
                                     holding: ClientFd(adopting: readEnd), interest: .readable, mode: .edge)
        }
        return made
    }

    @Test("adds, finds and removes as a dictionary would, whatever the order")
    func againstModel() throws {
        let pool = try registrations()
        var table = TokenTable()
        var model: [UInt64: Registration] = [:]
        var state: UInt64 = 12345
        var peak = 0
        for step in 0..<6000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let raw = Self.tokens[Int((state >> 33) % UInt64(Self.tokens.count))]
            // More adds than removes at first, so the array grows past tokens
            // already in the dictionary; then more removes, down to empty.
            let adding = (state >> 20) % 10 < (step < 3000 ? 7 : 3)
            if adding {
                table.insert(pool[raw]!)
                model[raw] = pool[raw]!
            } else {
                #expect(table.remove(Token(raw)) === model.removeValue(forKey: raw))
            }
            peak = max(peak, model.count)
            #expect(table.count == model.count)
            for probe in Self.tokens { #expect(table[Token(probe)] === model[probe]) }
            #expect(table.denseReach <= max(64, 4 * peak), "the array follows the most held at once")
        }
        #expect(Set(table.all.map(\.token.rawValue)) == Set(model.keys))
    }

    @Test("a large token alone does not grow the array; dense tokens do")
    func bound() throws {
        let pool = try registrations()
        var table = TokenTable()
        table.insert(pool[1000]!)
        table.insert(pool[1 << 40]!)
        #expect(table.denseReach == 0 && table.count == 2)
        for raw in UInt64(0)..<40 { table.insert(pool[raw]!) }
        #expect(table.denseReach == 40)
        table.insert(pool[150]!)  // 4 × 43 reaches past it
        #expect(table.denseReach == 151)
        #expect(table[Token(1000)] === pool[1000]! && table[Token(150)] === pool[150]!)
        table.insert(pool[39]!)  // the same again: replaced, not counted twice
        #expect(table.count == 43)
    }
}
