/// Appends JSON text to a byte buffer: the hand-written formatter that keeps
/// Foundation and allocation off the event path.
public struct JSONWriter: ~Copyable {
    /// What has been written.
    public var buffer: ByteBuffer

    /// The flag texts of event lines, fetched once per writer.
    let readinessTexts = ReadinessTexts.shared

    public init(capacity: Int = 4096) {
        buffer = ByteBuffer(capacity: capacity)
    }

    /// A copy of what has been written.
    public var bytes: [UInt8] { buffer.array }

    @inlinable
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { buffer.append(contentsOf: $0) }
    }

    @inlinable
    public mutating func bool(_ value: Bool) {
        value ? raw("true") : raw("false")
    }

    @inlinable
    public mutating func unsigned(_ value: UInt64) {
        if value < 10 {
            buffer.append(UInt8(ascii: "0") &+ UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)  // 40 bytes ≥ 20 digits
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { scratch in
            while rest > 0 {
                scratch[count] = UInt8(ascii: "0") &+ UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(scratch[index]) }
        }
    }

    public mutating func signed(_ value: Int64) {
        if value < 0 {
            buffer.append(UInt8(ascii: "-"))
            unsigned(value.magnitude)
        } else {
            unsigned(UInt64(value))
        }
    }

    public mutating func double(_ value: Double) {
        buffer.append(contentsOf: "\(value)".utf8)
    }

    /// A JSON string, escaped: quotes, backslashes and control characters.
    public mutating func string(_ text: String) {
        buffer.append(UInt8(ascii: "\""))
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20, 0x7F:
                raw("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                buffer.append(hex[Int(c >> 4)])
                buffer.append(hex[Int(c & 0xF)])
            default: buffer.append(c)
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    /// `"key":` — keys are the protocol's own, never a client's.
    @inlinable
    public mutating func key(_ name: StaticString) {
        buffer.append(UInt8(ascii: "\""))
        raw(name)
        raw("\":")
    }

    @inlinable
    public mutating func comma() { buffer.append(UInt8(ascii: ",")) }

    public mutating func stringArray(_ items: [String]) {
        buffer.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { comma() }
            string(item)
        }
        buffer.append(UInt8(ascii: "]"))
    }
}
