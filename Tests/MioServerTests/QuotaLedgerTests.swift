import Testing
@testable import MioServer

@Suite("The quota ledger: counts per uid and in total, the limits' messages")
struct QuotaLedgerTests {
    @Test("a uid at zero is dropped; totals follow")
    func counts() {
        var count = PerUIDCount()
        count.increment(5)
        count.increment(5)
        count.increment(6)
        #expect(count[5] == 2 && count.total == 3)
        count.decrement(5)
        count.decrement(5)
        count.decrement(5)  // below zero: ignored
        #expect(count[5] == 0 && count.total == 1)
    }

    @Test("uids taking turns keep their own counts (the last one is kept beside the table)")
    func interleaved() {
        var count = PerUIDCount()
        var expected: [UInt32: Int] = [:]
        // A fixed walk over uids 0...3: runs of one uid, switches, decrements to zero and below.
        var state: UInt32 = 7
        for _ in 0..<2000 {
            state = state &* 1103515245 &+ 12345
            let uid = (state >> 16) % 4
            if (state >> 8) % 3 == 0 {
                count.decrement(uid)
                if let n = expected[uid], n > 0 { expected[uid] = n - 1 }
            } else {
                count.increment(uid)
                expected[uid, default: 0] += 1
            }
            for other in UInt32(0)...4 { #expect(count[other] == expected[other, default: 0]) }
            #expect(count.total == expected.values.reduce(0, +))
        }
    }

    @Test("the open-file limit is shared out; a limit of 64 still leaves registrations")
    func budget() {
        for limit in [64, 128, 1024, 20000, 65536] {
            let b = OpenFileBudget(openFileLimit: limit)
            #expect(b.ownFds + b.reserve + b.fdsInFlight + b.connections + b.registrations <= limit)
            #expect(b.registrations >= 4, "\(limit)")
        }
        #expect(OpenFileBudget(openFileLimit: 64).registrations == 16)
    }

    @Test("limits refuse at the cap, naming it; every change marks the status")
    func limits() {
        var configuration = ServerConfiguration()
        configuration.maxConnectionsPerUID = 1
        configuration.maxRegistrationsPerUID = 2
        configuration.openFiles = OpenFileBudget(openFileLimit: 1024)
        let ledger = QuotaLedger(limits: configuration)
        ledger.statusChanged = false
        #expect(ledger.refusalOfConnection(uid: 1) == nil)
        ledger.add(.connection, uid: 1)
        #expect(ledger.statusChanged)
        #expect(ledger.refusalOfConnection(uid: 1)?.code == .limitExceeded)
        ledger.add(.registration(ownFd: false), uid: 1)
        ledger.add(.registration(ownFd: true), uid: 1)
        #expect(ledger.refusalOfRegistration(uid: 1)?.message.contains("2 registrations") == true)
        ledger.add(.registration(ownFd: false), uid: 2)
        #expect(ledger.refusalOfRegistration(uid: 3) == nil)
        #expect(ledger.registrationCount == 3 && ledger.clientFdCount == 2)
        for _ in 3..<configuration.openFiles.registrations { ledger.add(.registration(ownFd: false), uid: 4) }
        #expect(ledger.refusalOfRegistration(uid: 3)?.message.contains("open-file limit of 1024") == true)
    }
}
