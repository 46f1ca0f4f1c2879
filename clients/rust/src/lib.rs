//! A remote `mio::Poll`: mio 0.8's `Poll`, `Registry`, `Events` and `Waker`,
//! with the epoll instance in [mio-daemon](../../../docs/protocol.md)
//! instead of this process.
//!
//! The daemon holds its own copy of every fd you register, watches it
//! edge-triggered with mio's exact event meaning, and can keep it (and its
//! readiness) across your process's restarts. The types are mio's where
//! they can be (`Token`, `Interest`, `SourceFd` are re-exported from mio
//! itself), so a mio program changes its constructor and little else:
//!
//! ```no_run
//! use std::net::{self, SocketAddr};
//!
//! use mio::net::TcpStream;
//! use mio_daemon_client::{Events, Interest, Poll, Token};
//!
//! # fn main() -> std::io::Result<()> {
//! // Bind a server socket to connect to.
//! let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
//! let server = net::TcpListener::bind(addr)?;
//!
//! // `mio::Poll::new()` becomes `Poll::connect()` (the daemon's socket:
//! // $MIO_SOCKET, or the default of docs/protocol.md §2.1).
//! let mut poll = Poll::connect()?;
//! let mut events = Events::with_capacity(1024);
//!
//! let mut stream = TcpStream::connect(server.local_addr()?)?;
//! poll.registry().register(&mut stream, Token(0), Interest::READABLE | Interest::WRITABLE)?;
//!
//! // Wait for the socket to become ready, in a loop for spurious wake-ups.
//! loop {
//!     poll.poll(&mut events, None)?;
//!     for event in &events {
//!         if event.token() == Token(0) && event.is_writable() {
//!             return Ok(()); // connected
//!         }
//!     }
//! }
//! # }
//! ```
//!
//! `examples/tcp_connect.rs` is mio's README example (a listener and a
//! client, both registered) run against the daemon; the tests run it.
//!
//! # What differs from mio
//!
//! - **Constructors**: [`Poll::connect`], [`Poll::connect_at`],
//!   [`Poll::connect_session`] and [`ConnectOptions`] (sessions, `persist`,
//!   `takeover`, the request timeout) replace `Poll::new`.
//! - **Sources** implement this crate's [`Source`] (the fd to send), not
//!   `mio::event::Source`: mio's sockets and pipes, std's, `OwnedFd`,
//!   `BorrowedFd` and [`SourceFd`] do.
//! - **The daemon holds a copy of each fd**: closing yours does not end the
//!   registration, and the file stays open (a socket stays connected) until
//!   `deregister`. Deregister before you close, as mio asks too.
//! - **Tokens are unique in a session** (mio allows duplicates):
//!   registering a token twice fails with `AlreadyExists`.
//! - **Priority and oneshot**: Debian's mio 0.8.4 has no
//!   `Interest::PRIORITY` (mio 0.8.6 added it), so `register` takes
//!   `impl Into<`[`RemoteInterest`]`>`: `Interest::READABLE |
//!   RemoteInterest::PRIORITY`. [`Mode::Oneshot`] via
//!   [`Registry::register_with_mode`].
//! - **Extras**: [`Registry::fetch`] hands a held fd back as an `OwnedFd`;
//!   the `*_token` calls reach registrations by token (a persistent
//!   session's from an earlier run); [`Registry::list`],
//!   [`Registry::wake_session`], [`Registry::end_session`],
//!   [`Registry::ping`].
//! - **Beyond polling**: [`Registry::store`] hands the daemon any fd to
//!   hold, never polled (a memfd with state, a regular file, a directory);
//!   [`Registry::timer`] is a timer of the daemon's that makes readable
//!   events for its token; [`ConnectOptions::lease`] ends a persistent
//!   session once no connection has been attached to it for that long.
//! - **Errors** are `io::Error`s. A refusal carries a [`DaemonError`] (the
//!   protocol's `code` and `message`; [`DaemonError::of`]) and a kind from
//!   the code (`token_in_use` → `AlreadyExists`, `unknown_token` →
//!   `NotFound`, … see [`DaemonError::kind`]).
//! - **Timeouts**: only `poll(…, None)` waits without end. Connecting and
//!   every request wait at most the request timeout (5 s by default); a
//!   request that times out fails with `TimedOut` and closes the
//!   connection, since its late reply could no longer be matched safely.
//!   The daemon shutting down, or another connection taking the session
//!   over, makes `poll` fail with `ConnectionAborted`.
//! - **Threads**: `Poll` and `Registry` are `Send`, not `Sync`;
//!   `Registry::try_clone` does not exist. [`Waker`] is `Send + Sync` and
//!   wakes from any thread.

mod connection;
mod error;
mod event_line;
mod events;
mod interest;
mod json;
mod line_reader;
mod options;
mod poll;
mod registry;
mod socket;
mod socket_path;
mod source;
mod timer;
mod waker;

pub use mio::unix::SourceFd;
pub use mio::{Interest, Token};

pub use crate::error::DaemonError;
pub use crate::events::{Event, Events, Iter};
pub use crate::interest::{Mode, RemoteInterest};
pub use crate::options::{ConnectOptions, DEFAULT_REQUEST_TIMEOUT, MAX_LEASE};
pub use crate::poll::Poll;
pub use crate::registry::{Registration, Registry};
pub use crate::socket_path::{default_socket_path, socket_path_from};
pub use crate::source::Source;
pub use crate::timer::MAX_TIMER;
pub use crate::waker::Waker;

/// mio's `event` module layout: `event::Event`, `event::Events`.
pub mod event {
    pub use crate::events::{Event, Events, Iter};
    pub use crate::source::Source;
}

#[cfg(test)]
mod tests {
    /// The thread-safety the docs promise, checked by the compiler.
    #[test]
    fn poll_and_registry_are_send_and_the_waker_is_send_and_sync() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<crate::Poll>();
        send::<crate::Registry>();
        send::<crate::Events>();
        send_sync::<crate::Waker>();
        send_sync::<crate::DaemonError>();
    }
}
