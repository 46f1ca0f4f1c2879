/// The stdlib's `withUnsafe…` helpers are `rethrows`; a typed-throws closure
/// passed to one crashes the Swift 6.3 compiler. These carry the typed error
/// out through a `Result` instead: the one place that workaround lives.
/// Inlinable, so each caller gets it specialised (no generic call on the
/// event path).
extension Array {
    @inlinable @inline(__always)
    package func withUnsafeBytesTyped<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { raw in Result { () throws(E) -> R in try body(raw) } }
        return try result.get()
    }

    @inlinable @inline(__always)
    package mutating func withUnsafeMutableBufferPointerTyped<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R {
        let result: Result<R, E> = withUnsafeMutableBufferPointer { buffer in
            Result { () throws(E) -> R in try body(buffer) }
        }
        return try result.get()
    }
}
