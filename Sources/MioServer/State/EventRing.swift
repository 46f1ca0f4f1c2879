#if canImport(Glibc)
import Glibc
#endif
import CMioLinux
import MioCore
import MioSystem
import MioProtocol

/// The shared-memory event ring of a connection with ring delivery
/// (docs/protocol.md, "Ring delivery"): the daemon is its only producer,
/// the client its only consumer. The daemon's position is its own, never
/// read back; of what the client can write it reads only `tail` and
/// `sleeping`, and no value there can make it write outside the records,
/// wait, or loop.
final class EventRing {
    static let headerSize = 256
    static let recordSize = 16
    static let magic: UInt32 = 0x474E_4952  // "RING"
    static let version: UInt32 = 1
    static let defaultEntries = 4096
    static let entriesRange = 64...65536

    /// Byte offsets of the header's fields.
    private enum Field {
        static let magic = 0, version = 4, entries = 8, recordSize = 12, recordsOffset = 16
        static let head = 64, overflow = 72, tail = 128, sleeping = 136
    }

    let entries: Int
    private let memory: UnsafeMutableRawPointer
    private let size: Int
    /// The daemon's end of the doorbell: the write end of a pipe whose read
    /// end the client has. Not an eventfd: the client would share its open
    /// file description, and could clear `O_NONBLOCK` on it (and fill the
    /// counter) to make the daemon's write block.
    private let doorbell: Int32
    /// Records written so far: the producer's position, kept here.
    private(set) var head: UInt64 = 0

    /// The ring, and the fds that go to the client beside the `hello`
    /// reply: the memfd and the doorbell's read end.
    static func make(entries: Int) throws(MioError) -> (ring: EventRing, memfd: Int32, doorbell: Int32) {
        let page = Sys.pageSize
        let size = (headerSize + entries * recordSize + page - 1) / page * page
        let memfd = try Sys.sealedMemory(named: "mio-daemon-ring", size: size)
        let memory: UnsafeMutableRawPointer
        let doorbell: Int32
        let copy: Int32
        do throws(MioError) {
            memory = try Sys.mapShared(memfd, size: size)
        } catch {
            Sys.close(memfd)
            throw error
        }
        do throws(MioError) {
            (copy, doorbell) = try Sys.pipe(flags: O_NONBLOCK)
        } catch {
            Sys.unmap(memory, size: size)
            Sys.close(memfd)
            throw error
        }
        let ring = EventRing(entries: entries, memory: memory, size: size, doorbell: doorbell)
        return (ring, memfd, copy)
    }

    private init(entries: Int, memory: UnsafeMutableRawPointer, size: Int, doorbell: Int32) {
        self.entries = entries
        self.memory = memory
        self.size = size
        self.doorbell = doorbell
        memory.storeBytes(of: Self.magic.littleEndian, toByteOffset: Field.magic, as: UInt32.self)
        memory.storeBytes(of: Self.version.littleEndian, toByteOffset: Field.version, as: UInt32.self)
        memory.storeBytes(of: UInt32(entries).littleEndian, toByteOffset: Field.entries, as: UInt32.self)
        memory.storeBytes(of: UInt32(Self.recordSize).littleEndian, toByteOffset: Field.recordSize, as: UInt32.self)
        memory.storeBytes(of: UInt32(Self.headerSize).littleEndian, toByteOffset: Field.recordsOffset, as: UInt32.self)
    }

    deinit {
        Sys.unmap(memory, size: size)
        Sys.close(doorbell)
    }

    /// Moves what `session` has pending into the ring, as much as fits;
    /// what does not stays coalesced there, and `overflow` tells the
    /// consumer to ask for more. Rings the doorbell if the consumer sleeps.
    /// Returns how many records were written.
    func deliver(from session: Session) -> Int {
        let tail = UInt64(littleEndian: cmio_load_acquire_u64(memory + Field.tail))
        let used = head &- tail
        // A tail past the head, or more than a ring behind it, is no
        // honest consumer's: the ring counts as full.
        let free = used <= UInt64(entries) ? entries - Int(used) : 0
        var written = 0
        if free > 0 {
            let mask = UInt64(entries - 1)
            written = session.takePending(limit: free) { event in
                let record = memory + Self.headerSize + Int(head & mask) * Self.recordSize
                record.storeBytes(of: event.token.rawValue.littleEndian, toByteOffset: 0, as: UInt64.self)
                record.storeBytes(of: UInt32(event.readiness.rawValue).littleEndian, toByteOffset: 8, as: UInt32.self)
                record.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
                head &+= 1
            }
            if written > 0 { cmio_store_release_u64(memory + Field.head, head.littleEndian) }
        }
        let leftOver = session.hasPending
        if leftOver { cmio_store_release_u32(memory + Field.overflow, UInt32(1).littleEndian) }
        if written > 0 || leftOver {
            cmio_fence_seq_cst()
            if cmio_load_relaxed_u32(memory + Field.sleeping) != 0 { ring() }
        }
        return written
    }

    private func ring() {
        var byte: UInt8 = 1
        _ = try? Sys.write(doorbell, from: &byte, count: 1)  // a full pipe still wakes the consumer
    }
}
