#if canImport(Glibc)
import Glibc
#endif

/// Writes a line of bounded length in place, then appends it in one go:
/// the event line and the short replies of the hot path, which would
/// otherwise cost an array append (a uniqueness and capacity check) per
/// piece and per digit.
public struct BoundedLine {
    /// The most any such line may take: an event line is at most 25 + 20 +
    /// 115 + 1 bytes, a token or removal reply with an integer id about 90.
    public static let capacity = 192

    private let start: UnsafeMutablePointer<UInt8>
    private var end: UnsafeMutablePointer<UInt8>

    fileprivate init(_ start: UnsafeMutablePointer<UInt8>) {
        self.start = start
        end = start
    }

    var count: Int { end - start }

    mutating func put(_ text: StaticString) {
        let n = text.utf8CodeUnitCount
        memcpy(end, text.utf8Start, n)
        end += n
    }

    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        memcpy(end, bytes.baseAddress!, bytes.count)
        end += bytes.count
    }

    mutating func put(byte: UInt8) {
        end.pointee = byte
        end += 1
    }

    /// Decimal, at most 20 digits.
    mutating func put(unsigned value: UInt64) {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        rest = value
        var index = digits - 1
        while index >= 0 {
            end[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
            index -= 1
        }
        end += digits
    }

    mutating func put(signed value: Int64) {
        if value < 0 { put(byte: UInt8(ascii: "-")) }
        put(unsigned: value.magnitude)
    }
}

extension JSONWriter {
    /// Appends what `body` writes: at most ``BoundedLine/capacity`` bytes.
    @inline(__always)
    mutating func appendBounded(_ body: (inout BoundedLine) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: BoundedLine.capacity) { scratch in
            var line = BoundedLine(scratch.baseAddress!)
            body(&line)
            assert(line.count <= BoundedLine.capacity)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<line.count]))
        }
    }
}
