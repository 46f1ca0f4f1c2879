"""Events (docs/protocol.md, "Events"): the exact line format, each flag, edge and oneshot modes, and
ordering against register/deregister replies."""

import json
import os
import socket
import threading
import time

import pytest

from mio_testkit import cpu_seconds, drain
from raw_connection import line
from replies import assert_ok, ready
from timing import QUIET_S


def register_line(token, request_id, interest=("readable",), mode=None):
    obj = {"op": "register", "id": request_id, "token": token, "interest": list(interest)}
    if mode:
        obj["mode"] = mode
    return line(obj)


def test_event_line_exact_bytes(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(register_line(7, 1), [r])
    assert_ok(raw.read_json(), 1)
    os.write(w, b"x")
    assert raw.read_line() == (
        b'{"event":"ready","token":7,"readable":true,"writable":false,"error":false,'
        b'"read_closed":false,"write_closed":false,"priority":false}'
    )
    daemon.close_all_and_check_fds()


def test_event_line_exact_bytes_big_token(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(register_line(18446744073709551615, 1), [r])
    assert_ok(raw.read_json(), 1)
    os.write(w, b"x")
    text = raw.read_line()
    assert text.startswith(b'{"event":"ready","token":18446744073709551615,"readable":true,')
    daemon.close_all_and_check_fds()


def test_readable_on_pipe_write(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    assert c.next_event(QUIET_S) is None  # an empty pipe is not readable
    os.write(w, b"data")
    assert c.next_event(5) == ready(1, readable=True)
    daemon.close_all_and_check_fds()


def test_writable_on_pipe_write_end(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(w, 2, ("writable",))
    assert c.next_event(5) == ready(2, writable=True)
    daemon.close_all_and_check_fds()


def test_read_closed_when_writer_closes(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 3)
    assert c.next_event(QUIET_S) is None
    fds.close(w)
    # EPOLLHUP: read_closed and (as mio maps HUP) write_closed
    assert c.next_event(5) == ready(3, read_closed=True, write_closed=True)
    daemon.close_all_and_check_fds()


def test_read_closed_with_data_pending(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 3)
    os.write(w, b"last words")
    fds.close(w)
    events = list(c.events(QUIET_S))
    assert events, "no event"
    assert all(e["token"] == 3 for e in events)
    assert any(e["readable"] for e in events)
    assert any(e["read_closed"] for e in events)
    daemon.close_all_and_check_fds()


def test_write_closed_and_error_when_reader_closes(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(w, 4, ("writable",))
    assert c.next_event(5) == ready(4, writable=True)
    fds.close(r)
    ev = c.next_event(5)
    assert ev["token"] == 4
    assert ev["error"] is True and ev["write_closed"] is True
    assert ev["readable"] is False and ev["priority"] is False
    daemon.close_all_and_check_fds()


def test_socket_peer_shutdown_write_is_readable_and_read_closed(daemon, fds):
    a, b = fds.socketpair()
    c = daemon.client()
    c.register(a, 5)
    b.shutdown(socket.SHUT_WR)
    assert c.next_event(5) == ready(5, readable=True, read_closed=True)  # IN|RDHUP
    daemon.close_all_and_check_fds()


def test_socket_peer_close_both_directions(daemon, fds):
    a, b = fds.socketpair()
    c = daemon.client()
    c.register(a, 5, ("readable", "writable"))
    assert c.next_event(5) == ready(5, writable=True)
    b.close()
    ev = c.next_event(5)
    assert ev["token"] == 5 and ev["read_closed"] and ev["write_closed"]
    daemon.close_all_and_check_fds()


def tcp_pair(fds):
    listener = fds.keep(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = fds.keep(socket.create_connection(listener.getsockname(), timeout=5))
    server, _ = listener.accept()
    fds.keep(server)
    return client, server


def test_priority_via_tcp_oob(daemon, fds):
    client, server = tcp_pair(fds)
    c = daemon.client()
    c.register(server, 6, ("priority",))
    assert c.next_event(QUIET_S) is None
    client.send(b"!", socket.MSG_OOB)
    ev = c.next_event(5)
    assert ev["token"] == 6
    assert ev["priority"] is True
    assert ev["readable"] is True  # readable = IN or PRI
    assert ev["writable"] is False and ev["error"] is False
    daemon.close_all_and_check_fds()


def test_priority_with_readable_interest(daemon, fds):
    client, server = tcp_pair(fds)
    c = daemon.client()
    c.register(server, 6, ("readable", "priority"))
    client.send(b"!", socket.MSG_OOB)
    events = list(c.events(QUIET_S))
    assert events and all(e["token"] == 6 for e in events)
    assert any(e["priority"] for e in events)
    daemon.close_all_and_check_fds()


def test_no_priority_without_priority_interest(daemon, fds):
    client, server = tcp_pair(fds)
    c = daemon.client()
    c.register(server, 6, ("writable",))
    assert c.next_event(5) == ready(6, writable=True)
    client.send(b"!", socket.MSG_OOB)
    assert c.next_event(QUIET_S) is None
    daemon.close_all_and_check_fds()


def test_eventfd_readable(daemon, fds):
    from mio_testkit import eventfd

    efd = fds.own(eventfd())
    c = daemon.client()
    c.register(efd, 8)
    os.eventfd_write(efd, 1)
    assert c.next_event(5) == ready(8, readable=True)
    daemon.close_all_and_check_fds()


def test_timerfd_fires(daemon, fds):
    import ctypes

    from mio_testkit import timerfd

    tfd = fds.own(timerfd())
    c = daemon.client()
    c.register(tfd, 9)

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    class Itimerspec(ctypes.Structure):
        _fields_ = [("it_interval", Timespec), ("it_value", Timespec)]

    spec = Itimerspec(Timespec(0, 0), Timespec(0, 50_000_000))
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.timerfd_settime(tfd, 0, ctypes.byref(spec), None) == 0
    assert c.next_event(5) == ready(9, readable=True)
    daemon.close_all_and_check_fds()


def test_pidfd_readable_when_process_exits(daemon, fds):
    import subprocess

    child = subprocess.Popen(["sleep", "0.2"])
    try:
        pfd = fds.own(os.pidfd_open(child.pid))
        c = daemon.client()
        c.register(pfd, 10)
        ev = c.next_event(5)
        assert ev is not None and ev["token"] == 10 and ev["readable"]
    finally:
        child.wait()
    daemon.close_all_and_check_fds()


# -- edge-triggered ------------------------------------------------------------

def test_edge_no_repeat_without_new_readiness(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    os.write(w, b"x")
    assert c.next_event(5)["token"] == 1
    assert c.next_event(QUIET_S) is None  # not drained, but edge-triggered
    daemon.close_all_and_check_fds()


def test_edge_new_write_new_event(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    for _ in range(3):
        os.write(w, b"x")
        assert c.next_event(5)["token"] == 1
        drain(r)
    daemon.close_all_and_check_fds()


def test_register_already_ready_fd_gives_event(daemon, fds):
    r, w = fds.pipe()
    os.write(w, b"pending")
    c = daemon.client()
    c.register(r, 1)
    assert c.next_event(5) == ready(1, readable=True)
    daemon.close_all_and_check_fds()


# -- oneshot ---------------------------------------------------------------------

def test_oneshot_fires_once_until_reregister(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1, mode="oneshot")
    os.write(w, b"a")
    assert c.next_event(5) == ready(1, readable=True)
    os.write(w, b"b")
    drain(r)
    os.write(w, b"c")
    assert c.next_event(QUIET_S) is None  # disarmed
    c.reregister(1, ("readable",), "oneshot")
    assert c.next_event(5) == ready(1, readable=True)  # data is pending: fires on rearm
    os.write(w, b"d")
    assert c.next_event(QUIET_S) is None
    c.reregister(1, ("readable",), "edge")
    assert c.next_event(5)["token"] == 1
    drain(r)
    os.write(w, b"e")
    assert c.next_event(5)["token"] == 1  # edge now: every new write
    os.write(w, b"f")
    assert c.next_event(5)["token"] == 1
    daemon.close_all_and_check_fds()


def test_oneshot_still_listed_while_disarmed(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1, mode="oneshot")
    os.write(w, b"a")
    assert c.next_event(5)["token"] == 1
    entries = c.list()
    assert [e["token"] for e in entries] == [1] and entries[0]["mode"] == "oneshot"
    c.deregister(1)
    daemon.close_all_and_check_fds()


# -- ordering --------------------------------------------------------------------

def test_no_event_before_register_reply(daemon, fds):
    """Pipes made readable before they are registered: every token's reply
    comes before its first event."""
    n = 50
    pipes = [fds.pipe() for _ in range(n)]
    for _, w in pipes:
        os.write(w, b"ready")
    raw = daemon.raw()
    for token, (r, _) in enumerate(pipes):
        raw.send(register_line(token, token), [r])
    replied = set()
    seen_events = set()
    deadline = time.monotonic() + 10
    while (len(replied) < n or len(seen_events) < n) and time.monotonic() < deadline:
        obj = raw.read_json()
        if "event" in obj:
            assert obj["token"] in replied, f"event for token {obj['token']} before its register reply"
            seen_events.add(obj["token"])
        else:
            assert_ok(obj)
            replied.add(obj["id"])
    assert len(replied) == n and len(seen_events) == n
    daemon.close_all_and_check_fds()


class Writer(threading.Thread):
    """Keeps a pipe changing: writes a byte, drains when full."""

    def __init__(self, r, w):
        super().__init__(daemon=True)
        self.r, self.w = r, w
        self.stop = threading.Event()
        self.writes = 0

    def run(self):
        while not self.stop.is_set():
            try:
                os.write(self.w, b"x")
                self.writes += 1
            except BlockingIOError:
                drain(self.r)
            except OSError:
                return
            if self.writes % 64 == 0:
                time.sleep(0.0005)


def test_no_event_after_deregister_reply(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    writer = Writer(r, w)
    writer.start()
    try:
        for round_ in range(20):
            token = 100 + round_
            raw.send(register_line(token, f"r{round_}"), [r])
            # wait for at least one event of this token (the pipe keeps changing)
            got_reply = got_event = False
            while not (got_reply and got_event):
                obj = raw.read_json()
                if obj.get("event") == "ready":
                    assert obj["token"] == token, obj
                    assert got_reply, "event before the register reply"
                    got_event = True
                else:
                    assert_ok(obj, f"r{round_}")
                    got_reply = True
            raw.send(line({"op": "deregister", "id": f"d{round_}", "token": token}))
            while True:
                obj = raw.read_json()
                if obj.get("event") == "ready":
                    assert obj["token"] == token
                    continue
                assert_ok(obj, f"d{round_}")
                break
            # after the reply: nothing more for this token, while the writer goes on
            raw.send(line({"op": "ping", "id": f"p{round_}"}))
            obj = raw.read_json()
            assert obj.get("event") is None, f"event after deregister reply: {obj}"
            assert_ok(obj, f"p{round_}")
        raw.expect_silence(0.2)
    finally:
        writer.stop.set()
        writer.join(5)
    assert writer.writes > 0
    daemon.close_all_and_check_fds()


def test_no_event_after_fetch_deregister_reply(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    writer = Writer(r, w)
    writer.start()
    try:
        raw.send(register_line(1, "reg"), [r])
        events = []
        assert_ok(raw.read_reply(events=events), "reg")
        raw.send(line({"op": "fetch", "id": "f", "token": 1, "deregister": True}))
        while True:
            text, got = raw.read_line_fds()
            obj = json.loads(text)
            if obj.get("event"):
                assert not got
                continue
            assert_ok(obj, "f")
            assert len(got) == 1
            fds.own(got[0])
            break
        raw.expect_silence(QUIET_S)
    finally:
        writer.stop.set()
        writer.join(5)
    daemon.close_all_and_check_fds()


def test_events_for_several_tokens_are_told_apart(daemon, fds):
    pipes = [fds.pipe() for _ in range(10)]
    c = daemon.client()
    for token, (r, _) in enumerate(pipes):
        c.register(r, token)
    for token in (3, 7, 1):
        os.write(pipes[token][1], b"x")
        assert c.next_event(5) == ready(token, readable=True)
    assert c.next_event(QUIET_S) is None
    daemon.close_all_and_check_fds()


def test_events_interleaved_with_replies_are_not_lost(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    os.write(w, b"x")
    time.sleep(0.05)
    for _ in range(5):
        c.ping()  # the event arrives among these replies and is queued
    ev = c.next_event(5)
    assert ev == ready(1, readable=True)
    daemon.close_all_and_check_fds()


@pytest.mark.parametrize("interest", [("readable", "writable"), ("readable", "writable", "priority")])
def test_combined_interest_on_socket(daemon, fds, interest):
    a, b = fds.socketpair()
    c = daemon.client()
    c.register(a, 1, interest)
    assert c.next_event(5) == ready(1, writable=True)
    b.send(b"x")
    ev = c.next_event(5)
    assert ev["token"] == 1 and ev["readable"]
    daemon.close_all_and_check_fds()


def test_no_event_after_end_reply(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    writer = Writer(r, w)
    writer.start()
    try:
        for round_ in range(10):
            raw.send(register_line(1, f"r{round_}"), [r])
            events = []
            assert_ok(raw.read_reply(events=events), f"r{round_}")
            raw.send(line({"op": "end", "id": f"e{round_}"}))
            assert_ok(raw.read_reply(events=[]), f"e{round_}")
            raw.send(line({"op": "ping", "id": f"p{round_}"}))
            obj = raw.read_json()
            assert obj.get("event") is None, f"event after the end reply: {obj}"
            assert_ok(obj, f"p{round_}")
        raw.expect_silence(0.2)
    finally:
        writer.stop.set()
        writer.join(5)
    daemon.close_all_and_check_fds()


def test_the_daemon_sleeps_again_after_a_burst(daemon, fds):
    """A burst of readiness keeps the loop looking without sleeping
    (docs/protocol.md, "Decisions and additions"), but only while looks find
    something: once it is over, the daemon uses no CPU."""
    raw = daemon.raw()
    pipes = [fds.pipe() for _ in range(200)]
    for token, (r, _) in enumerate(pipes):
        raw.send(line({"op": "register", "token": token, "interest": ["readable"], "id": token}), [r])
    for token in range(len(pipes)):
        assert raw.read_reply()["ok"]
    for _, w in pipes:
        os.write(w, b"x")
    assert sorted(e["token"] for e in raw.collect_events()) == list(range(len(pipes)))
    before = cpu_seconds(daemon.pid)
    time.sleep(1.0)
    used = cpu_seconds(daemon.pid) - before
    assert used < 0.1, f"the daemon used {used:.2f} s of CPU in the second after a burst"
    daemon.close_all_and_check_fds()
