//! Where the daemon's socket is when nobody says: docs/protocol.md §2.1,
//! steps 2–5, for the client's own uid.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// The socket path of protocol §2.1 for this process: `$MIO_SOCKET` if set
/// and not empty; else `/run/mio-daemon/mio.sock` for root; else
/// `$XDG_RUNTIME_DIR/mio-daemon/mio.sock` if that is set and not empty; else
/// `/tmp/mio-daemon-$UID/mio.sock`.
pub fn default_socket_path() -> PathBuf {
    let mio_socket = std::env::var_os("MIO_SOCKET");
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR");
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    socket_path_from(mio_socket.as_deref(), uid, runtime_dir.as_deref())
}

/// The same lookup on given values instead of this process's environment.
pub fn socket_path_from(mio_socket: Option<&OsStr>, uid: u32, xdg_runtime_dir: Option<&OsStr>) -> PathBuf {
    if let Some(path) = mio_socket.filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    if uid == 0 {
        return PathBuf::from("/run/mio-daemon/mio.sock");
    }
    if let Some(dir) = xdg_runtime_dir.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("mio-daemon").join("mio.sock");
    }
    let mut dir = OsString::from(format!("/tmp/mio-daemon-{uid}"));
    dir.push("/mio.sock");
    PathBuf::from(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn follows_the_protocols_order() {
        assert_eq!(socket_path_from(os("/x/y.sock"), 0, os("/run/user/0")), PathBuf::from("/x/y.sock"));
        assert_eq!(socket_path_from(os("/x/y.sock"), 1000, None), PathBuf::from("/x/y.sock"));
        assert_eq!(socket_path_from(os(""), 0, os("/run/user/0")), PathBuf::from("/run/mio-daemon/mio.sock"));
        assert_eq!(socket_path_from(None, 0, None), PathBuf::from("/run/mio-daemon/mio.sock"));
        assert_eq!(socket_path_from(None, 1000, os("/run/user/1000")), PathBuf::from("/run/user/1000/mio-daemon/mio.sock"));
        assert_eq!(socket_path_from(os(""), 1000, os("")), PathBuf::from("/tmp/mio-daemon-1000/mio.sock"));
        assert_eq!(socket_path_from(None, 4242, None), PathBuf::from("/tmp/mio-daemon-4242/mio.sock"));
    }
}
