/// A pass over a request line before json-c sees it, for what json-c's
/// strict mode lets through or cannot report:
/// - nesting deeper than ``maxDepth`` (the top-level object is depth 1);
/// - bare words other than `true`, `false`, `null` (json-c takes `NaN`, `Infinity`);
/// - single-quoted strings (json-c takes them even in strict mode);
/// - raw control characters inside strings;
/// - integer literals outside `-2^63 ... 2^64-1`, which json-c clamps
///   silently: the scan remembers that one was seen;
/// - a key or string with an escaped NUL (`"id\u0000"`): json-c cuts keys
///   short at the NUL (to `"id"`), so the scan remembers that one was seen,
///   and whether it was in a key.
struct JSONScanner {
    static let maxDepth = 8

    enum Outcome: Equatable {
        /// Fine to hand to json-c; `outOfRangeIntegers` literals on the line
        /// will be clamped by it; `nul` says where a NUL was seen.
        case ok(outOfRangeIntegers: Int, nul: NULFound)
        case invalid(String)
    }

    /// Whether a string on the line holds an escaped NUL, and if one is a key.
    enum NULFound: Equatable { case none, inValue, inKey }

    static func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        // json-c's own check lets overlong forms and surrogates through.
        guard isValidUTF8(bytes) else { return .invalid("invalid UTF-8") }
        var depth = 0
        var outOfRange = 0
        var nul = NULFound.none
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "\""):
                // Skip the string; json-c checks its escapes and UTF-8.
                i += 1
                var hasNUL = false
                while i < n, bytes[i] != UInt8(ascii: "\"") {
                    // JSON forbids raw control characters in strings; json-c lets them through.
                    if bytes[i] < 0x20 { return .invalid("a control character inside a string (escape it)") }
                    if bytes[i] == UInt8(ascii: "\\"), isNULEscape(bytes, at: i) { hasNUL = true }
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                i += 1
                if hasNUL { nul = isFollowedByColon(bytes, at: i) ? .inKey : (nul == .inKey ? .inKey : .inValue) }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maxDepth { return .invalid("nesting deeper than \(maxDepth)") }
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                i += 1
            case UInt8(ascii: "'"):
                return .invalid("single-quoted strings are not JSON")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = i
                var integer = true
                while i < n, isNumberByte(bytes[i]) {
                    if bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                        integer = false
                    }
                    i += 1
                }
                if integer, !isInRange(UnsafeRawBufferPointer(rebasing: bytes[start..<i])) {
                    outOfRange += 1
                }
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
                let start = i
                while i < n, isLetter(bytes[i]) { i += 1 }
                let word = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
                if !(equals(word, "true") || equals(word, "false") || equals(word, "null")) {
                    return .invalid("'\(String(decoding: word, as: UTF8.self))' is not a JSON value")
                }
            default:
                i += 1
            }
        }
        return .ok(outOfRangeIntegers: outOfRange, nul: nul)
    }

    /// Whether the escape at `i` (a backslash) is `\u0000`.
    private static func isNULEscape(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Bool {
        guard i + 5 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else { return false }
        return (2...5).allSatisfy { bytes[i + $0] == UInt8(ascii: "0") }
    }

    /// Whether the next byte after whitespace from `i` is `:` (the string
    /// just ended was a key).
    private static func isFollowedByColon(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Bool {
        var k = i
        while k < bytes.count, bytes[k] == 0x20 || bytes[k] == 0x09 || bytes[k] == 0x0A || bytes[k] == 0x0D { k += 1 }
        return k < bytes.count && bytes[k] == UInt8(ascii: ":")
    }

    private static func isNumberByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    }

    private static func isLetter(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
    }

    private static func equals(_ word: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        word.count == literal.utf8CodeUnitCount && word.elementsEqual(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates,
    /// nothing past U+10FFFF.
    static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF  // range of the second byte
            switch b0 {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return false
            }
            guard i + length <= n, bytes[i + 1] >= low, bytes[i + 1] <= high else { return false }
            for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return false }
            i += length
        }
        return true
    }

    /// Whether a decimal integer literal fits json-c's range,
    /// `-2^63 ... 2^64-1`, without being clamped.
    static func isInRange(_ literal: UnsafeRawBufferPointer) -> Bool {
        let negative = literal.first == UInt8(ascii: "-")
        let digits = literal.dropFirst(negative ? 1 : 0).drop { $0 == UInt8(ascii: "0") }
        let limit = negative ? "9223372036854775808" : "18446744073709551615"
        if digits.count != limit.utf8.count { return digits.count < limit.utf8.count }
        for (d, l) in zip(digits, limit.utf8) where d != l { return d < l }
        return true
    }
}
