//! `Event` and `Events`, with mio 0.8's accessors: an event is the daemon's
//! event line (protocol §7), its six flags computed by the daemon exactly as
//! mio computes them from epoll's bits on Linux.

use std::fmt;

use mio::Token;

/// The six flags of an event line, as bits (the same values as the C
/// client's `MIO_EVENT_*`).
pub(crate) mod flag {
    pub const READABLE: u8 = 1;
    pub const WRITABLE: u8 = 2;
    pub const ERROR: u8 = 4;
    pub const READ_CLOSED: u8 = 8;
    pub const WRITE_CLOSED: u8 = 16;
    pub const PRIORITY: u8 = 32;
}

/// A readiness event, as [`mio::event::Event`].
///
/// As in mio, an event means "go and look": drain the fd until
/// `WouldBlock`, and expect spurious events.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    token: Token,
    flags: u8,
}

impl Event {
    pub(crate) fn new(token: Token, flags: u8) -> Event {
        Event { token, flags }
    }

    /// The token given at registration.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Readable; also set by priority readiness, as in mio.
    pub fn is_readable(&self) -> bool {
        self.flags & flag::READABLE != 0
    }

    pub fn is_writable(&self) -> bool {
        self.flags & flag::WRITABLE != 0
    }

    /// `EPOLLERR`.
    pub fn is_error(&self) -> bool {
        self.flags & flag::ERROR != 0
    }

    /// The read half is closed (`EPOLLHUP`, or `EPOLLIN` with `EPOLLRDHUP`).
    pub fn is_read_closed(&self) -> bool {
        self.flags & flag::READ_CLOSED != 0
    }

    /// The write half is closed (`EPOLLHUP`, `EPOLLOUT` with `EPOLLERR`, or
    /// `EPOLLERR` alone).
    pub fn is_write_closed(&self) -> bool {
        self.flags & flag::WRITE_CLOSED != 0
    }

    /// `EPOLLPRI` (register with [`RemoteInterest::PRIORITY`](crate::RemoteInterest::PRIORITY)).
    pub fn is_priority(&self) -> bool {
        self.flags & flag::PRIORITY != 0
    }

    /// Always false: AIO readiness exists on the BSDs only, as in mio.
    pub fn is_aio(&self) -> bool {
        false
    }

    /// Always false: LIO readiness exists on FreeBSD only, as in mio.
    pub fn is_lio(&self) -> bool {
        false
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("token", &self.token)
            .field("readable", &self.is_readable())
            .field("writable", &self.is_writable())
            .field("error", &self.is_error())
            .field("read_closed", &self.is_read_closed())
            .field("write_closed", &self.is_write_closed())
            .field("priority", &self.is_priority())
            .finish()
    }
}

/// Storage for the events of one [`Poll::poll`](crate::Poll::poll), as
/// [`mio::Events`]: at most `capacity` events per call. Events beyond it are
/// kept for the next call, never dropped.
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    pub fn with_capacity(capacity: usize) -> Events {
        Events { list: Vec::with_capacity(capacity.min(4096)), capacity }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter { inner: self.list.iter() }
    }

    /// Removes the events; `poll` does it too, before it fills them.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    pub(crate) fn is_full(&self) -> bool {
        self.list.len() >= self.capacity
    }

    pub(crate) fn push(&mut self, event: Event) {
        self.list.push(event);
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.list.iter()).finish()
    }
}

/// The events of one `poll`, in the order the daemon sent them.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: std::slice::Iter<'a, Event>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Event;

    fn next(&mut self) -> Option<&'a Event> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}
