#if canImport(Glibc)
import Glibc
#endif
/// One line of input, with the fds the attachment rule gave it.
public struct FramedLine {
    public enum Content: Equatable {
        /// A request line, without its `\n` or `\r\n`: where its bytes are
        /// in the framer's store (``LineFramer/bytes(of:)``).
        case request(Range<Int>)
        /// An empty line, or one of only spaces and tabs.
        case blank
        /// A line longer than the maximum, already discarded.
        case tooLong
    }

    public var content: Content
    /// The fds that came with the line. Ownership passes to whoever takes the line.
    public var fds: LineFds
    /// Fds that came for this line beyond what it keeps: they were closed at
    /// once (a line keeps at most one recvmsg's worth), but count toward
    /// the "several fds" error.
    public var droppedFdCount: Int
    /// The receiver refused this line's fds while it was unfinished (its fd
    /// budget was spent): they were closed, and the line must be refused.
    public var fdsRefused = false

    public var fdCount: Int { fds.count + droppedFdCount }
}

/// Cuts a byte stream into lines and attaches fds to them (docs/protocol.md, "Connecting and framing", "Passing file descriptors").
///
/// The fds returned by one `recvmsg()` belong to the last line that begins
/// within that call's bytes, or, when none begins there, to the line that
/// runs through them. Lines longer than `maxLine` bytes (not counting the
/// terminator) are discarded up to the next `\n`.
public struct LineFramer {
    public let maxLine: Int
    /// Closes an fd the framer cannot keep. Set by the owner.
    private let dispose: (Int32) -> Void

    /// The bytes of the line in progress (never more than `maxLine + 1`).
    private var partial: [UInt8] = []
    /// The bytes of the request lines handed out since the owner last said
    /// it holds none (``forgetLines()``). A class: a copy of the framer
    /// shares it, so a framer has one owner (a connection, a test).
    private let lineStore = LineStore()
    /// The line in progress is too long: its bytes are being dropped.
    private var discarding = false
    /// The next byte starts a new line.
    private var atLineStart = true
    private var partialFds = LineFds()
    private var partialDroppedFds = 0
    private var partialFdsRefused = false

    public init(maxLine: Int, dispose: @escaping (Int32) -> Void) {
        self.maxLine = maxLine
        self.dispose = dispose
    }

    /// The bytes of a request line this framer handed out: valid until the
    /// next ``push(_:fds:into:)`` or ``forgetLines()``.
    public func bytes(of range: Range<Int>) -> UnsafeRawBufferPointer {
        lineStore.bytes(range)
    }

    /// The owner holds none of the lines handed out so far: their bytes go.
    public mutating func forgetLines() {
        lineStore.removeAll()
    }

    /// Whether a line is in progress (bytes received without their `\n`).
    public var hasPartialLine: Bool { !atLineStart }

    /// Fds held for the line not yet ended.
    public var heldFdCount: Int { partialFds.count }

    /// Closes the fds held for the unfinished line, and marks it: once it
    /// ends it comes out with `fdsRefused`.
    public mutating func refuseHeldFds() {
        guard !partialFds.isEmpty else { return }
        for fd in partialFds { dispose(fd) }
        partialDroppedFds += partialFds.count
        partialFds = []
        partialFdsRefused = true
    }

    /// Takes the bytes and fds of one `recvmsg()` and appends the complete
    /// lines to `lines`, in order.
    public mutating func push(_ chunk: UnsafeRawBufferPointer, fds: LineFds, into lines: inout [FramedLine]) {
        if pushedWholeLine(chunk, fds: fds, into: &lines) { return }
        // Where the fds go: the start offset of the last line beginning in
        // this chunk, or nil for the line already in progress.
        var target: Int? = nil
        if !fds.isEmpty {
            if atLineStart && !chunk.isEmpty { target = 0 }
            // After the last `\n` before the chunk's final byte, found
            // forward with memchr (a byte loop cost ~4 instructions a byte).
            if let base = chunk.baseAddress {
                let limit = chunk.count - 1
                var from = 0
                while from < limit, let newline = memchr(base + from, 0x0A, limit - from) {
                    from = UnsafeRawPointer(newline) - base + 1
                    target = from
                }
            }
            if chunk.isEmpty { target = nil }
        }
        var pendingFds = fds
        if target == nil { attachToPartial(&pendingFds) }

        var lineStart = 0
        var index = 0
        while index < chunk.count {
            if atLineStart, lineStart == target {
                attachToPartial(&pendingFds)
            }
            atLineStart = false
            // Find the end of this line within the chunk.
            let end = memchr(chunk.baseAddress! + index, 0x0A, chunk.count - index)
                .map { UnsafeRawPointer($0) - chunk.baseAddress! } ?? chunk.count
            let bytes = UnsafeRawBufferPointer(rebasing: chunk[index..<end])
            if end < chunk.count, partial.isEmpty, !discarding {
                // The whole line is in this chunk (the common case): made
                // straight from it, without the partial buffer.
                lines.append(finishLine(content(of: bytes)))
                index = end + 1
                lineStart = index
                atLineStart = true
                continue
            }
            append(bytes)
            if end < chunk.count {
                lines.append(finishLine(discarding ? .tooLong : partial.withUnsafeBytes { content(of: $0) }))
                index = end + 1
                lineStart = index
                atLineStart = true
            } else {
                index = end
            }
        }
        // Fds for a line that did not start (cannot happen: target is
        // always the start of a line in the chunk); never leak them.
        for fd in pendingFds { dispose(fd) }
    }

    /// The common case, taken apart from the rest: nothing in progress, and
    /// the chunk is one whole line. It is the only line that begins in the
    /// chunk, so the fds are its own. False (nothing done) for anything else.
    @inline(__always)
    private mutating func pushedWholeLine(_ chunk: UnsafeRawBufferPointer, fds: LineFds, into lines: inout [FramedLine]) -> Bool {
        guard atLineStart, !discarding, partial.isEmpty, partialFds.isEmpty, partialDroppedFds == 0, !partialFdsRefused,
              let base = chunk.baseAddress, chunk.count > 0, chunk[chunk.count - 1] == 0x0A,
              memchr(base, 0x0A, chunk.count - 1) == nil else { return false }
        lines.append(FramedLine(content: content(of: UnsafeRawBufferPointer(start: base, count: chunk.count - 1)),
                                fds: fds, droppedFdCount: 0))
        return true
    }

    /// End of input: the unterminated last line is discarded; returns how
    /// many fds were closed with it.
    @discardableResult
    public mutating func finish() -> Int {
        let count = partialFds.count
        for fd in partialFds { dispose(fd) }
        partialFds = []
        partialDroppedFds = 0
        partialFdsRefused = false
        partial = []
        discarding = false
        atLineStart = true
        return count
    }

    /// Gives `fds` to the line in progress. A line keeps the fds of one
    /// `recvmsg()`; later ones are closed at once and only counted.
    private mutating func attachToPartial(_ fds: inout LineFds) {
        if partialFds.isEmpty {
            partialFds = fds
        } else {
            for fd in fds { dispose(fd) }
            partialDroppedFds += fds.count
        }
        fds = []
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if discarding { return }
        // One byte of slack for the `\r` of a `\r\n` ending.
        if partial.count + bytes.count > maxLine + 1 {
            discarding = true
            partial = []
            return
        }
        partial.append(contentsOf: bytes)
    }

    /// A line's bytes (without its `\n`) as what it is: one `\r` before
    /// the `\n` is not part of it.
    private func content(of bytes: UnsafeRawBufferPointer) -> FramedLine.Content {
        var count = bytes.count
        if count > 0, bytes[count - 1] == 0x0D { count -= 1 }
        let line = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
        if count > maxLine { return .tooLong }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return .blank }
        return .request(lineStore.append(line))
    }

    /// The line ended: it leaves with the fds held for it.
    private mutating func finishLine(_ content: FramedLine.Content) -> FramedLine {
        defer {
            if !partial.isEmpty { partial.removeAll(keepingCapacity: partial.capacity <= 4096) }
            partialFds = []
            partialDroppedFds = 0
            partialFdsRefused = false
            discarding = false
        }
        return FramedLine(content: content, fds: partialFds, droppedFdCount: partialDroppedFds, fdsRefused: partialFdsRefused)
    }
}
