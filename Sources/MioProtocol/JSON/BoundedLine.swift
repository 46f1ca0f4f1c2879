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

    /// Decimal, at most 20 digits: two digits per division, from a table.
    @inline(__always)
    mutating func put(unsigned value: UInt64) {
        let pairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
        let table = pairs.utf8Start
        var digits = 1
        var probe = value
        while probe >= 100 {
            probe /= 100
            digits += 2
        }
        if probe >= 10 { digits += 1 }
        var rest = value
        var index = digits
        while rest >= 100 {
            let pair = Int(truncatingIfNeeded: rest % 100) &* 2
            rest /= 100
            index -= 2
            end[index] = table[pair]
            end[index + 1] = table[pair + 1]
        }
        if rest >= 10 {
            let pair = Int(truncatingIfNeeded: rest) &* 2
            end[0] = table[pair]
            end[1] = table[pair + 1]
        } else {
            end[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest)
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
    /// Written straight into the buffer's spare room: no scratch copy, no
    /// generic `append(contentsOf:)`.
    @inline(__always)
    mutating func appendBounded(_ body: (inout BoundedLine) -> Void) {
        buffer.append(reserving: BoundedLine.capacity) { room in
            var line = BoundedLine(room)
            body(&line)
            return line.count
        }
    }
}
