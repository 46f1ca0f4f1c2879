//! One connection to the daemon: requests matched to their replies by id,
//! event lines kept in order for `poll`, notices, and the rule that a
//! connection which lost track (a timeout, a takeover, an unreadable line)
//! is closed rather than guessed about.

use std::collections::VecDeque;
use std::io;
use std::os::unix::io::RawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::Token;

use crate::error::{Broken, DaemonError};
use crate::event_line;
use crate::events::{flag, Event, Events};
use crate::json::{self, RequestLine, Value};
use crate::line_reader::{Filled, LineFds, LineReader};
use crate::socket::{Socket, Wait};

/// What the `Poll` shares with its `Waker`s, which send on the same socket
/// from other threads.
pub(crate) struct Shared {
    pub socket: Socket,
    /// Refusals of `wake` requests, by token: the replies reach the `Poll`'s
    /// reader, and the `Waker` reports them at its next `wake`.
    pub refused_wakes: Mutex<Vec<(u64, DaemonError)>>,
}

/// The `id` of a `Waker`'s requests: `"wake:TOKEN"`, never a number, so
/// they cannot be mistaken for the reply a request waits for.
pub(crate) const WAKE_ID_PREFIX: &str = "wake:";

/// A successful reply, with the fds that came with it.
pub(crate) struct Reply {
    pub value: Value,
    pub fds: LineFds,
}

enum Line {
    Event(Event),
    Reply(Value),
    Shutdown,
    SessionTaken,
    /// A line of a later protocol version: ignored.
    Unknown,
}

enum ReplyId {
    Request(u64),
    Wake(u64),
    /// Sent without an id: it answers no request the daemon could read.
    Missing,
    Unknown,
}

pub(crate) struct Connection {
    shared: Arc<Shared>,
    reader: LineReader,
    /// Events that arrived while a request waited, or beyond `Events`'s
    /// capacity, in order.
    pending: VecDeque<Event>,
    next_id: u64,
    request_timeout: Duration,
    broken: Option<Broken>,
}

impl Connection {
    pub fn new(socket: Socket, request_timeout: Duration) -> Connection {
        Connection {
            shared: Arc::new(Shared { socket, refused_wakes: Mutex::new(Vec::new()) }),
            reader: LineReader::new(),
            pending: VecDeque::new(),
            next_id: 1,
            request_timeout,
            broken: None,
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// Sends `{"op":OP,"id":N,…}` (with `fd`, if any) and waits at most the
    /// request timeout for its reply. A refusal is an error with a
    /// `DaemonError` inside; no reply in time closes the connection.
    pub fn request(&mut self, op: &str, fd: Option<RawFd>, fields: impl FnOnce(&mut RequestLine)) -> io::Result<Reply> {
        if let Some(broken) = &self.broken {
            return Err(broken.error());
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut line = RequestLine::new(op, id);
        fields(&mut line);
        let bytes = line.finish();
        let timeout = self.request_timeout;
        let deadline = deadline_after(timeout);
        if let Err(error) = self.shared.socket.send(&bytes, fd, deadline) {
            // The kernel refused to pass the fd: nothing went out (the fd
            // goes with the first bytes), so the stream is as it was.
            if let (Some(fd), Some(libc::EBADF)) = (fd, error.raw_os_error()) {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("fd {fd} cannot be sent with {op}: {error}")));
            }
            return Err(match error.kind() {
                io::ErrorKind::TimedOut => self.break_with(
                    io::ErrorKind::TimedOut,
                    format!("mio-daemon took no {op} request within {timeout:?}; the connection is closed"),
                ),
                kind => self.break_with(kind, format!("sending {op} to mio-daemon failed: {error}")),
            });
        }
        loop {
            while let Some(line) = self.reader.next_line() {
                let line = classify(line);
                match line {
                    Ok(Line::Event(event)) => self.pending.push_back(event),
                    Ok(Line::Reply(value)) => match reply_id(&value) {
                        ReplyId::Request(n) if n == id => {
                            let fds = self.reader.take_fds();
                            return match refusal(&value) {
                                None => Ok(Reply { value, fds }),
                                Some(refused) => Err(refused.into()),
                            };
                        }
                        ReplyId::Missing => {
                            if let Some(refused) = refusal(&value) {
                                return Err(self.refused_without_id(refused));
                            }
                        }
                        _ => self.unrequested_reply(&value),
                    },
                    Ok(Line::Shutdown) => return Err(self.break_with(io::ErrorKind::ConnectionAborted, SHUTTING_DOWN)),
                    Ok(Line::SessionTaken) => return Err(self.break_with(io::ErrorKind::ConnectionAborted, SESSION_TAKEN)),
                    Ok(Line::Unknown) => {}
                    Err(why) => return Err(self.unreadable(why)),
                }
            }
            match self.reader.fill(&self.shared.socket, Wait::Until(deadline), true) {
                Ok(Filled::Data) => {}
                Ok(Filled::Eof) => return Err(self.break_with(io::ErrorKind::ConnectionAborted, CLOSED)),
                Ok(Filled::TimedOut) => {
                    return Err(self.break_with(
                        io::ErrorKind::TimedOut,
                        format!("no reply from mio-daemon to {op} within {timeout:?}; the connection is closed"),
                    ))
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.break_with(error.kind(), format!("reading from mio-daemon failed: {error}"))),
            }
        }
    }

    /// Fills `events` with what has arrived, waiting up to `timeout` (None:
    /// for ever) for at least one event.
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        if events.capacity() == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "Events::with_capacity(0) can hold no event"));
        }
        let wait = match timeout {
            None => Wait::Forever,
            Some(timeout) => Instant::now().checked_add(timeout).map_or(Wait::Forever, Wait::Until),
        };
        loop {
            while !events.is_full() {
                match self.pending.pop_front() {
                    Some(event) => events.push(event),
                    None => break,
                }
            }
            if self.pending.is_empty() {
                self.take_buffered_events(events);
            }
            if !events.is_empty() {
                return Ok(());
            }
            if let Some(broken) = &self.broken {
                return Err(broken.error());
            }
            // No request waits, so no fd can be due: a plain recv().
            match self.reader.fill(&self.shared.socket, wait, false) {
                Ok(Filled::Data) => {}
                Ok(Filled::TimedOut) => return Ok(()),
                Ok(Filled::Eof) => {
                    self.break_with(io::ErrorKind::ConnectionAborted, CLOSED);
                }
                // A signal: mio's poll returns it too.
                Err(error) if error.kind() == io::ErrorKind::Interrupted => return Err(error),
                Err(error) => return Err(self.break_with(error.kind(), format!("reading from mio-daemon failed: {error}"))),
            }
        }
    }

    /// Drops events for `token` not yet returned: after a `deregister`, no
    /// event for it comes out of `poll` (mio's promise).
    pub fn forget_pending(&mut self, token: Token) {
        self.pending.retain(|event| event.token() != token);
    }

    pub fn forget_all_pending(&mut self) {
        self.pending.clear();
    }

    /// Lines already received, into `events` while it has room.
    fn take_buffered_events(&mut self, events: &mut Events) {
        while self.broken.is_none() && !events.is_full() {
            let line = match self.reader.next_line() {
                Some(line) => classify(line),
                None => return,
            };
            match line {
                Ok(Line::Event(event)) => events.push(event),
                Ok(Line::Reply(value)) => match (reply_id(&value), refusal(&value)) {
                    (ReplyId::Missing, Some(refused)) => {
                        self.refused_without_id(refused);
                    }
                    _ => self.unrequested_reply(&value),
                },
                Ok(Line::Shutdown) => {
                    self.break_with(io::ErrorKind::ConnectionAborted, SHUTTING_DOWN);
                }
                Ok(Line::SessionTaken) => {
                    self.break_with(io::ErrorKind::ConnectionAborted, SESSION_TAKEN);
                }
                Ok(Line::Unknown) => {}
                Err(why) => {
                    self.unreadable(why);
                }
            }
        }
    }

    /// A reply no request waits for: a `Waker`'s, or one for a request that
    /// is no longer waited for. Only a refused wake is worth keeping.
    fn unrequested_reply(&mut self, value: &Value) {
        if let ReplyId::Wake(token) = reply_id(value) {
            if let Some(refused) = refusal(value) {
                let mut refused_wakes = self.shared.refused_wakes.lock().unwrap_or_else(|p| p.into_inner());
                refused_wakes.retain(|(t, _)| *t != token);
                refused_wakes.push((token, refused));
            }
        }
    }

    /// A refusal without id: at connect (`permission_denied`,
    /// `limit_exceeded`) or `fd_overflow`; the daemon closes the connection
    /// after it.
    fn refused_without_id(&mut self, refused: DaemonError) -> io::Error {
        self.broken = Some(Broken::new(refused.kind(), refused.to_string()));
        self.shared.socket.shutdown();
        refused.into()
    }

    fn unreadable(&mut self, why: String) -> io::Error {
        self.break_with(io::ErrorKind::InvalidData, format!("mio-daemon sent a line this client cannot read ({why}); the connection is closed"))
    }

    /// Closes the connection for good: every later call returns this error.
    fn break_with(&mut self, kind: io::ErrorKind, message: impl Into<String>) -> io::Error {
        let broken = Broken::new(kind, message);
        let error = broken.error();
        if self.broken.is_none() {
            self.broken = Some(broken);
        }
        self.shared.socket.shutdown();
        error
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Wakers may hold the socket: end the connection for them too.
        self.shared.socket.shutdown();
    }
}

const CLOSED: &str = "mio-daemon closed the connection";
const SHUTTING_DOWN: &str = "mio-daemon is shutting down";
const SESSION_TAKEN: &str = "another connection took this session over (hello with takeover); this Poll is closed";

fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(86400 * 365))
}

fn classify(line: &[u8]) -> Result<Line, String> {
    if let Some(event) = event_line::parse(line) {
        return Ok(Line::Event(event));
    }
    if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return Ok(Line::Unknown);
    }
    let value = json::parse(line)?;
    if value.get("ok").is_some() {
        return Ok(Line::Reply(value));
    }
    match value.get("event").and_then(Value::as_str) {
        Some("ready") => ready_event(&value).map(Line::Event),
        Some("shutdown") => Ok(Line::Shutdown),
        Some("session_taken") => Ok(Line::SessionTaken),
        _ => Ok(Line::Unknown),
    }
}

/// An event line in another form than the fast path's.
fn ready_event(value: &Value) -> Result<Event, String> {
    let token = value.get("token").and_then(Value::as_u64).ok_or("an event without a valid token")?;
    let token = usize::try_from(token).map_err(|_| "an event token wider than usize")?;
    let mut flags = 0;
    for (key, bit) in [
        ("readable", flag::READABLE),
        ("writable", flag::WRITABLE),
        ("error", flag::ERROR),
        ("read_closed", flag::READ_CLOSED),
        ("write_closed", flag::WRITE_CLOSED),
        ("priority", flag::PRIORITY),
    ] {
        if value.get(key).and_then(Value::as_bool) == Some(true) {
            flags |= bit;
        }
    }
    Ok(Event::new(Token(token), flags))
}

fn reply_id(value: &Value) -> ReplyId {
    match value.get("id") {
        None => ReplyId::Missing,
        Some(Value::Unsigned(n)) => ReplyId::Request(*n),
        Some(Value::String(text)) => match text.strip_prefix(WAKE_ID_PREFIX).and_then(|t| t.parse().ok()) {
            Some(token) => ReplyId::Wake(token),
            None => ReplyId::Unknown,
        },
        Some(_) => ReplyId::Unknown,
    }
}

/// The refusal in a reply, if `ok` is not true.
fn refusal(value: &Value) -> Option<DaemonError> {
    if value.get("ok").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let error = value.get("error");
    let field = |key| error.and_then(|e| e.get(key)).and_then(Value::as_str);
    Some(DaemonError::new(
        field("code").unwrap_or("internal"),
        field("message").unwrap_or("the daemon refused the request without saying why"),
    ))
}
