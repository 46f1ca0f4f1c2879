//! Waker (the daemon's `waker` and `wake`) and fetch (a held fd back as an
//! OwnedFd), against the real daemon.

mod support;

use std::io::{ErrorKind, Read};
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use mio_daemon_client::{DaemonError, Events, Interest, SourceFd, Token, Waker};
use support::{identity, pipe, TestDaemon};

#[test]
fn a_waker_wakes_poll_from_another_thread() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let waker = Waker::new(poll.registry(), Token(9)).unwrap();
        let listed = poll.registry().list().unwrap();
        assert_eq!((listed[0].token, listed[0].kind.as_str()), (Token(9), "waker"));
        // The daemon's waker is an eventfd of its own.
        daemon.expect_fds(1, 1);
        let start = Instant::now();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            waker.wake().unwrap();
            waker
        });
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, None).unwrap(); // blocks until the wake
        let event = *events.iter().next().unwrap();
        assert_eq!(event.token(), Token(9));
        assert!(event.is_readable(), "{event:?}");
        assert!(start.elapsed() >= Duration::from_millis(90));
        let waker = thread.join().unwrap();

        // Two wakes before the event is taken coalesce into one.
        waker.wake().unwrap();
        waker.wake().unwrap();
        poll.registry().ping().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut seen = 0;
        let end = Instant::now() + Duration::from_millis(300);
        while Instant::now() < end {
            poll.poll(&mut events, Some(Duration::from_millis(50))).unwrap();
            seen += events.iter().filter(|e| e.token() == Token(9)).count();
        }
        assert!(seen == 1 || seen == 2, "{seen} events for two wakes");

        // A second waker under the same token is refused.
        let error = Waker::new(poll.registry(), Token(9)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert_eq!(DaemonError::of(&error).unwrap().code(), "token_in_use");
    }
    daemon.finish();
}

#[test]
fn a_refused_wake_is_reported_by_the_next_wake() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let waker = Waker::new(poll.registry(), Token(3)).unwrap();
        poll.registry().deregister_token(Token(3)).unwrap();
        let mut events = Events::with_capacity(4);
        let mut result = waker.wake();
        let end = Instant::now() + Duration::from_secs(5);
        while result.is_ok() && Instant::now() < end {
            // The refusal reaches the Poll's reader; the next wake returns it.
            poll.poll(&mut events, Some(Duration::from_millis(50))).unwrap();
            assert!(events.is_empty(), "{events:?}");
            result = waker.wake();
        }
        let error = result.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert_eq!(DaemonError::of(&error).unwrap().code(), "unknown_token");
    }
    daemon.finish();
}

#[test]
fn a_waker_outliving_its_poll_fails_and_holds_nothing() {
    let daemon = TestDaemon::start();
    let poll = daemon.poll();
    let waker = Waker::new(poll.registry(), Token(1)).unwrap();
    drop(poll);
    // The connection is gone although the waker still has the socket.
    daemon.expect_fds(0, 0);
    assert_eq!(waker.wake().unwrap_err().kind(), ErrorKind::BrokenPipe);
    drop(waker);
    daemon.finish();
}

#[test]
fn fetch_hands_the_held_fd_back() {
    let daemon = TestDaemon::start();
    {
        let poll = daemon.poll();
        let (read_end, write_end) = pipe();
        let original = identity(read_end.as_raw_fd());
        poll.registry().register(&mut SourceFd(&read_end.as_raw_fd()), Token(7), Interest::READABLE).unwrap();
        drop(read_end); // only the daemon's copy is left
        support::write_byte(&write_end);

        // deregister: false: a new descriptor, the registration stays.
        let copy = poll.registry().fetch(Token(7), false).unwrap();
        assert_eq!(identity(copy.as_raw_fd()), original);
        let mut byte = [0u8; 1];
        assert_eq!(std::fs::File::from(copy).read(&mut byte).unwrap(), 1);
        assert_eq!(poll.registry().list().unwrap().len(), 1);
        daemon.expect_fds(1, 1);

        // deregister: true: the daemon's own copy, the registration ends.
        let last = poll.registry().fetch(Token(7), true).unwrap();
        assert_eq!(identity(last.as_raw_fd()), original);
        assert!(poll.registry().list().unwrap().is_empty());
        daemon.expect_fds(1, 0);

        let error = poll.registry().fetch(Token(7), false).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert_eq!(DaemonError::of(&error).unwrap().code(), "unknown_token");

        // A waker holds no fd of ours to fetch.
        let _waker = Waker::new(poll.registry(), Token(8)).unwrap();
        let error = poll.registry().fetch(Token(8), false).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert_eq!(DaemonError::of(&error).unwrap().code(), "bad_request");
        // No fd arrived with the refusal: ours are the pipe's write end and `last`.
        drop(last);
    }
    daemon.finish();
}
