import Testing
import MioCore
@testable import MioServer

@Suite("The daemon's internal tokens: slot and generation")
struct SlotTableTests {
    @Test("a removed token goes stale, even once its slot is reused")
    func staleAfterReuse() {
        var table = SlotTable<String>()
        let first = table.insert("a")
        #expect(table.lookup(first) == "a")
        #expect(table.remove(first) == "a")
        #expect(table.lookup(first) == nil)
        let second = table.insert("b")
        #expect(second != first, "same slot, new generation")
        #expect(second.rawValue & 0xFFFF_FFFF == first.rawValue & 0xFFFF_FFFF)
        #expect(table.lookup(first) == nil)
        #expect(table.lookup(second) == "b")
        #expect(table.count == 1)
    }

    @Test("replace keeps the token; a stale token replaces nothing")
    func replace() {
        var table = SlotTable<Int>()
        let token = table.insert(1)
        table.replace(token, with: 2)
        #expect(table.lookup(token) == 2)
        table.remove(token)
        table.replace(token, with: 3)
        #expect(table.lookup(token) == nil)
        #expect(table.count == 0)
    }

    @Test("a reserved token finds nothing until its value comes; removing it frees the slot")
    func reserved() {
        var table = SlotTable<Int>()
        let token = table.reserve()
        #expect(table.lookup(token) == nil)
        #expect(table.count == 1)
        table.replace(token, with: 7)
        #expect(table.lookup(token) == 7)
        let unfilled = table.reserve()
        #expect(table.remove(unfilled) == nil)
        #expect(table.count == 1)
        let reused = table.insert(8)
        #expect(reused.rawValue & 0xFFFF_FFFF == unfilled.rawValue & 0xFFFF_FFFF, "the freed slot, taken again")
        #expect(table.lookup(unfilled) == nil)
        #expect(table.lookup(reused) == 8)
        #expect(table.count == 2)
    }

    @Test("a made-up token for a free slot's generation removes nothing, so the slot is not handed out twice")
    func freeSlotNotFreedTwice() {
        var table = SlotTable<Int>()
        let first = table.insert(1)
        table.remove(first)
        let madeUp = Token(UInt64(2) << 32 | (first.rawValue & 0xFFFF_FFFF))  // the free slot's next generation
        #expect(table.remove(madeUp) == nil)
        #expect(table.count == 0)
        let a = table.insert(2), b = table.insert(3)
        #expect(a.rawValue & 0xFFFF_FFFF != b.rawValue & 0xFFFF_FFFF)
        #expect(table.lookup(a) == 2 && table.lookup(b) == 3)
    }

    @Test("tokens of an empty table, and tokens never issued, find nothing")
    func neverIssued() {
        let table = SlotTable<Int>()
        #expect(table.lookup(Token(0)) == nil)
        #expect(table.lookup(Token(UInt64.max)) == nil)
    }
}
