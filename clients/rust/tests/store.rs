//! Held fds (`Registry::store`, docs/protocol.md, "Holding without
//! polling"): any kind of fd, never polled, fetched back with its content,
//! listed as held; against the real daemon.

mod support;

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mio_daemon_client::{DaemonError, Events, Interest, Registration, SourceFd, Token};
use support::{identity, pipe, write_byte, TempDir, TestDaemon};

fn memfd(name: &str) -> File {
    let name = std::ffi::CString::new(name).unwrap();
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    unsafe { File::from_raw_fd(fd) }
}

fn content(file: &File) -> String {
    let mut buffer = [0u8; 64];
    let n = file.read_at(&mut buffer, 0).unwrap();
    String::from_utf8(buffer[..n].to_vec()).unwrap()
}

fn code(error: &std::io::Error) -> &str {
    DaemonError::of(error).unwrap_or_else(|| panic!("no DaemonError in {error:?}")).code()
}

fn held(token: usize, kind: &str) -> Registration {
    Registration {
        token: Token(token),
        interest: None,
        mode: None,
        kind: kind.to_string(),
        held: true,
        interval: None,
        expires_in: None,
    }
}

#[test]
fn a_memfd_is_held_and_comes_back_with_its_content() {
    let daemon = TestDaemon::start();
    {
        let poll = daemon.poll();
        let registry = poll.registry();
        let mut state = memfd("mio-rust-store");
        state.write_all(b"held state").unwrap();
        let identity_of_state = identity(state.as_raw_fd());
        registry.store(&state, Token(1)).unwrap();
        daemon.expect_fds(1, 1);
        drop(state); // ours gone: the daemon's copy keeps the content
        assert_eq!(registry.list().unwrap(), vec![held(1, "memfd")]);

        let copy = File::from(registry.fetch(Token(1), false).unwrap());
        assert_eq!(identity(copy.as_raw_fd()), identity_of_state);
        assert_eq!(content(&copy), "held state");
        copy.write_at(b" and more", 10).unwrap();
        drop(copy);
        daemon.expect_fds(1, 1);

        // With deregister: the daemon's own copy, with what the first copy wrote.
        let own = File::from(registry.fetch(Token(1), true).unwrap());
        assert_eq!(content(&own), "held state and more");
        daemon.expect_fds(1, 0);
        assert!(registry.list().unwrap().is_empty());
        let error = registry.fetch(Token(1), false).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::NotFound, "unknown_token"));
    }
    daemon.finish();
}

#[test]
fn any_kind_of_fd_is_held_never_polled() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let registry = poll.registry();
        let dir = TempDir::new("store");
        let file = File::create(dir.0.join("plain")).unwrap();
        let directory = File::open(&dir.0).unwrap();
        let (read_end, write_end) = pipe();
        registry.store(&file, Token(2)).unwrap();
        registry.store(&directory, Token(3)).unwrap();
        registry.store(&read_end, Token(4)).unwrap();
        daemon.expect_fds(1, 3);
        assert_eq!(registry.list().unwrap(), vec![held(2, "file"), held(3, "directory"), held(4, "pipe")]);
        // Held, not watched: data in the pipe makes no event.
        write_byte(&write_end);
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_millis(150))).unwrap();
        assert!(events.is_empty(), "{events:?}");

        let registry = poll.registry();
        let error = registry.store(&file, Token(2)).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::AlreadyExists, "token_in_use"));
        // A connection to the daemon itself is refused.
        let to_daemon = UnixStream::connect(&daemon.socket).unwrap();
        let error = registry.store(&to_daemon, Token(5)).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::InvalidInput, "bad_fd"));
        drop(to_daemon);
        let error = registry.reregister_token(Token(2), Interest::READABLE).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::Other, "wrong_state"));
        // The source is not linked to the held fd: only its token reaches it.
        let error = registry.deregister(&mut SourceFd(&file.as_raw_fd())).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert!(DaemonError::of(&error).is_none());
        // An fd that is not open: the kernel refuses to pass it.
        let closed = {
            let (c, _c_writer) = pipe();
            c.as_raw_fd()
        };
        let error = registry.store(&SourceFd(&closed), Token(6)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
        registry.ping().unwrap();

        registry.deregister_token(Token(2)).unwrap();
        daemon.expect_fds(1, 2);
        let _: OwnedFd = registry.fetch(Token(3), true).unwrap();
        daemon.expect_fds(1, 1);
    }
    // The end of the session closes the rest.
    daemon.finish();
}
