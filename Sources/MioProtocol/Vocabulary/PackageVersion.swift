/// The release of mio-daemon this code is: the daemon's `hello` reply
/// carries it, and both binaries print it for `--version`.
public let packageVersion = "0.1.0"
