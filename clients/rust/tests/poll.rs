//! Poll, Registry and Events against the real daemon: each test has its own
//! daemon and ends with its fd count back at the baseline.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::pipe;
use mio_daemon_client::{Event, Events, Interest, Mode, Poll, RemoteInterest, SourceFd, Token};
use support::{drain, pipe, write_byte, TestDaemon};

/// Events until one for `token` comes (or `within` passes: then panics).
fn event_for(poll: &mut Poll, token: Token, within: Duration) -> Event {
    let end = Instant::now() + within;
    let mut events = Events::with_capacity(16);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no event for {token:?} within {within:?}");
        poll.poll(&mut events, Some(left)).expect("poll");
        if let Some(event) = events.iter().find(|e| e.token() == token) {
            return *event;
        }
    }
}

/// Asserts no event comes within `window`.
fn no_event(poll: &mut Poll, window: Duration) {
    let mut events = Events::with_capacity(16);
    poll.poll(&mut events, Some(window)).expect("poll");
    assert!(events.is_empty(), "unexpected events: {events:?}");
}

const SECOND: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(150);

#[test]
fn a_registered_pipe_reports_readable_and_deregister_stops_it() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let (read_end, write_end) = pipe();
        poll.registry().register(&mut SourceFd(&read_end.as_raw_fd()), Token(7), Interest::READABLE).unwrap();
        daemon.expect_fds(1, 1);
        no_event(&mut poll, QUIET);

        write_byte(&write_end);
        let event = event_for(&mut poll, Token(7), SECOND);
        assert!(event.is_readable(), "{event:?}");
        assert!(!event.is_writable() && !event.is_error() && !event.is_read_closed() && !event.is_write_closed() && !event.is_priority());
        assert!(!event.is_aio() && !event.is_lio());
        assert_eq!(drain(&read_end), b"x");

        poll.registry().deregister(&mut SourceFd(&read_end.as_raw_fd())).unwrap();
        daemon.expect_fds(1, 0);
        write_byte(&write_end);
        no_event(&mut poll, QUIET);
    }
    daemon.finish();
}

#[test]
fn mio_and_std_types_register_directly() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let (mut sender, mut receiver) = pipe::new().unwrap();
        let (mut left, right) = std::os::unix::net::UnixStream::pair().unwrap();
        left.set_nonblocking(true).unwrap();
        poll.registry().register(&mut receiver, Token(1), Interest::READABLE).unwrap();
        poll.registry().register(&mut left, Token(2), Interest::READABLE).unwrap();
        sender.write_all(b"a").unwrap();
        (&right).write_all(b"b").unwrap();
        let mut seen = BTreeSet::new();
        let mut events = Events::with_capacity(8);
        let end = Instant::now() + SECOND;
        while seen.len() < 2 && Instant::now() < end {
            poll.poll(&mut events, Some(SECOND)).unwrap();
            seen.extend(events.iter().filter(|e| e.is_readable()).map(|e| e.token()));
        }
        assert_eq!(seen, BTreeSet::from([Token(1), Token(2)]));
        poll.registry().deregister(&mut receiver).unwrap();
        poll.registry().deregister(&mut left).unwrap();
    }
    daemon.finish();
}

#[test]
fn events_beyond_the_capacity_wait_for_the_next_poll() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let pipes: Vec<_> = (0..5).map(|_| pipe()).collect();
        for (i, (read_end, _)) in pipes.iter().enumerate() {
            poll.registry().register(&mut SourceFd(&read_end.as_raw_fd()), Token(i + 1), Interest::READABLE).unwrap();
        }
        for (_, write_end) in &pipes {
            write_byte(write_end);
        }
        let mut events = Events::with_capacity(2);
        assert_eq!(events.capacity(), 2);
        let mut seen = Vec::new();
        let end = Instant::now() + SECOND;
        while seen.len() < 5 && Instant::now() < end {
            poll.poll(&mut events, Some(SECOND)).unwrap();
            let batch: Vec<Token> = (&events).into_iter().map(|e| e.token()).collect();
            assert!(!batch.is_empty() && batch.len() <= 2, "batch {batch:?}");
            seen.extend(batch);
        }
        seen.sort();
        assert_eq!(seen, (1..=5).map(Token).collect::<Vec<_>>(), "each token exactly once");
        events.clear();
        assert!(events.is_empty());
        assert_eq!(poll.poll(&mut Events::with_capacity(0), None).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    }
    daemon.finish();
}

#[test]
fn poll_timeouts_return_without_events() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        poll.poll(&mut events, Some(Duration::from_millis(200))).unwrap();
        let waited = start.elapsed();
        assert!(events.is_empty());
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(2), "waited {waited:?}");

        let start = Instant::now();
        poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty() && start.elapsed() < Duration::from_millis(100));
    }
    daemon.finish();
}

#[test]
fn closing_the_writer_reports_read_closed() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let (read_end, write_end) = pipe();
        poll.registry().register(&mut SourceFd(&read_end.as_raw_fd()), Token(3), Interest::READABLE).unwrap();
        drop(write_end);
        let event = event_for(&mut poll, Token(3), SECOND);
        assert!(event.is_read_closed() && !event.is_error(), "{event:?}");
    }
    daemon.finish();
}

#[test]
fn closing_the_reader_reports_an_error_on_the_write_end() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let (read_end, write_end) = pipe();
        poll.registry().register(&mut SourceFd(&write_end.as_raw_fd()), Token(4), Interest::WRITABLE).unwrap();
        assert!(event_for(&mut poll, Token(4), SECOND).is_writable());
        drop(read_end);
        let event = event_for(&mut poll, Token(4), SECOND);
        assert!(event.is_error() && event.is_write_closed(), "{event:?}");
    }
    daemon.finish();
}

#[test]
fn priority_interest_reports_out_of_band_data() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut receiver, _) = listener.accept().unwrap();
        receiver.set_nonblocking(true).unwrap();
        poll.registry().register(&mut receiver, Token(5), RemoteInterest::PRIORITY).unwrap();
        let listed = poll.registry().list().unwrap();
        assert_eq!(listed[0].interest, Some(RemoteInterest::PRIORITY));
        let sent = unsafe { libc::send(sender.as_raw_fd(), b"!".as_ptr() as *const libc::c_void, 1, libc::MSG_OOB) };
        assert_eq!(sent, 1);
        let event = event_for(&mut poll, Token(5), SECOND);
        assert!(event.is_priority() && event.is_readable(), "{event:?}");

        // mio's Interest combines with the extension.
        poll.registry().reregister(&mut receiver, Token(5), Interest::READABLE | RemoteInterest::PRIORITY).unwrap();
        let listed = poll.registry().list().unwrap();
        assert_eq!(listed[0].interest, Some(RemoteInterest::READABLE | RemoteInterest::PRIORITY));
        poll.registry().deregister(&mut receiver).unwrap();
    }
    daemon.finish();
}

#[test]
fn oneshot_reports_once_until_reregistered() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let (read_end, write_end) = pipe();
        let fd = read_end.as_raw_fd();
        poll.registry().register_with_mode(&mut SourceFd(&fd), Token(6), Interest::READABLE, Mode::Oneshot).unwrap();
        assert_eq!(poll.registry().list().unwrap()[0].mode, Some(Mode::Oneshot));
        write_byte(&write_end);
        event_for(&mut poll, Token(6), SECOND);
        drain(&read_end);
        write_byte(&write_end);
        no_event(&mut poll, QUIET);
        // Re-arming checks the current state: the byte is there.
        poll.registry().reregister_with_mode(&mut SourceFd(&fd), Token(6), Interest::READABLE, Mode::Oneshot).unwrap();
        event_for(&mut poll, Token(6), SECOND);
        // A plain reregister makes it edge-triggered again.
        poll.registry().reregister(&mut SourceFd(&fd), Token(6), Interest::READABLE).unwrap();
        assert_eq!(poll.registry().list().unwrap()[0].mode, Some(Mode::Edge));
    }
    daemon.finish();
}

#[test]
fn reregister_changes_interest_and_token() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let (read_end, write_end) = pipe();
        let fd = read_end.as_raw_fd();
        poll.registry().register(&mut SourceFd(&fd), Token(7), Interest::READABLE).unwrap();
        poll.registry().reregister(&mut SourceFd(&fd), Token(7), Interest::WRITABLE).unwrap();
        let listed = poll.registry().list().unwrap();
        assert_eq!((listed.len(), listed[0].token, listed[0].interest), (1, Token(7), Some(RemoteInterest::WRITABLE)));
        assert_eq!(listed[0].kind, "pipe");
        write_byte(&write_end);
        no_event(&mut poll, QUIET); // a read end never becomes writable

        poll.registry().reregister(&mut SourceFd(&fd), Token(7), Interest::READABLE).unwrap();
        event_for(&mut poll, Token(7), SECOND);

        // A new token: the old one's events stop, the new one's begin.
        write_byte(&write_end);
        poll.registry().reregister(&mut SourceFd(&fd), Token(8), Interest::READABLE).unwrap();
        let listed = poll.registry().list().unwrap();
        assert_eq!(listed.iter().map(|r| r.token).collect::<Vec<_>>(), vec![Token(8)]);
        event_for(&mut poll, Token(8), SECOND);
        let mut events = Events::with_capacity(16);
        poll.poll(&mut events, Some(QUIET)).unwrap();
        assert!(events.iter().all(|e| e.token() != Token(7)), "{events:?}");
        daemon.expect_fds(1, 1);
        poll.registry().deregister(&mut SourceFd(&fd)).unwrap();
        daemon.expect_fds(1, 0);
    }
    daemon.finish();
}

#[test]
fn dropping_the_poll_closes_what_the_daemon_held() {
    let daemon = TestDaemon::start();
    let (read_end, write_end) = pipe();
    {
        let poll = daemon.poll();
        poll.registry().register(&mut SourceFd(&read_end.as_raw_fd()), Token(1), Interest::READABLE).unwrap();
        poll.registry().register(&mut SourceFd(&write_end.as_raw_fd()), Token(2), Interest::WRITABLE).unwrap();
        poll.registry().ping().unwrap();
        daemon.expect_fds(1, 2);
        assert!(poll.server_version().chars().next().map_or(false, |c| c.is_ascii_digit()), "{}", poll.server_version());
        assert_eq!(poll.session(), None);
        assert_eq!(poll.socket_path(), daemon.socket.as_path());
    }
    // An anonymous session ends with its connection.
    daemon.expect_fds(0, 0);
    // The pipe still works: the daemon never read or wrote it.
    write_byte(&write_end);
    let mut byte = [0u8; 1];
    assert_eq!((&std::fs::File::from(read_end)).read(&mut byte).unwrap(), 1);
    daemon.finish();
}
