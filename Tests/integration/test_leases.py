"""Leases (docs/protocol.md, "Leases"): a persistent session with no
connection attached for lease_s seconds is ended as by end; attaching stops
the countdown, detaching starts it again; sessions shows the time left."""

import os
import time

from replies import assert_error


def _session(c, name):
    for s in c.ok({"op": "sessions"})["sessions"]:
        if s["name"] == name:
            return s
    return None


def _wait_gone(c, name, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if _session(c, name) is None:
            return time.monotonic()
        time.sleep(0.01)
    return None


def test_lease_ends_a_detached_session_and_closes_its_fds(daemon, fds):
    holder = daemon.raw()
    holder.ok({"op": "hello", "session": "leased", "persist": True, "lease_s": 1})
    r, w = fds.pipe()
    holder.ok({"op": "register", "token": 1, "interest": ["readable"]}, [r])
    holder.ok({"op": "store", "token": 2}, [w])
    watcher = daemon.raw()
    s = _session(watcher, "leased")
    assert s["lease_s"] == 1 and s["expires_in_s"] is None and s["attached"], s
    holder.close()
    detached = time.monotonic()
    time.sleep(0.2)
    s = _session(watcher, "leased")
    assert s is not None and not s["attached"], s
    assert 0.6 <= s["expires_in_s"] <= 0.85, s
    gone = _wait_gone(watcher, "leased", 3)
    assert gone is not None, "the lease ended the session"
    assert 0.95 <= gone - detached <= 1.15, gone - detached
    daemon.assert_fds_released(open_connections=1)
    daemon.close_all_and_check_fds()


def test_attaching_stops_the_countdown_and_detaching_restarts_it(daemon):
    c = daemon.raw()
    c.ok({"op": "hello", "session": "s", "persist": True, "lease_s": 1})
    c.ok({"op": "waker", "token": 1})
    c.close()
    time.sleep(0.7)
    back = daemon.raw()
    back.ok({"op": "hello", "session": "s"})  # no lease_s: the lease stays
    time.sleep(0.6)  # past the first countdown: attached, so nothing ends
    watcher = daemon.raw()
    s = _session(watcher, "s")
    assert s is not None and s["lease_s"] == 1 and s["expires_in_s"] is None, s
    back.close()
    time.sleep(0.1)
    s = _session(watcher, "s")
    assert s is not None and 0.8 <= s["expires_in_s"] <= 0.95, "the countdown starts again from lease_s: %r" % s
    assert _wait_gone(watcher, "s", 3) is not None
    daemon.close_all_and_check_fds()


def test_lease_replaced_and_removed(daemon):
    c = daemon.raw()
    c.ok({"op": "hello", "session": "r", "persist": True, "lease_s": 100})
    c.ok({"op": "hello", "session": "r", "persist": True, "lease_s": 1})
    assert _session(c, "r")["lease_s"] == 1
    c.ok({"op": "hello", "session": "r", "lease_s": None})
    assert _session(c, "r")["lease_s"] is None
    c.close()
    time.sleep(1.3)
    watcher = daemon.raw()
    s = _session(watcher, "r")
    assert s is not None and s["lease_s"] is None and s["expires_in_s"] is None, s
    watcher.ok({"op": "end", "session": "r"})
    daemon.close_all_and_check_fds()


def test_end_of_a_leased_session_and_a_new_attach_in_time(daemon):
    c = daemon.raw()
    c.ok({"op": "hello", "session": "e", "persist": True, "lease_s": 1})
    c.ok({"op": "end"})
    assert _session(c, "e") is None
    c2 = daemon.raw()
    c2.ok({"op": "hello", "session": "k", "persist": True, "lease_s": 1})
    c2.close()
    time.sleep(0.5)
    c3 = daemon.raw()
    c3.ok({"op": "hello", "session": "k"})
    time.sleep(0.8)
    assert _session(c3, "k") is not None, "attached in time: the session stays"
    c3.ok({"op": "end"})
    daemon.close_all_and_check_fds()


def test_bad_leases(daemon):
    c = daemon.raw()
    for hello in [{"session": "x", "lease_s": 5}, {"session": "x", "persist": False, "lease_s": 5},
                  {"session": "x", "persist": True, "lease_s": 0}, {"session": "x", "persist": True, "lease_s": 2 ** 31},
                  {"session": "x", "persist": True, "lease_s": 1.5}, {"session": "x", "persist": True, "lease_s": "5"},
                  {"persist": True, "lease_s": 5}]:
        assert_error(c.request({"op": "hello", **hello}), "bad_request")
    assert _session(c, "x") is None, "a refused hello changes nothing"


def test_no_timer_without_a_lease(daemon):
    """Sessions without a lease cost no timer: the daemon holds no timerfd."""
    c = daemon.raw()
    c.ok({"op": "hello", "session": "plain", "persist": True})
    assert not any("timerfd" in t for t in daemon.fd_targets())
    c.ok({"op": "hello", "session": "plain", "persist": True, "lease_s": 60})
    assert sum("timerfd" in t for t in daemon.fd_targets()) == 1
    c.ok({"op": "end"})
    assert not any("timerfd" in t for t in daemon.fd_targets())
    daemon.close_all_and_check_fds()
