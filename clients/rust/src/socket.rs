//! The Unix stream socket to the daemon: connect, send a line with at most
//! one fd (protocol §5.1: one `sendmsg()` per `register`), receive bytes
//! with the fds that came along.
//!
//! The socket is blocking, so a `poll(None)` costs one `recvmsg()`. Every
//! other wait has a deadline: sends use `MSG_DONTWAIT` and wait for
//! `POLLOUT` with poll(2), receives wait for `POLLIN` first.

use std::io;
use std::mem;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a receive may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    Forever,
    Until(Instant),
}

pub(crate) enum Received {
    /// `count` bytes; `fds_truncated` when the kernel dropped fds
    /// (`MSG_CTRUNC`, e.g. this process is out of fds).
    Bytes { count: usize, fds_truncated: bool },
    Eof,
    TimedOut,
}

/// The most fds one receive takes; the daemon sends one at a time.
const MAX_FDS: usize = 16;

pub(crate) struct Socket {
    fd: OwnedFd,
    /// Whole lines: the `Waker` sends from other threads on this socket.
    send_lock: Mutex<()>,
}

impl Socket {
    /// Connects to `path`; waits (backlog full) until `deadline` at most.
    pub fn connect(path: &Path, deadline: Instant) -> io::Result<Socket> {
        let bytes = path.as_os_str().as_bytes();
        // SAFETY: an all-zero sockaddr_un is valid.
        let mut address: libc::sockaddr_un = unsafe { mem::zeroed() };
        if bytes.len() >= address.sun_path.len() || bytes.is_empty() || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a usable Unix socket path (1 to {} bytes, no NUL)", path.display(), address.sun_path.len() - 1),
            ));
        }
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (slot, &byte) in address.sun_path.iter_mut().zip(bytes) {
            *slot = byte as libc::c_char;
        }
        // Non-blocking while connecting: a full backlog gives EAGAIN instead
        // of a wait without end.
        let raw = cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) })?;
        // SAFETY: `raw` is a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let length = (mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
        loop {
            let rc = unsafe { libc::connect(raw, &address as *const _ as *const libc::sockaddr, length) };
            if rc == 0 {
                break;
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                Some(libc::EAGAIN) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("mio-daemon at {} accepts no connection (its backlog is full)", path.display()),
                    ))
                }
                _ => {
                    return Err(io::Error::new(
                        error.kind(),
                        format!("cannot connect to mio-daemon at {}: {error} (is it running? see MIO_SOCKET)", path.display()),
                    ))
                }
            }
        }
        let flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
        cvt(unsafe { libc::fcntl(raw, libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
        Ok(Socket { fd, send_lock: Mutex::new(()) })
    }

    /// Sends `line` whole, with `fd` (if any) on its first bytes. An
    /// `EBADF` (the kernel refused the fd) comes only before any byte went out.
    pub fn send(&self, line: &[u8], fd: Option<RawFd>, deadline: Instant) -> io::Result<()> {
        let _whole_line = self.send_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut sent = 0;
        let mut fd = fd;
        while sent < line.len() {
            let mut iov = libc::iovec { iov_base: line[sent..].as_ptr() as *mut libc::c_void, iov_len: line.len() - sent };
            let mut control = ControlBuffer::new();
            // SAFETY: an all-zero msghdr is valid.
            let mut message: libc::msghdr = unsafe { mem::zeroed() };
            message.msg_iov = &mut iov;
            message.msg_iovlen = 1;
            if let Some(fd) = fd {
                message.msg_control = control.as_mut_ptr();
                message.msg_controllen = unsafe { libc::CMSG_SPACE(mem::size_of::<RawFd>() as u32) } as _;
                // SAFETY: the control buffer has room for one header and one fd.
                unsafe {
                    let header = libc::CMSG_FIRSTHDR(&message);
                    (*header).cmsg_level = libc::SOL_SOCKET;
                    (*header).cmsg_type = libc::SCM_RIGHTS;
                    (*header).cmsg_len = libc::CMSG_LEN(mem::size_of::<RawFd>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(header) as *mut RawFd, fd);
                }
            }
            let n = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &message, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
            if n >= 0 {
                sent += n as usize;
                fd = None; // went with the first bytes
                continue;
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => match self.wait_for(libc::POLLOUT, deadline) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "mio-daemon reads no requests (send timed out)"))
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                },
                Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN) => {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the connection to mio-daemon is closed"))
                }
                _ => return Err(error),
            }
        }
        Ok(())
    }

    /// Receives into `buffer`. With `fds`, by `recvmsg()`, pushing the fds
    /// that came along onto it; without, by `recv()`, and the kernel
    /// discards any fd (only a `fetch` reply carries one, and it is read
    /// with `fds`). `Interrupted` is returned to the caller, as mio's poll
    /// does.
    pub fn receive(&self, buffer: &mut [u8], fds: Option<&mut Vec<OwnedFd>>, wait: Wait) -> io::Result<Received> {
        let mut flags = libc::MSG_CMSG_CLOEXEC;
        if let Wait::Until(deadline) = wait {
            if !self.wait_for(libc::POLLIN, deadline)? {
                return Ok(Received::TimedOut);
            }
            flags |= libc::MSG_DONTWAIT;
        }
        let fds = match fds {
            Some(fds) => fds,
            None => {
                // The event path: one plain recv(), no control buffer.
                let n = unsafe { libc::recv(self.fd.as_raw_fd(), buffer.as_mut_ptr() as *mut libc::c_void, buffer.len(), flags) };
                return received(n, false);
            }
        };
        let mut iov = libc::iovec { iov_base: buffer.as_mut_ptr() as *mut libc::c_void, iov_len: buffer.len() };
        let mut control = ControlBuffer::new();
        // SAFETY: an all-zero msghdr is valid.
        let mut message: libc::msghdr = unsafe { mem::zeroed() };
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr();
        message.msg_controllen = mem::size_of::<ControlBuffer>() as _;
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut message, flags) };
        if n < 0 {
            return received(n, false);
        }
        // SAFETY: the kernel filled `message`; the headers are within it.
        unsafe {
            let mut header = libc::CMSG_FIRSTHDR(&message);
            while !header.is_null() {
                if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(header) as *const RawFd;
                    let count = ((*header).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / mem::size_of::<RawFd>();
                    for i in 0..count {
                        fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                    }
                }
                header = libc::CMSG_NXTHDR(&message, header);
            }
        }
        received(n, message.msg_flags & libc::MSG_CTRUNC != 0)
    }

    /// Ends the connection for every holder of this socket (a `Waker` may
    /// keep the fd open after its `Poll` is gone).
    pub fn shutdown(&self) {
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
    }

    /// Waits for `events` on the socket until `deadline`; false on timeout,
    /// `Interrupted` on a signal.
    fn wait_for(&self, events: libc::c_short, deadline: Instant) -> io::Result<bool> {
        loop {
            let now = Instant::now();
            let timeout_ms = if deadline > now { ceil_millis(deadline - now) } else { 0 };
            let mut entry = libc::pollfd { fd: self.fd.as_raw_fd(), events, revents: 0 };
            let rc = unsafe { libc::poll(&mut entry, 1, timeout_ms) };
            if rc > 0 {
                return Ok(true);
            }
            if rc == 0 {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                continue;
            }
            // EINTR included: the caller decides whether to go on.
            return Err(io::Error::last_os_error());
        }
    }
}

/// What a `recv()`/`recvmsg()` result means.
fn received(n: isize, fds_truncated: bool) -> io::Result<Received> {
    if n > 0 {
        return Ok(Received::Bytes { count: n as usize, fds_truncated });
    }
    if n == 0 {
        return Ok(Received::Eof);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        // poll said readable, yet nothing is there: a spurious wake-up
        Some(libc::EAGAIN) => Ok(Received::Bytes { count: 0, fds_truncated: false }),
        Some(libc::ECONNRESET) => Ok(Received::Eof),
        _ => Err(error),
    }
}

/// Milliseconds for poll(2), rounded up so that a wait never ends early.
fn ceil_millis(duration: Duration) -> libc::c_int {
    let millis = (duration.as_nanos() + 999_999) / 1_000_000;
    millis.min(libc::c_int::MAX as u128) as libc::c_int
}

/// Room for `MAX_FDS` fds, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct ControlBuffer([u8; 16 + MAX_FDS * 4]);

impl ControlBuffer {
    fn new() -> ControlBuffer {
        ControlBuffer([0; 16 + MAX_FDS * 4])
    }

    fn as_mut_ptr(&mut self) -> *mut libc::c_void {
        self.0.as_mut_ptr() as *mut libc::c_void
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}
