"""Sessions (docs/protocol.md, "Sessions and persistence"): anonymous,
named, persistent across disconnect, takeover, session_busy, end.

Which suite: Tests/integration holds what docs/protocol.md promises a
client that follows it, one promise per test, checked on the exact replies
and events. A client that breaks the rules or pushes the limits (floods,
never reading, vanishing mid-write) is Tests/hostile's."""

import os
import time

import pytest

from mio_client import MioError
from raw_connection import line
from replies import assert_error, assert_ok, ready
from timing import QUIET_S, wait_until


def test_anonymous_session_dies_with_connection(daemon, fds):
    c = daemon.client()
    for token in range(3):
        c.register(fds.pipe()[0], token)
    daemon.assert_fds_released(open_connections=1, held=3)
    daemon.close_all_and_check_fds()


def test_readiness_seen_with_the_hang_up_waits_for_the_next_connection(daemon, fds):
    """Readiness, then the attached connection's hang-up, both in one turn
    (the daemon paused while they happen): the event is not written to the
    connection that is going; it waits in the persistent session."""
    r, w = fds.pipe()
    a = daemon.client()
    a.hello("p-hangup", persist=True)
    a.register(r, 5)
    with daemon.paused():
        os.write(w, b"x")
        a.close()
    daemon.assert_fds_released(held=1)
    raw = daemon.raw()
    assert_ok(raw.request({"op": "hello", "id": "h", "session": "p-hangup"}), "h")
    assert raw.read_json() == ready(5, readable=True)
    assert_ok(raw.request({"op": "end", "id": "e"}), "e")
    daemon.close_all_and_check_fds()


def test_named_not_persistent_session_dies_with_connection(daemon, fds):
    r, _ = fds.pipe()
    a = daemon.client()
    a.hello("np")
    a.register(r, 1)
    a.close()
    daemon.assert_fds_released()
    b = daemon.client()
    b.hello("np")
    assert b.list() == []


def test_persistent_session_survives_disconnect(daemon, fds):
    r, w = fds.pipe()
    a = daemon.client()
    assert a.hello("p", persist=True)["session"] == "p"
    a.register(r, 3)
    a.close()
    daemon.assert_fds_released(held=1)
    os.write(w, b"while away")
    time.sleep(0.05)
    raw = daemon.raw()
    raw.send(line({"op": "hello", "id": "h", "session": "p"}))
    reply = raw.read_json()
    assert_ok(reply, "h")
    assert reply["session"] == "p"
    # the pending event comes right after the hello reply
    assert raw.read_json() == ready(3, readable=True)
    assert [e["token"] for e in raw.request({"op": "list", "id": "l"})["registrations"]] == [3]
    assert_ok(raw.request({"op": "end", "id": "e"}), "e")
    daemon.close_all_and_check_fds()


def test_pending_events_coalesce_while_detached(daemon, fds):
    pipes = [fds.pipe() for _ in range(3)]
    a = daemon.client()
    a.hello("co", persist=True)
    for token, (r, _) in enumerate(pipes):
        a.register(r, token)
    a.close()
    wait_until(lambda: daemon.client().stats()["connections"] == 1, what="first connection gone")
    for _ in range(50):
        for _, w in pipes:
            os.write(w, b"x")
    fds.close(pipes[2][1])  # token 2 also gets read_closed
    time.sleep(0.1)
    b = daemon.client()
    b.hello("co")
    events = list(b.events(QUIET_S))
    by_token = {}
    for ev in events:
        by_token.setdefault(ev["token"], []).append(ev)
    assert sorted(by_token) == [0, 1, 2]
    assert all(len(v) == 1 for v in by_token.values()), f"expected one coalesced event per token: {events}"
    assert by_token[0][0] == ready(0, readable=True)
    assert by_token[2][0]["readable"] and by_token[2][0]["read_closed"]
    b.end()
    daemon.close_all_and_check_fds()


def test_events_keep_flowing_after_reattach(daemon, fds):
    r, w = fds.pipe()
    a = daemon.client()
    a.hello("flow", persist=True)
    a.register(r, 1)
    a.close()
    b = daemon.client()
    b.hello("flow")
    assert b.next_event(QUIET_S) is None
    os.write(w, b"x")
    assert b.next_event(5) == ready(1, readable=True)
    b.end()
    daemon.close_all_and_check_fds()


def test_persistent_stays_persistent_whatever_later_hellos_say(daemon, fds):
    r, _ = fds.pipe()
    a = daemon.client()
    a.hello("sticky", persist=True)
    a.register(r, 1)
    a.close()
    b = daemon.client()
    b.hello("sticky", persist=False)
    b.close()
    daemon.assert_fds_released(held=1)
    c = daemon.client()
    c.hello("sticky")
    assert [e["token"] for e in c.list()] == [1]
    c.end()
    daemon.close_all_and_check_fds()


def test_persist_can_be_set_by_a_later_hello(daemon, fds):
    r, _ = fds.pipe()
    a = daemon.client()
    a.hello("later")
    a.hello("later", persist=True)
    a.register(r, 1)
    a.close()
    daemon.assert_fds_released(held=1)
    b = daemon.client()
    b.hello("later")
    assert len(b.list()) == 1
    b.end()
    daemon.close_all_and_check_fds()


def test_session_busy_without_takeover(daemon):
    a = daemon.client()
    a.hello("busy")
    b = daemon.client()
    with pytest.raises(MioError) as info:
        b.hello("busy")
    assert info.value.code == "session_busy"
    b.ping()
    a.ping()
    assert a.next_event(QUIET_S) is None


def test_takeover(daemon, fds):
    r, w = fds.pipe()
    a = daemon.client()
    a.hello("t", persist=True)
    a.register(r, 1)
    b = daemon.client()
    reply = b.hello("t", takeover=True)
    assert reply["session"] == "t"
    assert a.next_event(5) == {"event": "session_taken"}
    # the registration moved with the session
    assert [e["token"] for e in b.list()] == [1]
    # a continues in a new anonymous session
    assert a.list() == []
    a.ping()
    os.write(w, b"x")
    assert b.next_event(5) == ready(1, readable=True)
    assert a.next_event(QUIET_S) is None
    a.register(fds.pipe()[0], 1)  # a's token 1 is free in its new session
    b.end()
    daemon.close_all_and_check_fds()


def test_takeover_of_non_persistent_session_keeps_it_alive(daemon, fds):
    r, w = fds.pipe()
    a = daemon.client()
    a.hello("tn")
    a.register(r, 1)
    b = daemon.client()
    b.hello("tn", takeover=True)
    assert a.next_event(5) == {"event": "session_taken"}
    a.close()
    daemon.assert_fds_released(open_connections=1, held=1)  # still b's
    os.write(w, b"x")
    assert b.next_event(5)["token"] == 1
    daemon.close_all_and_check_fds()


def test_no_event_of_a_taken_session_after_session_taken(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "hello", "id": 1, "session": "tk"}))
    assert_ok(raw.read_json(), 1)
    raw.send(line({"op": "register", "id": 2, "token": 1, "interest": ["readable"]}), [r])
    assert_ok(raw.read_json(), 2)
    stop = time.monotonic() + 0.3
    b = daemon.client()
    os.write(w, b"x")
    b.hello("tk", takeover=True)
    while time.monotonic() < stop:
        try:
            os.write(w, b"x")
        except BlockingIOError:
            pass
        time.sleep(0.01)
    lines = raw.read_all()
    taken = [i for i, x in enumerate(lines) if x == {"event": "session_taken"}]
    assert len(taken) == 1, lines
    assert all(x.get("event") != "ready" for x in lines[taken[0] + 1:]), lines
    b.end()
    daemon.close_all_and_check_fds()


def test_takeover_of_free_session_just_attaches(daemon):
    a = daemon.client()
    assert a.hello("free", takeover=True)["session"] == "free"


def test_pending_events_right_after_hello_reply_on_takeover(daemon, fds):
    r, w = fds.pipe()
    a = daemon.raw()
    assert_ok(a.request({"op": "hello", "id": 1, "session": "x", "persist": True}), 1)
    a.send(line({"op": "register", "id": 2, "token": 5, "interest": ["readable"]}), [r])
    assert_ok(a.read_json(), 2)
    a.close()  # a's socket is closed, so nothing can be delivered to it
    os.write(w, b"x")
    time.sleep(0.05)
    b = daemon.raw()
    assert_ok(b.request({"op": "hello", "id": 3, "session": "x", "takeover": True}), 3)
    assert b.read_json() == ready(5, readable=True)
    assert_ok(b.request({"op": "end", "id": 4}), 4)
    daemon.close_all_and_check_fds()


def test_end_of_persistent_session(daemon, fds):
    r, w = fds.pipe()
    a = daemon.client()
    a.hello("e", persist=True)
    a.register(r, 1)
    a.end()
    daemon.assert_fds_released(open_connections=1)
    a.close()
    b = daemon.client()
    b.hello("e")
    assert b.list() == []
    os.write(w, b"x")
    assert b.next_event(QUIET_S) is None
    daemon.close_all_and_check_fds()


def test_end_then_continue_anonymous(daemon, fds):
    a = daemon.client()
    a.hello("named-then-anon")
    a.register(fds.pipe()[0], 1)
    a.end()
    b = daemon.client()
    b.hello("named-then-anon")  # the name is free now: not busy
    a.register(fds.pipe()[0], 1)
    a.close()
    daemon.assert_fds_released(open_connections=1)


def test_many_persistent_sessions_each_with_its_events(daemon, fds):
    pipes = {}
    for i in range(5):
        c = daemon.client()
        c.hello(f"s{i}", persist=True)
        r, w = fds.pipe()
        c.register(r, i)
        pipes[i] = w
        c.close()
    for i, w in pipes.items():
        os.write(w, b"x")
    for i in range(5):
        c = daemon.client()
        c.hello(f"s{i}")
        assert c.next_event(5) == ready(i, readable=True)
        assert c.next_event(0.05) is None
        c.end()
    daemon.close_all_and_check_fds()


def test_waker_in_detached_persistent_session(daemon):
    a = daemon.client()
    a.hello("wk", persist=True)
    a.waker(9)
    a.close()
    other = daemon.client()
    wait_until(lambda: other.stats()["connections"] == 1, what="a gone")
    other.wake(9, session="wk")
    b = daemon.client()
    b.hello("wk")
    assert b.next_event(5) == ready(9, readable=True)
    b.end()


def test_session_taken_connection_keeps_working(daemon, fds):
    a = daemon.client()
    a.hello("s")
    b = daemon.client()
    b.hello("s", takeover=True)
    assert a.next_event(5) == {"event": "session_taken"}
    r, w = fds.pipe()
    a.register(r, 1)
    os.write(w, b"x")
    assert a.next_event(5) == ready(1, readable=True)
    # a can even take the session back
    a2 = daemon.client()
    with pytest.raises(MioError):
        a2.hello("s")
    daemon.close_all_and_check_fds()


def test_hello_same_session_again_on_same_connection(daemon):
    a = daemon.client()
    a.hello("again")
    reply = a.hello("again")
    assert reply["session"] == "again"


def test_daemon_stops_cleanly_with_a_detached_persistent_session(daemon, fds):
    r, _ = fds.pipe()
    a = daemon.client()
    a.hello("till-stop", persist=True)
    a.register(r, 1)
    a.close()
    assert daemon.holds(r)
    assert daemon.stop() == 0


def test_session_busy_reply_and_connection_continues(daemon):
    a = daemon.raw()
    assert_ok(a.request({"op": "hello", "id": 1, "session": "b"}), 1)
    b = daemon.raw()
    assert_error(b.request({"op": "hello", "id": 2, "session": "b"}), "session_busy", 2)
    assert_ok(b.request({"op": "ping", "id": 3}), 3)


def test_session_taken_then_old_connection_closes(daemon):
    a = daemon.client()
    a.hello("st")
    b = daemon.client()
    b.hello("st", takeover=True)
    assert a.next_event(5) == {"event": "session_taken"}
    a.close()
    b.ping()
    assert b.next_event(QUIET_S) is None


def test_hello_to_another_session_leaves_the_first(daemon):
    a = daemon.client()
    a.hello("first", persist=True)
    a.hello("second")
    b = daemon.client()
    assert b.hello("first")["session"] == "first"  # not busy: a left it
    with pytest.raises(MioError) as info:
        daemon.client().hello("second")
    assert info.value.code == "session_busy"  # a is there now
