//! `Registry`: mio's register / reregister / deregister, done by the daemon.
//!
//! mio finds a registration by its fd; the daemon by its token. The
//! registry keeps the link (fd → token) for the sources registered through
//! it, which is what lets `reregister` and `deregister` take the source as
//! in mio. Registrations made elsewhere (a persistent session from an
//! earlier run), held fds (`store`) and timers (`timer`) are reached by
//! token: `reregister_token`, `deregister_token`, `fetch`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::unix::io::{OwnedFd, RawFd};
use std::time::Duration;

use mio::Token;

use crate::connection::{Connection, Reply};
use crate::error::other;
use crate::interest::{Mode, RemoteInterest};
use crate::json::Value;
use crate::source::Source;

/// Registers sources with the daemon's Poll, as [`mio::Registry`].
///
/// A `Registry` is `Send` but not `Sync`: use it from the thread that owns
/// its `Poll`. To wake that thread from others, make a
/// [`Waker`](crate::Waker).
pub struct Registry {
    pub(crate) connection: RefCell<Connection>,
    /// fd → token, for the sources registered through this registry.
    sources: RefCell<HashMap<RawFd, Token>>,
}

/// One registration of the session, as `list` reports it
/// (docs/protocol.md, "`list`").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub token: Token,
    /// `None` for a held fd.
    pub interest: Option<RemoteInterest>,
    /// `None` for a held fd.
    pub mode: Option<Mode>,
    /// `pipe`, `fifo`, `socket`, `char`, `eventfd`, `timerfd`, `pidfd`,
    /// `inotify`, `epoll`, `waker` or `timer`; a held fd may also be
    /// `file`, `directory`, `memfd`, `path` (`O_PATH`) or `other`.
    pub kind: String,
    /// A held fd ([`Registry::store`]): never polled.
    pub held: bool,
    /// A timer's period; `None` for a one-shot timer, or not a timer.
    pub interval: Option<Duration>,
    /// The time to a timer's next expiry (whole milliseconds, rounded up);
    /// `None` for a one-shot timer that has expired, or not a timer.
    pub expires_in: Option<Duration>,
}

impl Registry {
    pub(crate) fn new(connection: Connection) -> Registry {
        Registry { connection: RefCell::new(connection), sources: RefCell::new(HashMap::new()) }
    }

    /// Hands the daemon a copy of `source`'s fd to watch under `token`,
    /// edge-triggered, as mio. `interests` is mio's `Interest`, or a
    /// [`RemoteInterest`] for priority.
    ///
    /// Tokens are unique in a session (`AlreadyExists`, code
    /// `token_in_use`, otherwise), and so is a source (`AlreadyExists`, as
    /// epoll's `EEXIST`).
    pub fn register<S, I>(&self, source: &mut S, token: Token, interests: I) -> io::Result<()>
    where
        S: Source + ?Sized,
        I: Into<RemoteInterest>,
    {
        self.register_with_mode(source, token, interests, Mode::Edge)
    }

    /// `register` with a [`Mode`]: `Mode::Oneshot` reports one event, then
    /// nothing until the next `reregister`.
    pub fn register_with_mode<S, I>(&self, source: &mut S, token: Token, interests: I, mode: Mode) -> io::Result<()>
    where
        S: Source + ?Sized,
        I: Into<RemoteInterest>,
    {
        let fd = source.raw_fd();
        let interest = checked(interests.into())?;
        if let Some(registered) = self.sources.borrow().get(&fd) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "fd {fd} is already registered, with token {}; deregister it first (the daemon holds its own \
                     copy, so even a closed fd stays registered until then)",
                    registered.0
                ),
            ));
        }
        self.send_register(fd, token, interest, mode)?;
        self.sources.borrow_mut().insert(fd, token);
        Ok(())
    }

    /// Changes the interest of `source`, as mio; re-arms a oneshot one. A
    /// different token is allowed too: the daemon's tokens are fixed, so the
    /// fd is registered anew under it and the old registration removed.
    pub fn reregister<S, I>(&self, source: &mut S, token: Token, interests: I) -> io::Result<()>
    where
        S: Source + ?Sized,
        I: Into<RemoteInterest>,
    {
        self.reregister_with_mode(source, token, interests, Mode::Edge)
    }

    pub fn reregister_with_mode<S, I>(&self, source: &mut S, token: Token, interests: I, mode: Mode) -> io::Result<()>
    where
        S: Source + ?Sized,
        I: Into<RemoteInterest>,
    {
        let fd = source.raw_fd();
        let interest = checked(interests.into())?;
        let old = self.token_of(fd)?;
        if old == token {
            return self.reregister_token_with_mode(token, interest, mode);
        }
        self.send_register(fd, token, interest, mode)?;
        self.sources.borrow_mut().insert(fd, token);
        self.deregister_token(old)
    }

    /// Stops watching `source` and closes the daemon's copy. No event for
    /// its token comes out of `poll` afterwards.
    pub fn deregister<S>(&self, source: &mut S) -> io::Result<()>
    where
        S: Source + ?Sized,
    {
        let token = self.token_of(source.raw_fd())?;
        self.deregister_token(token)
    }

    /// Hands the daemon a copy of `source`'s fd to hold under `token`,
    /// never polled (docs/protocol.md, "Holding without polling"): any kind
    /// of fd, a memfd with state, a regular file, a directory, an `O_PATH`
    /// fd, a socket. It makes no events. [`fetch`](Registry::fetch) hands
    /// it back (a memfd with its content), `deregister_token` closes the
    /// daemon's copy, and a persistent session keeps it across connections
    /// like any registration. Close yours whenever you like.
    ///
    /// A held fd is reached by its token only: `source` is not linked to
    /// it, so `deregister(source)` does not find it.
    ///
    /// Refused with `AlreadyExists` (code `token_in_use`), `InvalidInput`
    /// (code `bad_fd`: the daemon's own socket or a connection to it),
    /// `Other` (code `limit_exceeded`). A held fd's `reregister_token` is
    /// refused with `wrong_state`.
    pub fn store<S>(&self, source: &S, token: Token) -> io::Result<()>
    where
        S: Source + ?Sized,
    {
        self.request("store", Some(source.raw_fd()), |line| {
            line.unsigned("token", token.0 as u64);
        })?;
        Ok(())
    }

    /// `reregister` by token: for registrations this registry did not make
    /// (a persistent session's, a `Waker`'s).
    pub fn reregister_token<I: Into<RemoteInterest>>(&self, token: Token, interests: I) -> io::Result<()> {
        self.reregister_token_with_mode(token, interests, Mode::Edge)
    }

    pub fn reregister_token_with_mode<I: Into<RemoteInterest>>(&self, token: Token, interests: I, mode: Mode) -> io::Result<()> {
        let interest = checked(interests.into())?;
        self.request("reregister", None, |line| {
            line.unsigned("token", token.0 as u64).interest("interest", interest).string("mode", mode.name());
        })?;
        Ok(())
    }

    /// `deregister` by token; removes a `Waker`'s registration, a timer
    /// and a held fd too.
    pub fn deregister_token(&self, token: Token) -> io::Result<()> {
        self.request("deregister", None, |line| {
            line.unsigned("token", token.0 as u64);
        })?;
        self.forget(token);
        Ok(())
    }

    /// Gets the fd held under `token` back, as an fd of this process.
    /// `deregister: false` leaves the registration in place (the daemon
    /// sends a new descriptor for the same file); `true` ends it and hands
    /// over the daemon's own copy.
    pub fn fetch(&self, token: Token, deregister: bool) -> io::Result<OwnedFd> {
        let reply = self.request("fetch", None, |line| {
            line.unsigned("token", token.0 as u64).boolean("deregister", deregister);
        })?;
        if deregister {
            self.forget(token);
        }
        let mut fds = reply.fds;
        if fds.truncated {
            return Err(other("the fetched fd was lost in transit (MSG_CTRUNC: is this process out of fds?)"));
        }
        match fds.fds.len() {
            1 => Ok(fds.fds.pop().expect("one fd")),
            n => Err(io::Error::new(io::ErrorKind::InvalidData, format!("the fetch reply came with {n} fds, not 1"))),
        }
    }

    /// The session's registrations, sorted by token.
    pub fn list(&self) -> io::Result<Vec<Registration>> {
        let reply = self.request("list", None, |_| {})?;
        let items = reply.value.get("registrations").and_then(Value::as_array).unwrap_or(&[]);
        items.iter().map(registration).collect()
    }

    /// Wakes the waker `token` of another session of this uid, attached or
    /// not (the `wake` op with `session`).
    pub fn wake_session(&self, session: &str, token: Token) -> io::Result<()> {
        self.request("wake", None, |line| {
            line.unsigned("token", token.0 as u64).string("session", session);
        })?;
        Ok(())
    }

    /// Ends the session (`end`): every registration removed, every fd the
    /// daemon held for it closed; a persistent session is forgotten. The
    /// connection goes on in a fresh anonymous session.
    pub fn end_session(&self) -> io::Result<()> {
        self.request("end", None, |_| {})?;
        self.sources.borrow_mut().clear();
        self.connection.borrow_mut().forget_all_pending();
        Ok(())
    }

    /// `ping`: whether the daemon answers, within the request timeout.
    pub fn ping(&self) -> io::Result<()> {
        self.request("ping", None, |_| {})?;
        Ok(())
    }

    /// How long a request waits for its reply (default 5 s). When it
    /// passes, the request fails with `TimedOut` and the connection is
    /// closed: a late reply could no longer be matched safely.
    pub fn request_timeout(&self) -> Duration {
        self.connection.borrow().request_timeout()
    }

    pub fn set_request_timeout(&self, timeout: Duration) {
        self.connection.borrow_mut().set_request_timeout(timeout);
    }

    pub(crate) fn request(
        &self,
        op: &str,
        fd: Option<RawFd>,
        fields: impl FnOnce(&mut crate::json::RequestLine),
    ) -> io::Result<Reply> {
        self.connection.borrow_mut().request(op, fd, fields)
    }

    fn send_register(&self, fd: RawFd, token: Token, interest: RemoteInterest, mode: Mode) -> io::Result<()> {
        self.request("register", Some(fd), |line| {
            line.unsigned("token", token.0 as u64).interest("interest", interest).string("mode", mode.name());
        })?;
        Ok(())
    }

    fn token_of(&self, fd: RawFd) -> io::Result<Token> {
        self.sources.borrow().get(&fd).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("fd {fd} is not registered through this Registry (for a token registered elsewhere, use the *_token calls)"),
            )
        })
    }

    /// After a registration ended: its fd link and its unreturned events go.
    fn forget(&self, token: Token) {
        self.sources.borrow_mut().retain(|_, t| *t != token);
        self.connection.borrow_mut().forget_pending(token);
    }
}

fn checked(interest: RemoteInterest) -> io::Result<RemoteInterest> {
    if interest.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an interest needs readable, writable or priority"));
    }
    Ok(interest)
}

fn registration(item: &Value) -> io::Result<Registration> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "a list entry this client cannot read");
    let token = item.get("token").and_then(Value::as_u64).and_then(|t| usize::try_from(t).ok()).ok_or_else(invalid)?;
    let mut interest: Option<RemoteInterest> = None;
    for name in item.get("interest").and_then(Value::as_array).unwrap_or(&[]) {
        let one = name.as_str().and_then(RemoteInterest::from_name).ok_or_else(invalid)?;
        interest = Some(interest.map_or(one, |i| i | one));
    }
    let mode = match item.get("mode").and_then(Value::as_str) {
        Some("edge") => Some(Mode::Edge),
        Some("oneshot") => Some(Mode::Oneshot),
        _ => None,
    };
    let kind = item.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    let held = item.get("held").and_then(Value::as_bool) == Some(true);
    let millis = |key| item.get(key).and_then(Value::as_u64).map(Duration::from_millis);
    Ok(Registration { token: Token(token), interest, mode, kind, held, interval: millis("interval_ms"), expires_in: millis("expires_in_ms") })
}
