//! Named and persistent sessions (`hello` with `session`, `persist`,
//! `takeover`) through ConnectOptions.

mod support;

use std::io::ErrorKind;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use mio_daemon_client::{DaemonError, Events, Interest, SourceFd, Token, Waker};
use support::{pipe, write_byte, TestDaemon};

#[test]
fn a_persistent_session_keeps_its_fds_and_readiness_between_connections() {
    let daemon = TestDaemon::start();
    let (read_end, write_end) = pipe();
    {
        let poll = daemon.options().session("keep").persist(true).connect().unwrap();
        assert_eq!(poll.session(), Some("keep"));
        poll.registry().register(&mut SourceFd(&read_end.as_raw_fd()), Token(5), Interest::READABLE).unwrap();
        Waker::new(poll.registry(), Token(6)).unwrap();
    }
    // Nobody attached: the daemon still holds the pipe (and the waker's eventfd).
    daemon.expect_fds(0, 2);
    write_byte(&write_end);
    {
        // Another connection of this uid wakes the session's waker.
        let other = daemon.poll();
        other.registry().wake_session("keep", Token(6)).unwrap();
    }
    {
        let mut poll = daemon.options().session("keep").connect().unwrap();
        let mut seen = Vec::new();
        let mut events = Events::with_capacity(8);
        let end = Instant::now() + Duration::from_secs(5);
        while seen.len() < 2 && Instant::now() < end {
            poll.poll(&mut events, Some(Duration::from_secs(5))).unwrap();
            seen.extend(events.iter().map(|e| (e.token(), e.is_readable())));
        }
        seen.sort();
        assert_eq!(seen, vec![(Token(5), true), (Token(6), true)], "readiness from while nobody was attached");
        let tokens: Vec<Token> = poll.registry().list().unwrap().iter().map(|r| r.token).collect();
        assert_eq!(tokens, vec![Token(5), Token(6)]);
        // This registry did not register the fd: reach it by token.
        assert_eq!(poll.registry().deregister(&mut SourceFd(&read_end.as_raw_fd())).unwrap_err().kind(), ErrorKind::NotFound);
        poll.registry().reregister_token(Token(5), Interest::READABLE).unwrap();
        poll.registry().end_session().unwrap();
        assert!(poll.registry().list().unwrap().is_empty());
        daemon.expect_fds(1, 0);
    }
    // Ended: a new hello finds a fresh session.
    {
        let poll = daemon.options().session("keep").connect().unwrap();
        assert!(poll.registry().list().unwrap().is_empty());
    }
    daemon.finish();
}

#[test]
fn a_held_session_is_busy_unless_taken_over() {
    let daemon = TestDaemon::start();
    {
        let mut first = daemon.options().session("busy").connect().unwrap();
        let error = daemon.options().session("busy").connect().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse);
        assert_eq!(DaemonError::of(&error).unwrap().code(), "session_busy");

        let (read_end, _write_end) = pipe();
        first.registry().register(&mut SourceFd(&read_end.as_raw_fd()), Token(1), Interest::READABLE).unwrap();
        let second = daemon.options().session("busy").takeover(true).connect().unwrap();
        assert_eq!(second.registry().list().unwrap().len(), 1, "the taken session keeps its registrations");
        let error = first.poll(&mut Events::with_capacity(4), Some(Duration::from_secs(5))).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionAborted);
        assert!(error.to_string().contains("took this session over"), "{error}");
        // The first Poll closed its connection.
        daemon.expect_fds(1, 1);
    }
    daemon.finish();
}
