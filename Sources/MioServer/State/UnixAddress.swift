/// An `AF_UNIX` address, compared by family and path (trailing NULs
/// ignored); unnamed sockets have none and never compare equal.
struct UnixAddress: Equatable {
    let bytes: ArraySlice<UInt8>

    init?(_ raw: [UInt8]) {
        let pathStart = 2  // sa_family_t
        guard raw.count > pathStart else { return nil }
        var end = raw.count
        if raw[pathStart] != 0 {  // a path, not an abstract name: stop at its NUL
            end = raw[pathStart...].firstIndex(of: 0) ?? raw.count
        }
        guard end > pathStart else { return nil }
        bytes = raw[pathStart..<end]
    }
}
