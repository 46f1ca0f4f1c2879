#if canImport(Glibc)
import Glibc
#endif
import CMioLinux

/// Processes, signals, limits, users and the clock.
extension Sys {
    /// `execvp`: replaces this process with `arguments[0]`, found on `PATH`.
    /// Returns only on failure.
    package static func execute(_ arguments: [String]) -> MioError {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execvp(arguments[0], &argv)
        let error = MioError(errno: errno, operation: "execvp(\(arguments[0]))")
        for pointer in argv { free(pointer) }
        return error
    }

    /// Blocks `signals` in the calling thread and returns a non-blocking
    /// signalfd that reads them.
    package static func signalDescriptor(for signals: [Int32]) throws(MioError) -> Int32 {
        try retrying("signalfd") { cmio_signalfd_for(signals, Int32(signals.count)) }
    }

    /// `sched_yield`: lets the other runnable tasks of this CPU run first
    /// (returns at once when there are none).
    package static func yieldProcessor() {
        _ = sched_yield()
    }

    /// Whether the calling thread runs under the default policy
    /// (`SCHED_OTHER`), as opposed to batch, idle or a real-time one.
    package static func hasDefaultScheduling() -> Bool {
        sched_getscheduler(0) == CMIO_SCHED_OTHER
    }

    /// `sched_setscheduler(SCHED_BATCH)` for the calling thread (threads it
    /// starts later inherit it). Needs no privilege.
    package static func useBatchScheduling() throws(MioError) {
        var parameters = sched_param(sched_priority: 0)
        _ = try retrying("sched_setscheduler(SCHED_BATCH)") { sched_setscheduler(0, CMIO_SCHED_BATCH, &parameters) }
    }

    package static func ignoreSignal(_ signal: Int32) {
        _ = Glibc.signal(signal, SIG_IGN)
    }

    package static func openFileLimit() throws(MioError) -> rlimit {
        var limit = rlimit()
        _ = try retrying("getrlimit(RLIMIT_NOFILE)") { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        return limit
    }

    package static func setOpenFileLimit(_ limit: rlimit) throws(MioError) {
        var limit = limit
        _ = try retrying("setrlimit(RLIMIT_NOFILE)") { setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
    }

    /// The gid of a group name (`getgrnam_r`), or nil if there is none.
    package static func groupID(named name: String) -> UInt32? {
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds (the vDSO: no kernel entry).
    package static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}

extension Sys {
    /// Puts back the default action of `signal`. The Swift runtime's crash
    /// handler takes SIGABRT (and the other fatal signals) at start; a
    /// daemon that a watchdog ends with SIGABRT must die of it, with a core.
    package static func restoreDefaultAction(_ signal: Int32) {
        _ = Glibc.signal(signal, SIG_DFL)
    }
}
