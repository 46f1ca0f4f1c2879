/// The fds that came with a line. Nearly every line carries none or one
/// (a request and its fd go in one `sendmsg`), so those are held inline:
/// no array is made, counted or freed for them.
public struct LineFds: RandomAccessCollection, Equatable, ExpressibleByArrayLiteral, Sendable {
    @usableFromInline
    enum Storage: Sendable {
        case none
        case one(Int32)
        /// Two or more.
        case many([Int32])
    }

    @usableFromInline
    var storage: Storage

    @inlinable
    public init() { storage = .none }

    // Inlinable, as every member: the daemon's reads make one per recvmsg,
    // and an unspecialized generic call costs a thousand instructions.
    @inlinable
    public init(_ fds: some Collection<Int32>) {
        switch fds.count {
        case 0: storage = .none
        case 1: storage = .one(fds.first!)
        default: storage = .many(Array(fds))
        }
    }

    @inlinable
    public init(arrayLiteral fds: Int32...) { self.init(fds) }

    @inlinable
    public var startIndex: Int { 0 }

    @inlinable
    public var endIndex: Int {
        switch storage {
        case .none: return 0
        case .one: return 1
        case .many(let fds): return fds.count
        }
    }

    @inlinable
    public subscript(position: Int) -> Int32 {
        switch storage {
        case .one(let fd) where position == 0: return fd
        case .many(let fds): return fds[position]
        default: preconditionFailure("LineFds index \(position) out of range")
        }
    }

    @inlinable
    public static func == (lhs: LineFds, rhs: LineFds) -> Bool { lhs.elementsEqual(rhs) }
}
