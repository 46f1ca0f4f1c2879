"""Delivery "poll" (docs/protocol.md, "`poll`" and "Delivery, backpressure and
coalescing"): events come in the poll reply, without the
"event" key; timeout_ms and max_events; poll blocks later requests."""

import os
import threading
import time

import pytest

from mio_client import MioError
from raw_connection import line
from replies import assert_error, assert_ok, ready
from timing import QUIET_S, TIME_SCALE


def poll_event(token, **flags):
    ev = ready(token, **flags)
    del ev["event"]
    return ev


def poll_client(daemon, **hello):
    c = daemon.client()
    c.hello(delivery="poll", **hello)
    return c


def test_poll_returns_ready_event_objects(daemon, fds):
    r, w = fds.pipe()
    c = poll_client(daemon)
    c.register(r, 1)
    os.write(w, b"x")
    events = c.poll(timeout=5)
    assert events == [poll_event(1, readable=True)]
    daemon.close_all_and_check_fds()


def test_poll_delivery_sends_no_event_lines(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    assert_ok(raw.request({"op": "hello", "id": 1, "delivery": "poll"}), 1)
    raw.send(line({"op": "register", "id": 2, "token": 1, "interest": ["readable"]}), [r])
    assert_ok(raw.read_json(), 2)
    os.write(w, b"x")
    raw.expect_silence(QUIET_S)
    reply = raw.request({"op": "poll", "id": 3, "timeout_ms": 0})
    assert_ok(reply, 3)
    assert reply["events"] == [poll_event(1, readable=True)]
    daemon.close_all_and_check_fds()


def test_poll_timeout_zero_returns_at_once(daemon):
    c = poll_client(daemon)
    start = time.monotonic()
    assert c.poll(timeout=0) == []
    assert time.monotonic() - start < 0.5 * TIME_SCALE


def test_poll_timeout_waits(daemon):
    c = poll_client(daemon)
    start = time.monotonic()
    assert c.poll(timeout=0.3) == []
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 2.0 * TIME_SCALE, elapsed


def test_poll_returns_early_when_ready(daemon, fds):
    r, w = fds.pipe()
    c = poll_client(daemon)
    c.register(r, 1)
    timer = threading.Timer(0.2, os.write, (w, b"x"))
    timer.start()
    try:
        start = time.monotonic()
        events = c.poll(timeout=10)
        elapsed = time.monotonic() - start
    finally:
        timer.cancel()
    assert events == [poll_event(1, readable=True)]
    assert elapsed < 5
    daemon.close_all_and_check_fds()


def test_poll_forever_woken_by_waker_from_other_session(daemon):
    c = poll_client(daemon, session="poller")
    c.waker(42)
    other = daemon.client()
    timer = threading.Timer(0.2, lambda: other.wake(42, session="poller"))
    timer.start()
    try:
        events = c.poll()  # no timeout: for ever, on both sides
    finally:
        timer.join()
    assert events == [poll_event(42, readable=True)]


def test_poll_null_timeout_is_forever(daemon):
    c = poll_client(daemon)
    c.waker(1)
    c.wake(1)
    reply = c.request("poll", timeout_ms=None)
    assert reply["events"] == [poll_event(1, readable=True)]


def test_poll_max_events(daemon, fds):
    pipes = [fds.pipe() for _ in range(5)]
    c = poll_client(daemon)
    for token, (r, w) in enumerate(pipes):
        c.register(r, token)
        os.write(w, b"x")
    time.sleep(0.1)
    first = c.poll(timeout=2, max_events=2)
    assert len(first) == 2
    rest = []
    deadline = time.monotonic() + 5
    while len(rest) < 3 and time.monotonic() < deadline:
        rest += c.poll(timeout=0.5, max_events=2)
    tokens = [e["token"] for e in first + rest]
    assert sorted(tokens) == [0, 1, 2, 3, 4]
    assert c.poll(timeout=0) == []
    daemon.close_all_and_check_fds()


def test_poll_max_events_default_is_large(daemon, fds):
    pipes = [fds.pipe() for _ in range(40)]
    c = poll_client(daemon)
    for token, (r, w) in enumerate(pipes):
        c.register(r, token)
        os.write(w, b"x")
    time.sleep(0.2)
    events = c.poll(timeout=1)
    assert sorted(e["token"] for e in events) == list(range(40))
    daemon.close_all_and_check_fds()


def test_poll_max_events_default_is_1024(daemon, fds):
    n = 1100
    pipes = [fds.pipe() for _ in range(n)]
    raw = daemon.raw()
    assert_ok(raw.request({"op": "hello", "id": "h", "delivery": "poll"}), "h")
    for token, (r, w) in enumerate(pipes):
        raw.send(line({"op": "register", "id": token, "token": token, "interest": ["readable"]}), [r])
        os.write(w, b"x")
    for token in range(n):
        assert_ok(raw.read_json(), token)
    time.sleep(0.2)
    first = raw.request({"op": "poll", "id": "p1", "timeout_ms": 1000})["events"]
    assert len(first) == 1024
    second = raw.request({"op": "poll", "id": "p2", "timeout_ms": 1000})["events"]
    assert sorted(e["token"] for e in first + second) == list(range(n))
    daemon.close_all_and_check_fds()


@pytest.mark.parametrize("fields", [{"max_events": 0}, {"max_events": -1}, {"max_events": "2"}, {"timeout_ms": -5}, {"timeout_ms": 1.5}, {"timeout_ms": "10"}])
def test_poll_bad_fields(daemon, fields):
    c = poll_client(daemon)
    with pytest.raises(MioError) as info:
        c.request("poll", **fields)
    assert info.value.code == "bad_request"


def test_poll_in_stream_delivery_is_wrong_state(daemon):
    c = daemon.client()
    with pytest.raises(MioError) as info:
        c.poll(timeout=0)
    assert info.value.code == "wrong_state"
    c.hello(delivery="stream")
    with pytest.raises(MioError) as info:
        c.poll(timeout=0)
    assert info.value.code == "wrong_state"


def test_poll_blocks_later_requests(daemon):
    raw = daemon.raw()
    assert_ok(raw.request({"op": "hello", "id": 0, "delivery": "poll"}), 0)
    start = time.monotonic()
    raw.send(line({"op": "poll", "id": 1, "timeout_ms": 300}) + line({"op": "ping", "id": 2}))
    first = raw.read_json()
    assert_ok(first, 1)
    assert first["events"] == []
    assert time.monotonic() - start >= 0.25
    assert_ok(raw.read_json(), 2)


def test_poll_coalesces_between_polls(daemon, fds):
    r, w = fds.pipe()
    c = poll_client(daemon)
    c.register(r, 1)
    for _ in range(20):
        os.write(w, b"x")
    time.sleep(0.1)
    events = c.poll(timeout=1)
    assert events == [poll_event(1, readable=True)]
    assert c.poll(timeout=0.1) == []
    daemon.close_all_and_check_fds()


def test_poll_other_connections_not_blocked(daemon):
    c = poll_client(daemon)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("events", c.poll(timeout=1)))
    t.start()
    try:
        time.sleep(0.05)
        other = daemon.client()
        start = time.monotonic()
        other.ping()
        assert time.monotonic() - start < 0.5 * TIME_SCALE
    finally:
        t.join(5)
    assert result.get("events") == []


def test_poll_event_flags_close(daemon, fds):
    r, w = fds.pipe()
    c = poll_client(daemon)
    c.register(r, 1)
    fds.close(w)
    assert c.poll(timeout=2) == [poll_event(1, read_closed=True, write_closed=True)]
    daemon.close_all_and_check_fds()


def test_poll_persistent_session_pending_on_reattach(daemon, fds):
    r, w = fds.pipe()
    a = poll_client(daemon, session="pp", persist=True)
    a.register(r, 1)
    a.close()
    os.write(w, b"x")
    time.sleep(0.1)
    b = poll_client(daemon, session="pp")
    assert b.poll(timeout=1) == [poll_event(1, readable=True)]
    b.end()
    daemon.close_all_and_check_fds()


def test_poll_connection_closed_while_polling(daemon):
    raw = daemon.raw()
    assert_ok(raw.request({"op": "hello", "id": 0, "delivery": "poll"}), 0)
    raw.send(line({"op": "poll", "id": 1}))
    time.sleep(0.05)
    raw.close()
    daemon.close_all_and_check_fds()
    daemon.client().ping()


def test_poll_with_end_of_input(daemon):
    raw = daemon.raw()
    raw.send(line({"op": "hello", "id": 0, "delivery": "poll"}) + line({"op": "poll", "id": 1, "timeout_ms": 100}))
    raw.shutdown_write()
    assert_ok(raw.read_json(), 0)
    reply = raw.read_json()
    assert_ok(reply, 1)
    assert reply["events"] == []


def test_switch_between_delivery_modes_with_hello(daemon, fds):
    c = daemon.client()
    c.hello(delivery="poll")
    with pytest.raises(MioError):
        c.request("bogus")
    c.hello(delivery="stream")
    r, w = fds.pipe()
    c.register(r, 1)
    os.write(w, b"x")
    assert c.next_event(5) == ready(1, readable=True)
    daemon.close_all_and_check_fds()


def test_assert_error_helper_on_poll(daemon):
    raw = daemon.raw()
    assert_error(raw.request({"op": "poll", "id": 9, "timeout_ms": 0}), "wrong_state", 9)
