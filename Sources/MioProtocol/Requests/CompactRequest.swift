#if canImport(Glibc)
import Glibc
#endif
import MioCore

/// The requests of an event loop's hot path (`register`, `reregister`,
/// `deregister`, `ping`) in their plain shape, decoded without json-c: a
/// flat object of the op's own keys, each once; integers of at most 18
/// digits, no sign, no leading zero; strings of printable ASCII without
/// escapes; `interest` a string or a non-empty array of them.
///
/// It only ever accepts: a line it does not take in full, or that would be
/// refused, is the strict decoder's (nil), so every reply, error and its
/// order stays the strict decoder's. What it accepts is what that decoder
/// decodes from the same line (Tests/ProtocolTests, the fuzz target).
enum CompactRequest {
    /// The request, or nil: the line goes to the strict decoder.
    static func decode(_ line: UnsafeRawBufferPointer, fdCount: Int) -> Request? {
        var scanner = Scanner(bytes: line)
        guard let fields = scanner.object() else { return nil }
        return request(from: fields, line: line, fdCount: fdCount)
    }

    /// The keys it knows, as bits of ``Fields/present``.
    fileprivate enum Key: UInt8 {
        case op = 1, id = 2, token = 4, interest = 8, mode = 16
    }

    /// The ops it decodes.
    fileprivate enum Op {
        case register, reregister, deregister, ping
    }

    /// The values found (each meant only when its bit is in `present`).
    fileprivate struct Fields {
        var present: UInt8 = 0
        var op = Op.ping
        var id: Value = .integer(0)
        var token: UInt64 = 0
        var interest: Interest?
        var mode = Mode.edge
    }

    fileprivate enum Value {
        case integer(UInt64)
        case string(Range<Int>)
    }

    @inline(__always)
    private static func request(from fields: Fields, line: UnsafeRawBufferPointer, fdCount: Int) -> Request? {
        guard fields.present & Key.op.rawValue != 0 else { return nil }
        let id: RequestID?
        if fields.present & Key.id.rawValue == 0 {
            id = nil
        } else {
            switch fields.id {
            case .integer(let value): id = .unsigned(value)
            case .string(let range): id = .string(String(decoding: UnsafeRawBufferPointer(rebasing: line[range]), as: UTF8.self))
            }
        }
        let has = fields.present & ~(Key.op.rawValue | Key.id.rawValue)
        let token = Token(fields.token)
        switch fields.op {
        case .register, .reregister:
            let required = Key.token.rawValue | Key.interest.rawValue
            guard has & required == required, has & ~(required | Key.mode.rawValue) == 0,
                  let interest = fields.interest else { return nil }
            if fields.op == .register {
                guard fdCount == 1 else { return nil }
                return Request(id: id, .register(token: token, interest: interest, mode: fields.mode))
            }
            guard fdCount == 0 else { return nil }
            return Request(id: id, .reregister(token: token, interest: interest, mode: fields.mode))
        case .deregister:
            guard fdCount == 0, has == Key.token.rawValue else { return nil }
            return Request(id: id, .deregister(token: token))
        case .ping:
            guard fdCount == 0, has == 0 else { return nil }
            return Request(id: id, .ping)
        }
    }
}

/// One pass over the line; every method returns nil (or false) as soon as
/// the line leaves the plain shape. The loops run on a local copy of the
/// position, kept in a register, and write it back once.
private struct Scanner {
    private let base: UnsafePointer<UInt8>
    private let end: Int
    var i = 0

    init(bytes: UnsafeRawBufferPointer) {
        // An empty line has no base address; any pointer will do, none is read.
        base = bytes.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? UnsafePointer(bitPattern: 1)!
        end = bytes.count
    }

    mutating func object() -> CompactRequest.Fields? {
        var fields = CompactRequest.Fields()
        skipSpace()
        guard take(UInt8(ascii: "{")) else { return nil }
        repeat {
            skipSpace()
            guard let key = key() else { return nil }
            skipSpace()
            guard take(UInt8(ascii: ":")) else { return nil }
            skipSpace()
            switch key {
            case .op:
                guard let value = opName() else { return nil }
                fields.op = value
            case .id:
                if let value = string() {
                    fields.id = .string(value)
                } else if let value = integer() {
                    fields.id = .integer(value)
                } else {
                    return nil
                }
            case .token:
                guard let value = integer() else { return nil }
                fields.token = value
            case .interest:
                guard let value = interest() else { return nil }
                fields.interest = value
            case .mode:
                guard let value = modeName() else { return nil }
                fields.mode = value
            }
            // A key twice: the strict decoder says what that means.
            guard fields.present & key.rawValue == 0 else { return nil }
            fields.present |= key.rawValue
            skipSpace()
        } while take(UInt8(ascii: ","))
        guard take(UInt8(ascii: "}")) else { return nil }
        skipSpace()
        return i == end ? fields : nil
    }

    // Keys and the names of ops, interests and modes are each one of a
    // few: told apart by a letter or two, then compared in place, quotes
    // and all, rather than read byte by byte first. Any other string (or
    // an escape in one) is nil: the line is the strict decoder's.

    /// One of the keys it knows.
    @inline(__always)
    private mutating func key() -> CompactRequest.Key? {
        guard i + 4 <= end, base[i] == UInt8(ascii: "\"") else { return nil }
        switch base[i + 1] {
        case UInt8(ascii: "o"): return quoted("op\"") ? .op : nil
        case UInt8(ascii: "i") where base[i + 2] == UInt8(ascii: "d"): return quoted("id\"") ? .id : nil
        case UInt8(ascii: "i"): return quoted("interest\"") ? .interest : nil
        case UInt8(ascii: "t"): return quoted("token\"") ? .token : nil
        case UInt8(ascii: "m"): return quoted("mode\"") ? .mode : nil
        default: return nil
        }
    }

    @inline(__always)
    private mutating func opName() -> CompactRequest.Op? {
        guard i + 6 <= end, base[i] == UInt8(ascii: "\"") else { return nil }
        switch base[i + 1] {
        case UInt8(ascii: "r") where base[i + 3] == UInt8(ascii: "g"): return quoted("register\"") ? .register : nil
        case UInt8(ascii: "r"): return quoted("reregister\"") ? .reregister : nil
        case UInt8(ascii: "d"): return quoted("deregister\"") ? .deregister : nil
        case UInt8(ascii: "p"): return quoted("ping\"") ? .ping : nil
        default: return nil
        }
    }

    @inline(__always)
    private mutating func interestName() -> Interest? {
        guard i + 10 <= end, base[i] == UInt8(ascii: "\"") else { return nil }
        switch base[i + 1] {
        case UInt8(ascii: "r"): return quoted("readable\"") ? .readable : nil
        case UInt8(ascii: "w"): return quoted("writable\"") ? .writable : nil
        case UInt8(ascii: "p"): return quoted("priority\"") ? .priority : nil
        default: return nil
        }
    }

    @inline(__always)
    private mutating func modeName() -> Mode? {
        guard i + 6 <= end, base[i] == UInt8(ascii: "\"") else { return nil }
        switch base[i + 1] {
        case UInt8(ascii: "e"): return quoted("edge\"") ? .edge : nil
        case UInt8(ascii: "o"): return quoted("oneshot\"") ? .oneshot : nil
        default: return nil
        }
    }

    /// Whether the bytes after the opening quote at `i` are `rest` (up to
    /// and with the closing quote); if so, moves past them.
    @inline(__always)
    private mutating func quoted(_ rest: StaticString) -> Bool {
        let count = rest.utf8CodeUnitCount
        guard i + 1 + count <= end, Self.isLiteral(at: base + i + 1, rest) else { return false }
        i += 1 + count
        return true
    }

    /// Whether the literal's bytes are at `bytes`. The keys and names here
    /// are at most 16 bytes: two overlapping loads a side compare them,
    /// where a call to `memcmp` costs several times that.
    @inline(__always)
    private static func isLiteral(at bytes: UnsafeRawPointer, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        let b = UnsafeRawPointer(literal.utf8Start)
        func same<Word: FixedWidthInteger>(_: Word.Type) -> Bool {
            let tail = n - MemoryLayout<Word>.size
            return bytes.loadUnaligned(as: Word.self) == b.loadUnaligned(as: Word.self)
                && bytes.loadUnaligned(fromByteOffset: tail, as: Word.self) == b.loadUnaligned(fromByteOffset: tail, as: Word.self)
        }
        switch n {
        case 8...16: return same(UInt64.self)
        case 4..<8: return same(UInt32.self)
        case 2..<4: return same(UInt16.self)
        case 1: return bytes.load(as: UInt8.self) == b.load(as: UInt8.self)
        case 0: return true
        default: return memcmp(bytes, b, n) == 0
        }
    }

    @inline(__always)
    private mutating func skipSpace() {
        var j = i
        while j < end {
            let c = base[j]
            guard c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D else { break }
            j += 1
        }
        i = j
    }

    @inline(__always)
    private mutating func take(_ c: UInt8) -> Bool {
        guard i < end, base[i] == c else { return false }
        i += 1
        return true
    }

    /// A string of printable ASCII, no escapes: the range between its quotes.
    /// The position moves only past a whole string: `"id"` tries an integer
    /// where a string failed, and must not find one inside it (`"1}`).
    private mutating func string() -> Range<Int>? {
        guard i < end, base[i] == UInt8(ascii: "\"") else { return nil }
        let start = i + 1
        var j = start
        while j < end {
            let c = base[j]
            if c == UInt8(ascii: "\"") {
                i = j + 1
                return start..<j
            }
            // One unsigned compare for 0x20...0x7E.
            guard c &- 0x20 < 0x5F, c != UInt8(ascii: "\\") else { return nil }
            j += 1
        }
        return nil
    }

    /// 1 to 18 digits, no leading zero, not followed by a fraction or exponent.
    @inline(__always)
    private mutating func integer() -> UInt64? {
        let start = i
        var j = i
        var value: UInt64 = 0
        while j < end {
            let digit = base[j] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            value = value &* 10 &+ UInt64(digit)
            j += 1
        }
        i = j
        let count = j - start
        guard count >= 1, count <= 18, count == 1 || base[start] != UInt8(ascii: "0") else { return nil }
        if j < end, base[j] == UInt8(ascii: ".") || base[j] == UInt8(ascii: "e") || base[j] == UInt8(ascii: "E") {
            return nil
        }
        return value
    }

    /// A known interest name, or a non-empty array of them.
    private mutating func interest() -> Interest? {
        if i < end, base[i] == UInt8(ascii: "\"") { return interestName() }
        guard take(UInt8(ascii: "[")) else { return nil }
        skipSpace()
        guard var result = interestName() else { return nil }
        skipSpace()
        while take(UInt8(ascii: ",")) {
            skipSpace()
            guard let next = interestName() else { return nil }
            result = result | next
            skipSpace()
        }
        return take(UInt8(ascii: "]")) ? result : nil
    }

}
