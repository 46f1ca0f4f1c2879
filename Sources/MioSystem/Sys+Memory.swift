#if canImport(Glibc)
import Glibc
#endif
import CMioLinux

/// Shared memory: a sealed memfd, and its mapping.
extension Sys {
    /// A memfd of `size` bytes whose size is sealed (it can neither shrink
    /// nor grow, so a mapping of it never faults with SIGBUS).
    package static func sealedMemory(named name: String, size: Int) throws(MioError) -> Int32 {
        let fd = try retrying("memfd_create") { cmio_memfd_sealable(name) }
        do {
            _ = try retrying("ftruncate") { ftruncate(fd, off_t(size)) }
            _ = try retrying("fcntl(F_ADD_SEALS)") { cmio_seal_size(fd) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// `mmap(PROT_READ | PROT_WRITE, MAP_SHARED)` of the whole of `fd`.
    package static func mapShared(_ fd: Int32, size: Int) throws(MioError) -> UnsafeMutableRawPointer {
        guard let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), address != MAP_FAILED else {
            throw MioError(errno: errno, operation: "mmap")
        }
        return address
    }

    /// Whether `fd`'s size is sealed against shrinking (`F_GET_SEALS`): a
    /// mapping of a file that could shrink would fault with SIGBUS.
    package static func cannotShrink(_ fd: Int32) throws(MioError) -> Bool {
        try retrying("fcntl(F_GET_SEALS)") { cmio_cannot_shrink(fd) } == 1
    }

    package static func unmap(_ address: UnsafeMutableRawPointer, size: Int) {
        _ = munmap(address, size)
    }

    /// The page size, for rounding mappings.
    package static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
}
