//! Lines from the daemon's byte stream, and the fds that came with them.
//!
//! The client applies the daemon's own rule (protocol §5.2) to what it
//! receives: the fds of one `recvmsg()` belong to the last line that begins
//! within that `recvmsg()`'s bytes, or, if none begins there, to the line
//! that runs through them. The daemon sends a `fetch` reply in a
//! `sendmsg()` of its own, so its fd lands on it.

use std::collections::VecDeque;
use std::io;
use std::os::unix::io::OwnedFd;

use crate::error::other;
use crate::socket::{Received, Socket, Wait};

/// Free space wanted before each receive.
const MIN_READ: usize = 16 * 1024;
const INITIAL_CAPACITY: usize = 64 * 1024;
/// A longer line from the daemon means something is wrong.
const MAX_LINE: usize = 64 << 20;

pub(crate) enum Filled {
    Data,
    Eof,
    TimedOut,
}

/// Fds that arrived on the line starting at stream position `line_start`.
struct FdBatch {
    line_start: u64,
    fds: Vec<OwnedFd>,
    truncated: bool,
}

/// The fds of the line last returned by `next_line`.
#[derive(Default)]
pub(crate) struct LineFds {
    pub fds: Vec<OwnedFd>,
    /// Some fds meant for this line were lost (`MSG_CTRUNC`).
    pub truncated: bool,
}

pub(crate) struct LineReader {
    buffer: Vec<u8>,
    /// Unconsumed bytes are `buffer[start..end]`; `start` is always at the
    /// beginning of a line.
    start: usize,
    end: usize,
    /// Where the search for the next newline resumes.
    scanned: usize,
    /// Stream position of `buffer[0]`.
    base: u64,
    batches: VecDeque<FdBatch>,
    current: LineFds,
    received: Vec<OwnedFd>,
}

impl LineReader {
    pub fn new() -> LineReader {
        LineReader {
            buffer: vec![0; INITIAL_CAPACITY],
            start: 0,
            end: 0,
            scanned: 0,
            base: 0,
            batches: VecDeque::new(),
            current: LineFds::default(),
            received: Vec::new(),
        }
    }

    /// The next complete line (without its newline), if one is buffered. Its
    /// fds go to `take_fds`; those not taken are closed with the next line.
    pub fn next_line(&mut self) -> Option<&[u8]> {
        let offset = match memchr(b'\n', &self.buffer[self.scanned..self.end]) {
            Some(offset) => offset,
            None => {
                self.scanned = self.end;
                return None;
            }
        };
        let line_end = self.scanned + offset;
        let line_start = self.start;
        let position = self.base + line_start as u64;
        self.start = line_end + 1;
        self.scanned = self.start;
        self.current = LineFds::default();
        while let Some(batch) = self.batches.front() {
            if batch.line_start > position {
                break;
            }
            let batch = self.batches.pop_front().expect("front exists");
            if batch.line_start == position {
                self.current.fds.extend(batch.fds);
                self.current.truncated |= batch.truncated;
            }
        }
        Some(&self.buffer[line_start..line_end])
    }

    pub fn take_fds(&mut self) -> LineFds {
        std::mem::take(&mut self.current)
    }

    /// Receives more bytes from `socket`; with `accept_fds`, the fds that
    /// come along too (a request's path: a `fetch` reply may carry one).
    pub fn fill(&mut self, socket: &Socket, wait: Wait, accept_fds: bool) -> io::Result<Filled> {
        self.make_room()?;
        let first = self.end;
        let fds = if accept_fds { Some(&mut self.received) } else { None };
        let received = socket.receive(&mut self.buffer[first..], fds, wait)?;
        let (count, truncated) = match received {
            Received::Bytes { count, fds_truncated } => (count, fds_truncated),
            Received::Eof => {
                self.received.clear();
                return Ok(Filled::Eof);
            }
            Received::TimedOut => return Ok(Filled::TimedOut),
        };
        self.end += count;
        if (!self.received.is_empty() || truncated) && count > 0 {
            let owner = self.owning_line_start(first, self.end);
            self.batches.push_back(FdBatch {
                line_start: self.base + owner as u64,
                fds: std::mem::take(&mut self.received),
                truncated,
            });
        }
        self.received.clear();
        Ok(Filled::Data)
    }

    /// The start of the line that owns fds received with `buffer[from..to]`
    /// (protocol §5.2's rule).
    fn owning_line_start(&self, from: usize, to: usize) -> usize {
        // A newline before the last byte: a line begins right after it.
        if let Some(offset) = memrchr(b'\n', &self.buffer[from..to - 1]) {
            return from + offset + 1;
        }
        // Otherwise the line running through `from` (perhaps starting there).
        match memrchr(b'\n', &self.buffer[self.start..from]) {
            Some(offset) => self.start + offset + 1,
            None => self.start,
        }
    }

    fn make_room(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.base += self.start as u64;
            self.start = 0;
            self.end = 0;
            self.scanned = 0;
        }
        if self.buffer.len() - self.end >= MIN_READ {
            return Ok(());
        }
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.buffer.len() - self.end < MIN_READ {
            if self.buffer.len() >= MAX_LINE {
                return Err(other(format!("mio-daemon sent a line longer than {MAX_LINE} bytes")));
            }
            let bigger = self.buffer.len() * 2;
            self.buffer.resize(bigger, 0);
        }
        Ok(())
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    if haystack.is_empty() {
        return None;
    }
    // SAFETY: the pointer and length describe `haystack`.
    let found = unsafe { libc::memchr(haystack.as_ptr() as *const libc::c_void, needle as libc::c_int, haystack.len()) };
    if found.is_null() {
        None
    } else {
        Some(found as usize - haystack.as_ptr() as usize)
    }
}

fn memrchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().rposition(|&b| b == needle)
}
