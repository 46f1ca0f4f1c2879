//! Leases (`ConnectOptions::lease`, docs/protocol.md, "Leases"): a
//! persistent session with no connection for its lease is ended, its fds
//! and timers closed; attaching stops the countdown; `sessions` shows the
//! lease. Against the real daemon.

mod support;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use mio_daemon_client::{DaemonError, Token, MAX_LEASE};
use support::{member, pipe, TestDaemon};

const NAME: &str = "leased";

/// `lease_s`, `expires_in_s` and `attached` of the session, as `sessions`
/// shows them (`None` for null).
fn lease_of(daemon: &TestDaemon) -> (Option<u64>, Option<f64>, bool) {
    let entry = daemon.session_entry(NAME).expect("the session is listed");
    assert_eq!(member(&entry, "persistent"), Some("true"), "{entry}");
    let lease = member(&entry, "lease_s").expect("lease_s");
    let left = member(&entry, "expires_in_s").expect("expires_in_s");
    (lease.parse().ok(), left.parse().ok(), member(&entry, "attached") == Some("true"))
}

#[test]
fn a_detached_session_ends_when_its_lease_runs_out() {
    let daemon = TestDaemon::start();
    let (read_end, _write_end) = pipe();
    {
        let poll = daemon.options().session(NAME).persist(true).lease(Duration::from_secs(1)).connect().unwrap();
        assert_eq!(lease_of(&daemon), (Some(1), None, true)); // attached: no countdown
        poll.registry().store(&read_end, Token(1)).unwrap();
        poll.registry().timer(Token(2), Duration::from_secs(3600), None).unwrap();
        daemon.expect_fds(1, 3); // the pipe, the timer's timerfd and the lease's
    }
    let (lease, left, attached) = lease_of(&daemon);
    assert_eq!((lease, attached), (Some(1), false));
    let left = left.expect("a countdown while detached");
    assert!(left > 0.0 && left <= 1.0, "{left}");

    // Attaching within the lease stops the countdown; a hello without a
    // lease keeps it.
    std::thread::sleep(Duration::from_millis(500));
    {
        let poll = daemon.options().session(NAME).connect().unwrap();
        std::thread::sleep(Duration::from_millis(800)); // past the first countdown's end
        assert_eq!(poll.registry().list().unwrap().len(), 2);
        assert_eq!(lease_of(&daemon), (Some(1), None, true));
    }
    // Replaced, then removed, then set again.
    drop(daemon.options().session(NAME).persist(true).lease(Duration::from_secs(3600)).connect().unwrap());
    assert_eq!(lease_of(&daemon).0, Some(3600));
    drop(daemon.options().session(NAME).remove_lease().connect().unwrap());
    assert_eq!(lease_of(&daemon), (None, None, false));
    // Rounded up to whole seconds.
    let poll = daemon.options().session(NAME).persist(true).lease(Duration::from_millis(200)).connect().unwrap();
    assert_eq!(lease_of(&daemon).0, Some(1));

    // Detached: the session ends about a second later, its fds closed.
    let start = Instant::now();
    drop(poll);
    while daemon.session_entry(NAME).is_some() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = start.elapsed();
    assert!(daemon.session_entry(NAME).is_none(), "still there after {took:?}");
    assert!(took >= Duration::from_secs(1) && took < Duration::from_millis(1600), "ended after {took:?}");
    daemon.expect_fds(0, 0);
    // A new hello finds a fresh session.
    {
        let poll = daemon.options().session(NAME).connect().unwrap();
        assert!(poll.registry().list().unwrap().is_empty());
    }
    daemon.finish();
}

#[test]
fn bad_leases_are_refused() {
    let daemon = TestDaemon::start();
    // By the daemon: a lease needs a persistent session.
    let error = daemon.options().session(NAME).lease(Duration::from_secs(5)).connect().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(DaemonError::of(&error).map(DaemonError::code), Some("bad_request"));
    let error = daemon.options().persist(true).lease(Duration::from_secs(5)).connect().unwrap_err();
    assert_eq!(DaemonError::of(&error).map(DaemonError::code), Some("bad_request"));
    // Here, before connecting.
    for bad in [Duration::ZERO, MAX_LEASE + Duration::from_nanos(1)] {
        let error = daemon.options().session(NAME).persist(true).lease(bad).connect().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert!(DaemonError::of(&error).is_none());
    }
    assert!(daemon.session_entry(NAME).is_none());
    // The longest is taken; removing it leaves a persistent session, ended here.
    let poll = daemon.options().session(NAME).persist(true).lease(MAX_LEASE).connect().unwrap();
    assert_eq!(lease_of(&daemon).0, Some((1 << 31) - 1));
    poll.registry().end_session().unwrap();
    drop(poll);
    daemon.finish();
}
