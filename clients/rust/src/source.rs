//! What can be registered: anything with an fd.
//!
//! mio's own `event::Source` trait registers through mio's `Registry`, which
//! a remote Poll is not, so this crate has a `Source` of its own: the fd to
//! hand the daemon. It is implemented for mio's [`SourceFd`], mio's socket
//! and pipe types, their std counterparts and `OwnedFd`/`BorrowedFd`, so the
//! calls of a mio program compile unchanged. For a type of your own, wrap
//! its fd in `SourceFd(&fd)`, as in mio, or implement `Source`.

use std::os::unix::io::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use mio::unix::SourceFd;

/// A source of readiness: the fd the daemon is to watch. The daemon keeps
/// its own copy of it (protocol §5.6); closing yours does not end the
/// registration.
pub trait Source {
    fn raw_fd(&self) -> RawFd;
}

impl Source for SourceFd<'_> {
    fn raw_fd(&self) -> RawFd {
        *self.0
    }
}

impl Source for BorrowedFd<'_> {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }
}

impl<T: Source + ?Sized> Source for Box<T> {
    fn raw_fd(&self) -> RawFd {
        (**self).raw_fd()
    }
}

macro_rules! sources_by_as_raw_fd {
    ($($type:ty),* $(,)?) => {
        $(
            impl Source for $type {
                fn raw_fd(&self) -> RawFd {
                    self.as_raw_fd()
                }
            }
        )*
    };
}

sources_by_as_raw_fd!(
    mio::net::TcpListener,
    mio::net::TcpStream,
    mio::net::UdpSocket,
    mio::net::UnixDatagram,
    mio::net::UnixListener,
    mio::net::UnixStream,
    mio::unix::pipe::Receiver,
    mio::unix::pipe::Sender,
    std::net::TcpListener,
    std::net::TcpStream,
    std::net::UdpSocket,
    std::os::unix::net::UnixDatagram,
    std::os::unix::net::UnixListener,
    std::os::unix::net::UnixStream,
    std::fs::File,
    std::process::ChildStdin,
    std::process::ChildStdout,
    std::process::ChildStderr,
    std::io::Stdin,
    std::io::Stdout,
    std::io::Stderr,
    OwnedFd,
);
