import CMioLinux

/// Buffers to read a stream socket with one `recvmmsg`: a read and the
/// next. An edge-triggered socket is read until it says `EAGAIN`; when the
/// second read finds nothing, one syscall has done both, so a short request
/// costs one read, not two. Allocated once, reused for every read.
package final class SocketReads {
    /// Reads one call makes: the second is mostly there to hear `EAGAIN`.
    package static let perCall = 2
    private let slots: UnsafeMutablePointer<cmio_receive_slot>
    private let bytes: UnsafeMutableRawBufferPointer
    private let fds: UnsafeMutableBufferPointer<Int32>
    private let bytesPerRead: Int

    package init(bytesPerRead: Int) {
        self.bytesPerRead = bytesPerRead
        slots = .allocate(capacity: Self.perCall)
        bytes = .allocate(byteCount: bytesPerRead * Self.perCall, alignment: 8)
        fds = .allocate(capacity: Int(CMIO_SCM_MAX_FD) * Self.perCall)
        for slot in 0..<Self.perCall {
            slots[slot] = cmio_receive_slot(buf: bytes.baseAddress! + slot * bytesPerRead, len: bytesPerRead,
                                            fds: fds.baseAddress! + slot * Int(CMIO_SCM_MAX_FD),
                                            received: 0, nfds: 0, truncated: 0)
        }
    }

    deinit {
        slots.deallocate()
        bytes.deallocate()
        fds.deallocate()
    }

    /// Reads `fd`: how many reads came (each with its own bytes and fds, in
    /// order), and whether the socket had nothing more after them.
    package func read(_ fd: Int32) throws(MioError) -> IOResult<(filled: Int, socketEmpty: Bool)> {
        try Sys.receiveMany(fd, into: slots, count: Self.perCall)
    }

    /// The bytes of read `slot` (none: the end of input).
    package func bytes(of slot: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: slots[slot].buf, count: slots[slot].received)
    }

    /// The fds read `slot` brought, now the caller's.
    package func fds(of slot: Int) -> [Int32] {
        Array(UnsafeBufferPointer(start: slots[slot].fds, count: Int(slots[slot].nfds)))
    }

    /// The kernel dropped fds of read `slot` (`MSG_CTRUNC`).
    package func truncated(_ slot: Int) -> Bool { slots[slot].truncated != 0 }
}
