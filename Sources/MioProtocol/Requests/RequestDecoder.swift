import CJSONC
import MioCore

/// Decodes one request line with json-c, strictly (docs/protocol.md, "Strict parsing"): type checks
/// before numbers are read, no coercion, no clamping, depth at most 8, and
/// nothing after the object but whitespace.
///
/// Errors come in the protocol's order: `bad_json`, `unknown_op`,
/// `bad_request` (fields, then the fd count), and the op's own are left to
/// the server. A key or a string the daemon reads that holds a NUL is
/// `bad_request`, never truncated (docs/protocol.md, "Passing file descriptors",
/// strict parsing).
public final class RequestDecoder {
    /// The largest `max_events` a `poll` may ask for.
    public static let maxPollEvents = 65536

    /// One tokener, reset for each line (json-c allocates one per new).
    private let tokener: UnsafeMutablePointer<json_tokener>?

    public init() {
        // json-c's own depth check is a backstop; the scan holds to 8.
        tokener = json_tokener_new_ex(Int32(JSONScanner.maxDepth + 2))
        if let tokener { json_tokener_set_flags(tokener, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8)) }
    }

    deinit {
        if let tokener { json_tokener_free(tokener) }
    }

    /// - Parameter fdCount: how many fds came with the line.
    public func decode(_ line: UnsafeRawBufferPointer, fdCount: Int) -> Result<Request, DecodeFailure> {
        // The hot requests in their plain shape skip json-c; the rest, and
        // every line that would be refused, take the strict path.
        if let request = CompactRequest.decode(line, fdCount: fdCount) { return .success(request) }
        return decodeStrictly(line, fdCount: fdCount)
    }

    /// The json-c path alone (what ``decode(_:fdCount:)`` falls back to),
    /// for tests and the fuzz target to hold the compact path to.
    public func decodeStrictly(_ line: UnsafeRawBufferPointer, fdCount: Int) -> Result<Request, DecodeFailure> {
        let outOfRangeIntegers: Int
        let nul: JSONScanner.NULFound
        switch JSONScanner.scan(line) {
        case .invalid(let why): return .failure(DecodeFailure(id: nil, error: ProtocolError(.badJSON, "invalid JSON: \(why)")))
        case .ok(let count, let found): (outOfRangeIntegers, nul) = (count, found)
        }
        guard let tokener else {
            return .failure(DecodeFailure(id: nil, error: ProtocolError(.internal, "out of memory")))
        }
        json_tokener_reset(tokener)
        let base = line.baseAddress?.assumingMemoryBound(to: CChar.self)
        let object = json_tokener_parse_ex(tokener, base, Int32(line.count))
        let status = json_tokener_get_error(tokener)
        defer { if let object { json_object_put(object) } }
        if status != json_tokener_success {
            let why = status == json_tokener_continue ? "the line ends inside a value" : String(cString: json_tokener_error_desc(status))
            return .failure(DecodeFailure(id: nil, error: ProtocolError(.badJSON, "invalid JSON: \(why)")))
        }
        let end = json_tokener_get_parse_end(tokener)
        if line[end...].contains(where: { !isJSONWhitespace($0) }) {
            return .failure(DecodeFailure(id: nil, error: ProtocolError(.badJSON, "invalid JSON: text after the object")))
        }
        guard let object, json_object_get_type(object) == json_type_object else {
            return .failure(DecodeFailure(id: nil, error: ProtocolError(.badRequest, "a request is a JSON object")))
        }
        var fields = Fields(object: object, outOfRangeIntegers: outOfRangeIntegers)
        switch nul {
        case .none:
            return fields.decodeRequest(fdCount: fdCount)
        case .inKey:
            // json-c cuts a key at its NUL ("id\u0000" would read as "id"):
            // which key was meant cannot be told, so not even the id is echoed.
            return .failure(DecodeFailure(id: nil, error: ProtocolError(.badRequest, "a key contains U+0000 (NUL); keys are taken exactly, never cut short")))
        case .inValue:
            return .failure(DecodeFailure(id: fields.readableID, error: ProtocolError(.badRequest, "a string contains U+0000 (NUL)")))
        }
    }

    private func isJSONWhitespace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D
    }
}
