//! `Poll`: mio's Poll, with the daemon's epoll behind it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::events::Events;
use crate::options::ConnectOptions;
use crate::registry::Registry;

/// A remote [`mio::Poll`]: a connection to mio-daemon.
///
/// `poll` blocks only when asked to (`None`); every other call waits at most
/// the request timeout. A `Poll` is `Send`, not `Sync`.
///
/// Closing it (drop) closes the connection: the daemon then closes the fds
/// of an anonymous or non-persistent session.
pub struct Poll {
    registry: Registry,
    socket_path: PathBuf,
    session: Option<String>,
    server_version: String,
}

impl Poll {
    pub(crate) fn new(registry: Registry, socket_path: PathBuf, session: Option<String>, server_version: String) -> Poll {
        Poll { registry, socket_path, session, server_version }
    }

    /// Connects to the daemon at the default socket (protocol §2.1:
    /// `$MIO_SOCKET`, then `/run/mio-daemon/mio.sock` for root, then
    /// `$XDG_RUNTIME_DIR/mio-daemon/mio.sock`, then
    /// `/tmp/mio-daemon-$UID/mio.sock`), in an anonymous session. This
    /// replaces `mio::Poll::new()`.
    pub fn connect() -> io::Result<Poll> {
        ConnectOptions::new().connect()
    }

    /// Connects to the daemon at `path`.
    pub fn connect_at(path: impl AsRef<Path>) -> io::Result<Poll> {
        ConnectOptions::new().socket_path(path).connect()
    }

    /// Connects to the named session of this uid at the default socket;
    /// `persist` keeps it, and its fds, after this `Poll` is gone.
    pub fn connect_session(session: &str, persist: bool) -> io::Result<Poll> {
        ConnectOptions::new().session(session).persist(persist).connect()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Waits for readiness events, as `mio::Poll::poll`: up to `timeout`
    /// (`None`: until one comes), at most `events.capacity()` of them; more
    /// wait for the next call. Returns `Interrupted` on a signal, as mio,
    /// and `ConnectionAborted` once the daemon shuts down or the session was
    /// taken over.
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        self.registry.connection.get_mut().poll(events, timeout)
    }

    /// The socket this `Poll` is connected to.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The session's name; `None` for an anonymous session.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The daemon's version, from its `hello` reply.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }
}

impl std::fmt::Debug for Poll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poll").field("socket_path", &self.socket_path).field("session", &self.session).finish()
    }
}
