#if canImport(Glibc)
import Glibc
#endif
import CMioLinux
import MioCore
import MioSystem
import MioProtocol

/// The consumer's side of ring delivery (docs/protocol.md, "Ring
/// delivery"): the memfd a `hello` reply brought, checked and mapped, and
/// its doorbell. Records are taken with the memory ordering the document
/// prescribes (the daemon's own CMioLinux atomics, on the naturally aligned
/// header fields), records of removed tokens are dropped, and the sleeping
/// flag is raised and lowered around each wait. Used under the
/// connection's lock only; nothing here blocks.
final class RingReader {
    static let magic: UInt32 = 0x474E_4952  // "RING"
    static let version: UInt32 = 1
    static let recordSize = 16
    static let entriesRange = 64...65536
    /// The flags a record may carry (readable … priority).
    private static let flagMask: UInt32 = 0x3F
    /// Records taken in one go: a full ring is not copied whole into the queue.
    static let batch = 256

    /// Byte offsets of the header's fields.
    private enum Field {
        static let magic = 0, version = 4, entries = 8, recordSize = 12, recordsOffset = 16
        static let head = 64, overflow = 72, tail = 128, sleeping = 136
        static let end = 140
    }

    let entries: Int
    /// The read end of the daemon's doorbell pipe, non-blocking.
    let doorbell: Int32
    private var memory: UnsafeMutableRawPointer?
    private let size: Int
    private let recordsOffset: Int
    /// What we have consumed (and published as `tail`).
    private var consumed: UInt64
    /// `overflow` was seen and cleared: the refill newline is owed to the daemon.
    var refillOwed = false
    /// Waits in progress (``arm()`` without its ``disarm()``): the flag
    /// comes down when the last of them ends.
    private var sleepers = 0
    /// Tokens removed by a reply: their records below `before` are stale.
    private var stale: [(token: UInt64, before: UInt64)] = []

    /// Maps the ring; owns both fds from here on (closed on failure too).
    /// `entries`: what the reply announced.
    init(memfd: Int32, doorbell: Int32, entries announced: Int?) throws(MioClientError) {
        self.doorbell = doorbell
        let mapped: (memory: UnsafeMutableRawPointer, size: Int)?
        do throws(MioError) {
            mapped = try Self.map(memfd, doorbell: doorbell)
        } catch {
            Sys.close(doorbell)
            throw .system(error)
        }
        guard let (memory, size) = mapped else {
            Sys.close(doorbell)
            throw .protocolViolation("the ring hello reply's fds are not a sealed memfd and a pipe")
        }
        func field(_ offset: Int) -> UInt32 { UInt32(littleEndian: memory.load(fromByteOffset: offset, as: UInt32.self)) }
        let entries = Int(field(Field.entries)), offset = Int(field(Field.recordsOffset))
        self.memory = memory
        self.size = size
        self.entries = entries
        self.recordsOffset = offset
        consumed = UInt64(littleEndian: cmio_load_acquire_u64(memory + Field.tail))
        // The header says what the document says a ring is; its records end inside the memfd.
        let valid = field(Field.magic) == Self.magic && field(Field.version) == Self.version
            && Int(field(Field.recordSize)) == Self.recordSize && Self.entriesRange.contains(entries) && entries.nonzeroBitCount == 1
            && (announced == nil || announced == entries)
            && offset >= Field.end && offset % Self.recordSize == 0 && offset + entries * Self.recordSize <= size
        // Records may be there already (a persistent session's pending readiness).
        guard valid, loadHead() &- consumed <= UInt64(entries) else {
            close()
            throw .protocolViolation("the ring's header is not the one docs/protocol.md describes")
        }
    }

    /// The memfd mapped (and closed: the mapping keeps the memory), when it
    /// is one that cannot shrink under the mapping and the doorbell is a
    /// pipe (made non-blocking: reading it never waits); nil when not.
    private static func map(_ memfd: Int32, doorbell: Int32) throws(MioError) -> (UnsafeMutableRawPointer, Int)? {
        defer { Sys.close(memfd) }
        let info = try Sys.fstat(memfd)
        let size = Int(info.st_size)
        // At most the biggest ring rounded up to a large page: a bogus
        // memfd does not get us to map gigabytes.
        let largest = 256 + entriesRange.upperBound * recordSize + 65536
        guard info.st_mode & S_IFMT == S_IFREG, (Field.end...largest).contains(size), try Sys.cannotShrink(memfd),
              try Sys.fstat(doorbell).st_mode & S_IFMT == S_IFIFO else { return nil }
        try Sys.setNonBlocking(doorbell)
        return (try Sys.mapShared(memfd, size: size), size)
    }

    deinit { close() }

    /// Unmaps the ring and closes the doorbell. Idempotent.
    func close() {
        guard let memory else { return }
        Sys.unmap(memory, size: size)
        Sys.close(doorbell)
        self.memory = nil
    }

    var isOpen: Bool { memory != nil }

    private func loadHead() -> UInt64 {
        UInt64(littleEndian: cmio_load_acquire_u64(memory! + Field.head))
    }

    private var overflowSet: Bool { cmio_load_acquire_u32(memory! + Field.overflow) != 0 }

    /// Up to ``batch`` unread records, in the ring's order, to `deliver`;
    /// then `tail` published, and, once up to `head`, `overflow` looked at
    /// (set: cleared, and ``refillOwed``). Returns false when the daemon
    /// broke the protocol (`head` more than a ring ahead of `tail`).
    func take(_ deliver: (ReadinessEvent) -> Void) -> Bool {
        guard let memory else { return true }
        let head = loadHead()
        guard head &- consumed <= UInt64(entries) else { return false }
        let end = min(head, consumed + UInt64(Self.batch))
        let mask = UInt64(entries - 1)
        var position = consumed
        while position != end {
            let record = memory + recordsOffset + Int(position & mask) * Self.recordSize
            let token = UInt64(littleEndian: record.load(as: UInt64.self))
            let flags = UInt32(littleEndian: record.load(fromByteOffset: 8, as: UInt32.self)) & Self.flagMask
            if stale.isEmpty || !isStale(token, at: position) {
                deliver(ReadinessEvent(token: Token(token), readiness: Readiness(rawValue: UInt8(flags))))
            }
            position += 1
        }
        if position != consumed {
            consumed = position
            // Release: our reads of those records come before the daemon reuses them.
            cmio_store_release_u64(memory + Field.tail, position.littleEndian)
            if !stale.isEmpty { stale.removeAll { $0.before <= position } }
        }
        if position == head, overflowSet {
            cmio_store_relaxed_u32(memory + Field.overflow, 0)
            refillOwed = true
        }
        return true
    }

    private func isStale(_ token: UInt64, at position: UInt64) -> Bool {
        stale.contains { $0.token == token && position < $0.before }
    }

    /// Whether records are there that were not taken.
    var hasUnread: Bool { memory != nil && loadHead() != consumed }

    /// Whether a take now would find something (or a refill is owed).
    var hasWork: Bool {
        guard memory != nil else { return false }
        return refillOwed || loadHead() != consumed || overflowSet
    }

    /// About to sleep: `sleeping` raised, the full fence, and a second look.
    /// False (and the flag as it was) when there is work after all. Pairs
    /// with the daemon's fence between publishing `head` and reading
    /// `sleeping`: either we see its records now, or it sees us asleep.
    func arm() -> Bool {
        guard let memory else { return false }
        cmio_store_relaxed_u32(memory + Field.sleeping, 1)
        cmio_fence_seq_cst()
        if hasWork {
            if sleepers == 0 { cmio_store_relaxed_u32(memory + Field.sleeping, 0) }
            return false
        }
        sleepers += 1
        return true
    }

    /// A wait that ``arm()`` began has ended.
    func disarm() {
        guard let memory else { return }
        sleepers -= 1
        if sleepers == 0 { cmio_store_relaxed_u32(memory + Field.sleeping, 0) }
    }

    /// The doorbell was readable: what it holds is read (any number of
    /// bytes; one read, and a byte left over only makes the next wait
    /// return at once).
    func clearDoorbell() {
        guard memory != nil else { return }
        var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        _ = try? Sys.read(doorbell, into: &bytes, count: MemoryLayout.size(ofValue: bytes))
    }

    /// A reply removed `token` when the producer was at `ringHead`: its
    /// unread records below that are stale. One request at a time, so the
    /// token is not registered again before this runs: the current `head`
    /// bounds them too.
    func tokenRemoved(_ token: Token, ringHead: UInt64) {
        guard memory != nil else { return }
        let before = min(ringHead, loadHead())
        guard before > consumed else { return }
        if let index = stale.firstIndex(where: { $0.token == token.rawValue }) {
            stale[index].before = max(stale[index].before, before)
        } else {
            stale.append((token.rawValue, before))
        }
    }
}
