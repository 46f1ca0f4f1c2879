import MioProtocol

/// One request line through the strict decoder, with 0–2 fds claimed.
/// It must never crash, and what it accepts must hold to the protocol.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let fdCount = Int(data[0] % 3)
    let line = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let decoder = RequestDecoder()
    let decoded = decoder.decode(line, fdCount: fdCount)
    // The compact path decides nothing the strict one would decide otherwise.
    precondition(decoded == decoder.decodeStrictly(line, fdCount: fdCount), "the compact path differs from the strict one")
    switch decoded {
    case .success(let request):
        // Only register takes an fd, and then exactly one.
        precondition(request.operation.takesFd ? fdCount == 1 : fdCount == 0, "fd count accepted wrongly")
        // Whatever was accepted is valid JSON that a fresh parse also takes.
        precondition(JSONValue.parse(line) != nil, "accepted a line that is not JSON")
    case .failure(let failure):
        precondition(!failure.error.message.isEmpty)
    }
    return 0
}
