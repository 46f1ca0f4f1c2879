#if canImport(Glibc)
import Glibc
#endif

/// The bytes of the request lines a framer handed out, back to back in one
/// buffer: one allocation for many lines instead of an array per line. A
/// line's bytes stay where they are until the owner empties the store, and
/// the store grows only when a line is added, so a line taken from the
/// framer can be read in place until the framer is given more input.
final class LineStore {
    /// What an emptied store keeps; a burst of lines can make it larger.
    private static let keptCapacity = 4096

    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private var count = 0

    init() {
        capacity = Self.keptCapacity
        base = .allocate(byteCount: capacity, alignment: 1)
    }

    deinit { base.deallocate() }

    /// Copies `bytes` to the end; returns where they are.
    func append(_ bytes: UnsafeRawBufferPointer) -> Range<Int> {
        let start = count
        if start + bytes.count > capacity {
            let grown = Swift.max(capacity * 2, start + bytes.count)
            let moved = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 1)
            moved.copyMemory(from: base, byteCount: start)
            base.deallocate()
            base = moved
            capacity = grown
        }
        if let source = bytes.baseAddress { (base + start).copyMemory(from: source, byteCount: bytes.count) }
        count = start + bytes.count
        return start..<count
    }

    /// The bytes of a line `append` placed.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "a line range the store did not give")
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// Forgets every line (their ranges mean nothing any more).
    func removeAll() {
        count = 0
        guard capacity > Self.keptCapacity * 16 else { return }
        base.deallocate()
        capacity = Self.keptCapacity
        base = .allocate(byteCount: capacity, alignment: 1)
    }
}
