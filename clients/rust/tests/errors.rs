//! Refusals, connection errors and timeouts: every one an io::Error of a
//! clear kind, a refusal with the protocol's code inside, and nothing left
//! behind in the daemon.

mod support;

use std::io::ErrorKind;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use mio_daemon_client::{DaemonError, Events, Interest, Poll, SourceFd, Token};
use support::{pipe, TempDir, TestDaemon};

fn code(error: &std::io::Error) -> &str {
    DaemonError::of(error).unwrap_or_else(|| panic!("no DaemonError in {error:?}")).code()
}

#[test]
fn refused_requests_carry_the_protocols_code() {
    let daemon = TestDaemon::start();
    {
        let poll = daemon.poll();
        let registry = poll.registry();

        // A regular file cannot be polled; the daemon closes its copy.
        let dir = TempDir::new("file");
        let file = std::fs::File::create(dir.0.join("plain")).unwrap();
        let error = registry.register(&mut SourceFd(&file.as_raw_fd()), Token(1), Interest::READABLE).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::Unsupported, "not_pollable"));
        assert!(error.to_string().contains("not_pollable"), "{error}");
        daemon.expect_fds(1, 0);

        // A token the session has.
        let (a, _a_writer) = pipe();
        let (b, _b_writer) = pipe();
        registry.register(&mut SourceFd(&a.as_raw_fd()), Token(1), Interest::READABLE).unwrap();
        let error = registry.register(&mut SourceFd(&b.as_raw_fd()), Token(1), Interest::READABLE).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::AlreadyExists, "token_in_use"));
        daemon.expect_fds(1, 1);

        // The same fd twice: refused here, as epoll would (EEXIST).
        let error = registry.register(&mut SourceFd(&a.as_raw_fd()), Token(2), Interest::READABLE).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert!(DaemonError::of(&error).is_none());

        // Tokens and sources nobody registered.
        let error = registry.deregister_token(Token(99)).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::NotFound, "unknown_token"));
        let error = registry.reregister_token(Token(99), Interest::WRITABLE).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::NotFound, "unknown_token"));
        let error = registry.deregister(&mut SourceFd(&b.as_raw_fd())).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        let error = registry.reregister(&mut SourceFd(&b.as_raw_fd()), Token(1), Interest::READABLE).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        let error = registry.wake_session("nobody-has-this", Token(1)).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::NotFound, "unknown_token"));

        // An fd that is not open: the kernel refuses to pass it, nothing is
        // sent, and the connection goes on.
        let closed = {
            let (c, _c_writer) = pipe();
            c.as_raw_fd()
        };
        let error = registry.register(&mut SourceFd(&closed), Token(3), Interest::READABLE).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
        assert!(DaemonError::of(&error).is_none());

        // The connection is still fine after refusals.
        registry.ping().unwrap();
        registry.deregister(&mut SourceFd(&a.as_raw_fd())).unwrap();
        daemon.expect_fds(1, 0);
    }
    daemon.finish();
}

#[test]
fn bad_sessions_are_refused_at_connect() {
    let daemon = TestDaemon::start();
    let error = daemon.options().session("no spaces allowed").connect().unwrap_err();
    assert_eq!((error.kind(), code(&error)), (ErrorKind::InvalidInput, "bad_request"));
    let error = daemon.options().persist(true).connect().unwrap_err();
    assert_eq!((error.kind(), code(&error)), (ErrorKind::InvalidInput, "bad_request"));
    daemon.finish();
}

#[test]
fn connecting_where_no_daemon_listens_names_the_path() {
    let dir = TempDir::new("nodaemon");
    let path = dir.0.join("absent.sock");
    let error = Poll::connect_at(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");

    // A socket file nobody listens on.
    let stale = dir.0.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert_eq!(Poll::connect_at(&stale).unwrap_err().kind(), ErrorKind::ConnectionRefused);

    let long = dir.0.join("x".repeat(200));
    assert_eq!(Poll::connect_at(&long).unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn a_request_without_reply_times_out_and_closes_the_connection() {
    let daemon = TestDaemon::start();
    {
        let (read_end, _write_end) = pipe();
        let poll = daemon.poll();
        poll.registry().set_request_timeout(Duration::from_millis(300));
        assert_eq!(poll.registry().request_timeout(), Duration::from_millis(300));
        daemon.signal(libc::SIGSTOP);
        let start = Instant::now();
        let error = poll.registry().register(&mut SourceFd(&read_end.as_raw_fd()), Token(1), Interest::READABLE).unwrap_err();
        let waited = start.elapsed();
        daemon.signal(libc::SIGCONT);
        assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
        assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3), "waited {waited:?}");
        // The late reply cannot be trusted: the connection is closed, and
        // every later call says so at once.
        let start = Instant::now();
        assert_eq!(poll.registry().ping().unwrap_err().kind(), ErrorKind::TimedOut);
        let mut poll = poll;
        assert!(poll.poll(&mut Events::with_capacity(4), None).is_err());
        assert!(start.elapsed() < Duration::from_millis(100));
        // The daemon drops the session, the fd it may have registered too.
        daemon.expect_fds(0, 0);
    }
    daemon.finish();
}

#[test]
fn connecting_to_a_daemon_that_does_not_answer_times_out() {
    let daemon = TestDaemon::start();
    daemon.signal(libc::SIGSTOP);
    let start = Instant::now();
    let error = daemon.options().request_timeout(Duration::from_millis(300)).connect().unwrap_err();
    let waited = start.elapsed();
    daemon.signal(libc::SIGCONT);
    assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(3), "waited {waited:?}");
    daemon.finish();
}

#[test]
fn a_daemon_shutting_down_ends_a_blocked_poll() {
    let mut daemon = TestDaemon::start();
    let mut poll = daemon.poll();
    let pid = daemon.pid();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        unsafe { libc::kill(pid, libc::SIGTERM) };
    });
    let error = poll.poll(&mut Events::with_capacity(4), None).unwrap_err();
    stopper.join().unwrap();
    assert_eq!(error.kind(), ErrorKind::ConnectionAborted, "{error}");
    assert!(error.to_string().contains("shutting down"), "{error}");
    // Every later call fails the same way, at once.
    assert_eq!(poll.registry().ping().unwrap_err().kind(), ErrorKind::ConnectionAborted);
    drop(poll);
    daemon.wait_exit_zero();
}
