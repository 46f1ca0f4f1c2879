//! Errors: every failure is an `io::Error`, as in mio. A request the daemon
//! refused carries a [`DaemonError`] inside, with the protocol's stable
//! `code` (docs/protocol.md §13) and its message, and an `ErrorKind` chosen
//! from the code.

use std::error::Error;
use std::fmt;
use std::io;

/// A request the daemon refused: `{"ok":false,"error":{"code":…,"message":…}}`.
///
/// ```
/// # use std::io;
/// # use mio_daemon_client::DaemonError;
/// # fn check(result: io::Result<()>) {
/// if let Err(error) = result {
///     match DaemonError::of(&error) {
///         Some(refusal) if refusal.code() == "token_in_use" => { /* pick another token */ }
///         Some(refusal) => eprintln!("refused: {} ({})", refusal.message(), refusal.code()),
///         None => eprintln!("no answer: {error}"),
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonError {
    code: String,
    message: String,
}

impl DaemonError {
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> DaemonError {
        DaemonError { code: code.into(), message: message.into() }
    }

    /// The protocol's error code, e.g. `"unknown_token"`: stable across
    /// daemon versions.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The daemon's explanation, for people: it may change between versions.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `io::ErrorKind` this code maps to:
    ///
    /// | code | kind |
    /// |---|---|
    /// | `token_in_use` | `AlreadyExists` |
    /// | `unknown_token`, `unknown_session` | `NotFound` |
    /// | `permission_denied` | `PermissionDenied` |
    /// | `session_busy` | `AddrInUse` (the session's name is held) |
    /// | `not_pollable`, `unsupported_protocol` | `Unsupported` |
    /// | `bad_json`, `bad_request`, `unknown_op`, `no_fd`, `bad_fd`, `line_too_long` | `InvalidInput` |
    /// | `fd_overflow` | `ConnectionAborted` (the daemon closes the connection) |
    /// | `limit_exceeded`, `wrong_state`, `internal`, any other | `Other` |
    pub fn kind(&self) -> io::ErrorKind {
        match self.code.as_str() {
            "token_in_use" => io::ErrorKind::AlreadyExists,
            "unknown_token" | "unknown_session" => io::ErrorKind::NotFound,
            "permission_denied" => io::ErrorKind::PermissionDenied,
            "session_busy" => io::ErrorKind::AddrInUse,
            "not_pollable" | "unsupported_protocol" => io::ErrorKind::Unsupported,
            "bad_json" | "bad_request" | "unknown_op" | "no_fd" | "bad_fd" | "line_too_long" => io::ErrorKind::InvalidInput,
            "fd_overflow" => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::Other,
        }
    }

    /// The refusal inside an `io::Error` from this crate, if it is one.
    pub fn of(error: &io::Error) -> Option<&DaemonError> {
        error.get_ref().and_then(|inner| inner.downcast_ref::<DaemonError>())
    }
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mio-daemon refused the request ({}): {}", self.code, self.message)
    }
}

impl Error for DaemonError {}

impl From<DaemonError> for io::Error {
    fn from(error: DaemonError) -> io::Error {
        io::Error::new(error.kind(), error)
    }
}

/// Why a connection can no longer be used; every later call returns it.
#[derive(Debug, Clone)]
pub(crate) struct Broken {
    kind: io::ErrorKind,
    message: String,
}

impl Broken {
    pub fn new(kind: io::ErrorKind, message: impl Into<String>) -> Broken {
        Broken { kind, message: message.into() }
    }

    pub fn error(&self) -> io::Error {
        io::Error::new(self.kind, self.message.clone())
    }
}

/// An `io::Error` of kind `Other` (`io::Error::other` is newer than Debian's rustc).
pub(crate) fn other(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::Other, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_survives_the_trip_through_io_error() {
        let error: io::Error = DaemonError::new("unknown_token", "token 7 is not registered").into();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        let inner = DaemonError::of(&error).expect("a DaemonError inside");
        assert_eq!((inner.code(), inner.message()), ("unknown_token", "token 7 is not registered"));
        assert!(error.to_string().contains("unknown_token"));
        assert!(DaemonError::of(&io::Error::new(io::ErrorKind::Other, "x")).is_none());
    }
}
