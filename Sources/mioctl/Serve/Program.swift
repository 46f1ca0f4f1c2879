#if canImport(Glibc)
import Glibc
#endif
import MioSystem

/// The command serve runs, its path found once at start as execvp(3)
/// finds it, so that a missing program is exit status 127 (not runnable:
/// 126) before anything is served.
struct Program {
    let path: String
    let arguments: [String]

    /// The variables serve sets itself; any inherited ones go.
    static let activationVariables: Set<String> = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "REMOTE_ADDR", "REMOTE_PORT"]

    static func resolve(_ command: [String]) -> Program {
        let name = command[0]
        if name.contains("/") {
            switch Sys.executable(name) {
            case .runnable: return Program(path: name, arguments: command)
            case .missing: Failure.fail("cannot run \(name): no such file", .commandNotFound)
            case .notRunnable(let why): Failure.fail("cannot run \(name): \(why)", .cannotExecute)
            }
        }
        let search = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        var refusal: String?
        for directory in search.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            switch Sys.executable(candidate) {
            case .runnable: return Program(path: candidate, arguments: command)
            case .missing: continue
            case .notRunnable(let why): refusal = refusal ?? "\(candidate): \(why)"  // execvp goes on searching too
            }
        }
        if let refusal { Failure.fail("cannot run \(name): \(refusal)", .cannotExecute) }
        Failure.fail("cannot run \(name): not found in PATH", .commandNotFound)
    }

    /// This process's environment without the activation variables.
    static func inheritedEnvironment() -> [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            let name = String(text.prefix { $0 != "=" })
            if !activationVariables.contains(name) { result.append(text) }
            cursor += 1
        }
        return result
    }
}
