"""timer (docs/protocol.md, "Timers"): a daemon-side timer under a token,
delivered as a readable event for it; deregister removes it; list shows
kind timer; it counts as a registration, not as an fd held."""

import time

import pytest

from replies import assert_error


def _ready_tokens(c, quiet=0.25, limit=5.0):
    return [e["token"] for e in c.collect_events(quiet=quiet, limit=limit)]


def test_one_shot_fires_once(daemon):
    c = daemon.raw()
    start = time.monotonic()
    c.ok({"op": "timer", "token": 4, "after_ms": 50})
    event = c.read_json(timeout=5)
    elapsed = time.monotonic() - start
    assert event == {"event": "ready", "token": 4, "readable": True, "writable": False, "error": False,
                     "read_closed": False, "write_closed": False, "priority": False}, event
    assert elapsed >= 0.045, elapsed
    c.expect_silence(0.3)
    listed = c.ok({"op": "list"})["registrations"]
    assert listed == [{"token": 4, "interest": ["readable"], "mode": "edge", "kind": "timer",
                       "interval_ms": None, "expires_in_ms": None}], listed
    daemon.close_all_and_check_fds()


def test_after_zero_fires_at_once(daemon):
    c = daemon.raw()
    c.ok({"op": "timer", "token": 1, "after_ms": 0})
    assert c.read_json(timeout=2)["token"] == 1


def test_interval_repeats_and_deregister_stops_it(daemon):
    c = daemon.raw()
    c.ok({"op": "timer", "token": 2, "after_ms": 20, "interval_ms": 20})
    for _ in range(5):
        assert c.read_json(timeout=2)["token"] == 2
    listed = c.ok({"op": "list"})["registrations"][0]
    assert listed["kind"] == "timer" and listed["interval_ms"] == 20, listed
    assert 0 <= listed["expires_in_ms"] <= 20, listed
    reply = c.ok({"op": "deregister", "token": 2})
    assert reply["token"] == 2
    # An event already on its way may come; then nothing more.
    c.collect_events(quiet=0.1, limit=1)
    c.expect_silence(0.2)
    assert c.ok({"op": "list"})["registrations"] == []
    daemon.close_all_and_check_fds()


def test_timer_on_a_timer_token_sets_it_anew(daemon):
    c = daemon.raw()
    c.ok({"op": "timer", "token": 3, "after_ms": 60000})
    c.ok({"op": "timer", "token": 3, "after_ms": 30})
    assert c.read_json(timeout=2)["token"] == 3
    assert len(c.ok({"op": "list"})["registrations"]) == 1


def test_coalesced_while_not_read_and_kept_for_a_persistent_session(daemon):
    c = daemon.raw()
    c.ok({"op": "hello", "session": "ticks", "persist": True})
    c.ok({"op": "timer", "token": 8, "after_ms": 10, "interval_ms": 10})
    c.close()
    time.sleep(0.3)  # some 30 expiries with no client attached
    again = daemon.raw()
    again.ok({"op": "hello", "session": "ticks"})
    first = again.read_json(timeout=2)
    assert first["token"] == 8 and first["readable"], first
    sessions = again.ok({"op": "sessions"})["sessions"]
    assert sessions[0]["registrations"] == 1
    stats = again.ok({"op": "stats"})["stats"]
    assert stats["registrations"] == 1 and stats["fds_held"] == 0, stats
    assert stats["events_coalesced"] >= 1, stats
    again.ok({"op": "end"})
    daemon.close_all_and_check_fds()


def test_fetch_reregister_and_wake_of_a_timer_are_refused(daemon):
    c = daemon.raw()
    c.ok({"op": "timer", "token": 1, "after_ms": 100000})
    assert_error(c.request({"op": "fetch", "token": 1}), "bad_request")
    assert_error(c.request({"op": "reregister", "token": 1, "interest": ["readable"]}), "wrong_state")
    assert_error(c.request({"op": "wake", "token": 1}), "unknown_token")
    r, w = __import__("os").pipe()
    try:
        c.ok({"op": "register", "token": 2, "interest": ["readable"]}, [r])
        assert_error(c.request({"op": "timer", "token": 2, "after_ms": 1}), "token_in_use")
    finally:
        __import__("os").close(r), __import__("os").close(w)
    daemon.close_all_and_check_fds()


@pytest.mark.parametrize("fields", [
    {}, {"after_ms": -1}, {"after_ms": 1.5}, {"after_ms": "10"}, {"after_ms": 2 ** 53},
    {"after_ms": 10, "interval_ms": 0}, {"after_ms": 10, "interval_ms": 2 ** 53}, {"after_ms": 10, "interval_ms": True},
])
def test_bad_settings(daemon, fields):
    c = daemon.raw()
    assert_error(c.request({"op": "timer", "token": 1, **fields}), "bad_request")
    assert c.ok({"op": "list"})["registrations"] == []


def test_timers_count_against_the_registration_limit(daemon_factory):
    d = daemon_factory(["--max-registrations-per-uid", "3"])
    c = d.raw()
    for token in (1, 2, 3):
        c.ok({"op": "timer", "token": token, "after_ms": 100000})
    assert_error(c.request({"op": "timer", "token": 4, "after_ms": 1}), "limit_exceeded")
    d.close_all_and_check_fds()
