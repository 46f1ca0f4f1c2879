//! Timers of the daemon's (`Registry::timer`, docs/protocol.md, "Timers"):
//! readable events for their token, once or periodic, set anew on their
//! token, stopped by deregister; against the real daemon.

mod support;

use std::io::ErrorKind;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use mio_daemon_client::{DaemonError, Events, Interest, Mode, Poll, RemoteInterest, SourceFd, Token, Waker, MAX_TIMER};
use support::{pipe, TestDaemon};

const QUIET: Duration = Duration::from_millis(150);

fn code(error: &std::io::Error) -> &str {
    DaemonError::of(error).unwrap_or_else(|| panic!("no DaemonError in {error:?}")).code()
}

/// The events of `poll` over `window`, as (token, readable) pairs; every
/// one must be readable only.
fn events_over(poll: &mut Poll, window: Duration) -> Vec<Token> {
    let end = Instant::now() + window;
    let mut events = Events::with_capacity(16);
    let mut tokens = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return tokens;
        }
        poll.poll(&mut events, Some(left)).unwrap();
        for event in &events {
            assert!(event.is_readable() && !event.is_writable() && !event.is_error(), "{event:?}");
            tokens.push(event.token());
        }
    }
}

fn first_event(poll: &mut Poll, within: Duration) -> Token {
    let mut events = Events::with_capacity(4);
    poll.poll(&mut events, Some(within)).unwrap();
    let event = events.iter().next().unwrap_or_else(|| panic!("no event within {within:?}"));
    assert!(event.is_readable(), "{event:?}");
    event.token()
}

#[test]
fn a_one_shot_timer_fires_once_never_early() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        let start = Instant::now();
        poll.registry().timer(Token(1), Duration::from_millis(50), None).unwrap();
        assert_eq!(first_event(&mut poll, Duration::from_secs(5)), Token(1));
        assert!(start.elapsed() >= Duration::from_millis(50), "fired after {:?}", start.elapsed());
        assert_eq!(events_over(&mut poll, QUIET), vec![]);

        // Zero: at once.
        let start = Instant::now();
        poll.registry().timer(Token(2), Duration::ZERO, None).unwrap();
        assert_eq!(first_event(&mut poll, Duration::from_secs(5)), Token(2));
        assert!(start.elapsed() < Duration::from_secs(1));

        // An expired one-shot timer: listed with no period and no next expiry.
        let listed = poll.registry().list().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!((listed[0].token, listed[0].kind.as_str(), listed[0].held), (Token(1), "timer", false));
        assert_eq!((listed[0].interval, listed[0].expires_in), (None, None));
        // A timerfd of the daemon's per timer, closed by deregister.
        daemon.expect_fds(1, 2);
        poll.registry().deregister_token(Token(1)).unwrap();
        poll.registry().deregister_token(Token(2)).unwrap();
        daemon.expect_fds(1, 0);
    }
    daemon.finish();
}

#[test]
fn a_periodic_timer_fires_until_deregistered() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.poll();
        poll.registry().timer(Token(3), Duration::from_millis(20), Some(Duration::from_millis(20))).unwrap();
        let seen = events_over(&mut poll, Duration::from_millis(400));
        assert!(seen.iter().all(|t| *t == Token(3)), "{seen:?}");
        assert!((5..=21).contains(&seen.len()), "{} events of a 20 ms timer in 400 ms", seen.len());
        // No event of it comes out of poll after deregister returns.
        poll.registry().deregister_token(Token(3)).unwrap();
        assert_eq!(events_over(&mut poll, QUIET), vec![]);
        let error = poll.registry().deregister_token(Token(3)).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::NotFound, "unknown_token"));

        // Set anew on its token: an hour (listed so) becomes 30 ms, once.
        let hour = Duration::from_secs(3600);
        poll.registry().timer(Token(4), hour, Some(Duration::from_secs(1))).unwrap();
        let listed = poll.registry().list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].kind.as_str(), listed[0].interval), ("timer", Some(Duration::from_secs(1))));
        assert_eq!((listed[0].interest, listed[0].mode), (Some(RemoteInterest::READABLE), Some(Mode::Edge)));
        let left = listed[0].expires_in.expect("a next expiry");
        assert!(left <= hour && left > hour - Duration::from_secs(10), "{left:?}");
        poll.registry().timer(Token(4), Duration::from_millis(30), None).unwrap();
        assert_eq!(first_event(&mut poll, Duration::from_secs(5)), Token(4));
        assert_eq!(events_over(&mut poll, QUIET), vec![]);
        daemon.expect_fds(1, 1);
    }
    // The session's end closes the timer's timerfd.
    daemon.finish();
}

#[test]
fn bad_timers_are_refused() {
    let daemon = TestDaemon::start();
    {
        let mut poll = daemon.options().session("timers").connect().unwrap();
        let registry = poll.registry();
        // Here, before anything is sent.
        for (after, every) in [
            (MAX_TIMER + Duration::from_nanos(1), None),
            (Duration::MAX, None),
            (Duration::ZERO, Some(MAX_TIMER + Duration::from_millis(1))),
            (Duration::ZERO, Some(Duration::ZERO)),
        ] {
            let error = registry.timer(Token(1), after, every).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidInput, "{after:?} {every:?}");
            assert!(DaemonError::of(&error).is_none());
        }
        assert!(registry.list().unwrap().is_empty());
        // The longest the daemon takes is taken.
        registry.timer(Token(1), MAX_TIMER, Some(MAX_TIMER)).unwrap();

        // By the daemon: tokens that are something else, and what a timer is not.
        let (read_end, _write_end) = pipe();
        registry.register(&mut SourceFd(&read_end.as_raw_fd()), Token(2), Interest::READABLE).unwrap();
        let error = registry.timer(Token(2), Duration::from_millis(10), None).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::AlreadyExists, "token_in_use"));
        let _waker = Waker::new(registry, Token(3)).unwrap();
        let error = registry.timer(Token(3), Duration::from_millis(10), None).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::AlreadyExists, "token_in_use"));
        let error = registry.fetch(Token(1), false).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::InvalidInput, "bad_request"));
        let error = registry.reregister_token(Token(1), Interest::READABLE).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::Other, "wrong_state"));
        let error = registry.wake_session("timers", Token(1)).unwrap_err();
        assert_eq!((error.kind(), code(&error)), (ErrorKind::NotFound, "unknown_token"));
        registry.ping().unwrap();
        assert_eq!(events_over(&mut poll, Duration::from_millis(50)), vec![]);
        // A pipe, a waker's eventfd, a timer's timerfd.
        daemon.expect_fds(1, 3);
    }
    daemon.finish();
}
