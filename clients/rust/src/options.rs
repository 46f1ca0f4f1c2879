//! `ConnectOptions`: which socket, which session (its persistence and
//! lease), how long requests wait.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::poll::Poll;
use crate::registry::Registry;
use crate::socket::Socket;
use crate::socket_path::default_socket_path;
use crate::json::Value;

/// The default wait for a reply (and for connecting).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How to connect a [`Poll`]: the socket, a named session, persistence.
///
/// ```no_run
/// use mio_daemon_client::ConnectOptions;
///
/// // A session that keeps its fds (and their readiness) while this process
/// // is gone; the next run attaches to it by name.
/// let poll = ConnectOptions::new().session("build").persist(true).connect()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    socket_path: Option<PathBuf>,
    session: Option<String>,
    persist: bool,
    takeover: bool,
    lease: Lease,
    request_timeout: Duration,
}

/// What the `hello` does to the session's lease (docs/protocol.md, "Leases").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lease {
    /// `lease_s` absent: as it is.
    Keep,
    /// `lease_s: null`.
    Remove,
    Set(Duration),
}

/// The longest lease the daemon takes: 2^31−1 seconds.
pub const MAX_LEASE: Duration = Duration::from_secs((1 << 31) - 1);

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions::new()
    }
}

impl ConnectOptions {
    /// The default socket (protocol §2.1), an anonymous session, 5 s
    /// request timeout.
    pub fn new() -> ConnectOptions {
        ConnectOptions {
            socket_path: None,
            session: None,
            persist: false,
            takeover: false,
            lease: Lease::Keep,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The daemon's socket, instead of [`default_socket_path`].
    pub fn socket_path(mut self, path: impl AsRef<Path>) -> ConnectOptions {
        self.socket_path = Some(path.as_ref().to_path_buf());
        self
    }

    /// Attach to the named session of this uid (1–64 bytes of
    /// `A-Z a-z 0-9 . _ -`), creating it if needed. Refused with
    /// `AddrInUse` (code `session_busy`) while another connection holds it,
    /// unless `takeover`.
    pub fn session(mut self, name: impl Into<String>) -> ConnectOptions {
        self.session = Some(name.into());
        self
    }

    /// Keep the session, its fds and their readiness after this connection
    /// closes (needs `session`). It lasts until `Registry::end_session`.
    pub fn persist(mut self, persist: bool) -> ConnectOptions {
        self.persist = persist;
        self
    }

    /// A lease for the persistent session (needs `persist(true)`, else the
    /// daemon refuses with `InvalidInput`, code `bad_request`): once no
    /// connection has been attached to it for `lease` (whole seconds,
    /// rounded up; 1 s to [`MAX_LEASE`]), the daemon ends it as
    /// `Registry::end_session` would, closing its fds. Attaching stops the
    /// countdown; detaching starts it again from the whole lease. Replaces a
    /// lease the session has. Without `lease` or `remove_lease`, a session's
    /// lease stays as it is. A zero lease or one above `MAX_LEASE` fails the
    /// connect with `InvalidInput` before anything is sent.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use mio_daemon_client::ConnectOptions;
    ///
    /// // Kept while this process restarts; gone an hour after it stopped for good.
    /// let poll = ConnectOptions::new().session("worker").persist(true).lease(Duration::from_secs(3600)).connect()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn lease(mut self, lease: Duration) -> ConnectOptions {
        self.lease = Lease::Set(lease);
        self
    }

    /// Removes the session's lease: it stays until `end_session`.
    pub fn remove_lease(mut self) -> ConnectOptions {
        self.lease = Lease::Remove;
        self
    }

    /// Take the session from the connection that holds it (that one's
    /// `poll` then fails with `ConnectionAborted`).
    pub fn takeover(mut self, takeover: bool) -> ConnectOptions {
        self.takeover = takeover;
        self
    }

    /// How long connecting and each request wait (see
    /// `Registry::set_request_timeout`).
    pub fn request_timeout(mut self, timeout: Duration) -> ConnectOptions {
        self.request_timeout = timeout;
        self
    }

    /// Connects and says `hello`.
    pub fn connect(&self) -> io::Result<Poll> {
        let lease_seconds = match self.lease {
            Lease::Set(lease) => Some(seconds(lease)?),
            Lease::Keep | Lease::Remove => None,
        };
        let path = self.socket_path.clone().unwrap_or_else(default_socket_path);
        let now = Instant::now();
        let deadline = now.checked_add(self.request_timeout).unwrap_or_else(|| now + Duration::from_secs(3600));
        let socket = Socket::connect(&path, deadline)?;
        let registry = Registry::new(Connection::new(socket, self.request_timeout));
        let reply = registry.request("hello", None, |line| {
            line.unsigned("protocol", 1);
            if let Some(session) = &self.session {
                line.string("session", session);
            }
            if self.persist {
                line.boolean("persist", true);
            }
            if self.takeover {
                line.boolean("takeover", true);
            }
            match (self.lease, lease_seconds) {
                (Lease::Remove, _) => {
                    line.null("lease_s");
                }
                (_, Some(seconds)) => {
                    line.unsigned("lease_s", seconds);
                }
                _ => {}
            }
            line.string("client", concat!("mio-daemon-client/", env!("CARGO_PKG_VERSION"), " (Rust)"));
        })?;
        let text = |key| reply.value.get(key).and_then(Value::as_str);
        if text("server") != Some("mio-daemon") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a mio-daemon socket (hello said server {:?})", path.display(), text("server")),
            ));
        }
        let version = text("version").unwrap_or("").to_string();
        let session = text("session").map(str::to_string);
        Ok(Poll::new(registry, path, session, version))
    }
}

/// A lease in whole seconds, rounded up: 1 … 2^31−1.
fn seconds(lease: Duration) -> io::Result<u64> {
    if lease.is_zero() || lease > MAX_LEASE {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("a lease is more than zero and at most 2^31-1 s, not {lease:?}")));
    }
    Ok(((lease.as_nanos() + 999_999_999) / 1_000_000_000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_whole_seconds_rounded_up() {
        assert_eq!(seconds(Duration::from_nanos(1)).unwrap(), 1);
        assert_eq!(seconds(Duration::from_millis(1500)).unwrap(), 2);
        assert_eq!(seconds(Duration::from_secs(60)).unwrap(), 60);
        assert_eq!(seconds(MAX_LEASE).unwrap(), (1 << 31) - 1);
        for bad in [Duration::ZERO, MAX_LEASE + Duration::from_nanos(1), Duration::MAX] {
            assert_eq!(seconds(bad).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }
}
