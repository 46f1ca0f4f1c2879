#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MioClient
import MioSystem

/// `--fd N[:TOKEN][:INTEREST]`, checked before anything is sent. TOKEN
/// defaults to N; INTEREST (`r`, `w`, `p`, `rw`, `readable,writable`…)
/// to the command's --readable/--writable/--priority.
struct FdSpec: ExpressibleByArgument {
    let fd: Int32
    let token: UInt64
    let interest: Interest?

    init?(argument: String) {
        var parts = argument.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), let fd = Int32(parts[0]), fd >= 0 else { return nil }
        self.fd = fd
        parts.removeFirst()
        if let first = parts.first, first.first?.isNumber == true {
            guard let token = UInt64(first) else { return nil }
            self.token = token
            parts.removeFirst()
        } else {
            self.token = UInt64(fd)
        }
        if let last = parts.first {
            guard parts.count == 1, let interest = FdSpec.interest(last) else { return nil }
            self.interest = interest
        } else {
            self.interest = nil
        }
    }

    /// `readable,writable` or the first letters, `r,w` (also `rw`).
    static func interest(_ text: String) -> Interest? {
        let names = text.split(separator: ",").flatMap { part -> [String] in
            if Interest(wireName: part) != nil { return [String(part)] }
            // Letters: each the first letter of a wire name.
            return part.map { letter in Interest.wireNames.first { $0.name.first == letter }?.name ?? "?" }
        }
        return Interest(wireNames: names)
    }

    /// `--readable`/`--writable`/`--priority`, readable when none is given.
    static func interest(readable: Bool, writable: Bool, priority: Bool) -> Interest {
        var names: [String] = []
        if readable { names.append("readable") }
        if writable { names.append("writable") }
        if priority { names.append("priority") }
        return Interest(wireNames: names.isEmpty ? ["readable"] : names)!
    }

    /// A repeated fd or token is a usage error: the second would silently replace the first.
    static func validate(_ specs: [FdSpec]) throws {
        if let fd = specs.map(\.fd).firstRepeated { throw ValidationError("--fd \(fd) is given twice") }
        if let token = specs.map(\.token).firstRepeated { throw ValidationError("token \(token) is given to two --fd") }
    }

    /// A clear message for an fd that cannot be handed over.
    /// Fails (usage) unless the fd is open and, when it is to be polled,
    /// of a kind epoll takes; `holdHint` says how to hold it anyway.
    func check(polled: Bool = true, holdHint: String? = nil) throws {
        guard Sys.isOpen(fd) else {
            Failure.fail("--fd \(fd): not an open file descriptor (did the shell open it, as in 3<>file?)", .usage)
        }
        guard polled, let info = try? Sys.fstat(fd) else { return }
        let hint = holdHint.map { "; \($0)" } ?? ""
        let kind = info.st_mode & S_IFMT
        if kind == S_IFREG { Failure.fail("--fd \(fd): a regular file cannot be polled; use a pipe, FIFO, socket or similar\(hint)", .usage) }
        if kind == S_IFDIR { Failure.fail("--fd \(fd): a directory cannot be polled\(hint)", .usage) }
    }
}

extension Array where Element: Hashable {
    var firstRepeated: Element? {
        var seen = Set<Element>()
        return first { !seen.insert($0).inserted }
    }
}
