"""Coalescing (docs/protocol.md, "Delivery, backpressure and coalescing"):
a client that reads slowly costs the daemon memory bounded by its
registrations, loses no flag, and does not slow other clients.

Which suite: Tests/integration holds what docs/protocol.md promises a
client that follows it, one promise per test, checked on the exact replies
and events. A client that breaks the rules or pushes the limits (floods,
never reading, vanishing mid-write) is Tests/hostile's."""

import os
import threading
import time

from mio_testkit import drain
from raw_connection import line
from replies import assert_ok
from timing import QUIET_S, SANITIZER, TIME_SCALE, wait_until

N_PIPES = 300
ROUNDS = 50
RSS_SLACK_KIB = 4 * 1024


def register_all(raw, pipes):
    for token, (r, _) in enumerate(pipes):
        raw.send(line({"op": "register", "id": token, "token": token, "interest": ["readable"]}), [r])
    for token in range(len(pipes)):
        assert_ok(raw.read_reply(), token)


def test_slow_reader_every_token_delivered_memory_bounded(daemon, fds):
    pipes = [fds.pipe() for _ in range(N_PIPES)]
    slow = daemon.raw()
    register_all(slow, pipes)
    watcher = daemon.client()
    # Warm up: one round read normally, so the daemon's buffers exist already.
    for _, w in pipes:
        os.write(w, b"w")
    seen = set()
    while len(seen) < N_PIPES:
        seen.add(slow.read_json()["token"])
    time.sleep(0.1)
    slow.read_all(quiet=0.1)
    rss_before = daemon.rss_kib()
    coalesced_before = watcher.stats()["events_coalesced"]

    # The slow client stops reading; every pipe becomes ready ROUNDS times.
    for _ in range(ROUNDS):
        for _, w in pipes:
            os.write(w, b"x")
        time.sleep(0.002)
    time.sleep(0.3)
    # The daemon still serves others promptly.
    start = time.monotonic()
    stats = watcher.stats()
    assert time.monotonic() - start < 1.0 * TIME_SCALE
    rss_during = daemon.rss_kib()

    # Now read: every token at least once, readable.
    readable = set()
    deadline = time.monotonic() + 20
    while len(readable) < N_PIPES and time.monotonic() < deadline:
        ev = slow.read_json()
        assert ev.get("event") == "ready", ev
        if ev["readable"]:
            readable.add(ev["token"])
    assert readable == set(range(N_PIPES))
    slow.read_all(quiet=0.2)
    rss_after = daemon.rss_kib()
    growth = max(rss_during, rss_after) - rss_before
    assert SANITIZER or growth < RSS_SLACK_KIB, f"RSS grew by {growth} KiB (before {rss_before}, during {rss_during}, after {rss_after})"
    assert stats["events_coalesced"] > coalesced_before, "15000 readiness changes against a full socket but nothing coalesced"
    daemon.close_all_and_check_fds()


def test_slow_reader_loses_no_read_closed(daemon, fds):
    """Flags are OR-ed while queued: a read_closed that comes after many
    readable events still arrives."""
    pipes = [fds.pipe() for _ in range(N_PIPES)]
    slow = daemon.raw()
    register_all(slow, pipes)
    for _ in range(20):
        for _, w in pipes:
            os.write(w, b"x")
    for r, w in pipes:
        fds.close(w)
    time.sleep(0.3)
    closed = set()
    readable = set()
    deadline = time.monotonic() + 20
    while len(closed) < N_PIPES and time.monotonic() < deadline:
        ev = slow.read_json()
        if ev["readable"]:
            readable.add(ev["token"])
        if ev["read_closed"]:
            closed.add(ev["token"])
    assert closed == set(range(N_PIPES))
    assert readable == set(range(N_PIPES))
    daemon.close_all_and_check_fds()


def test_slow_reader_loses_no_write_closed(daemon, fds):
    pipes = [fds.pipe() for _ in range(100)]
    slow = daemon.raw()
    for token, (_, w) in enumerate(pipes):
        slow.send(line({"op": "register", "id": token, "token": token, "interest": ["writable"]}), [w])
    for token in range(len(pipes)):
        assert_ok(slow.read_reply(events=[]), token)
    # keep the writable edge changing, then close every reader
    for _ in range(20):
        for r, w in pipes:
            os.write(w, b"x")
            os.read(r, 10)
    for r, _ in pipes:
        fds.close(r)
    time.sleep(0.2)
    closed = set()
    deadline = time.monotonic() + 20
    while len(closed) < len(pipes) and time.monotonic() < deadline:
        ev = slow.read_json()
        if ev.get("write_closed"):
            assert ev["error"]
            closed.add(ev["token"])
    assert closed == set(range(len(pipes)))
    daemon.close_all_and_check_fds()


def test_pending_readiness_is_one_entry_per_token(daemon, fds):
    """After the client catches up, one event per token at most is queued:
    reading the backlog ends quickly, not after thousands of stale lines."""
    pipes = [fds.pipe() for _ in range(50)]
    slow = daemon.raw()
    register_all(slow, pipes)
    for _ in range(200):
        for _, w in pipes:
            os.write(w, b"x")
    time.sleep(0.3)
    events = slow.read_all(quiet=QUIET_S)
    # Unix socket buffers hold some already-written lines; the rest coalesced.
    assert len(events) < 200 * 50, f"{len(events)} events: nothing coalesced"
    assert {e["token"] for e in events} == set(range(50))
    daemon.close_all_and_check_fds()


def test_fast_event_stream_is_delivered_while_reading(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    stop = threading.Event()

    def write_loop():
        while not stop.is_set():
            try:
                os.write(w, b"x")
            except BlockingIOError:
                time.sleep(0.001)

    t = threading.Thread(target=write_loop, daemon=True)
    t.start()
    try:
        got = 0
        deadline = time.monotonic() + 5
        while got < 100 and time.monotonic() < deadline:
            ev = c.next_event(1)
            if ev:
                got += 1
                drain(r)
        assert got >= 100
    finally:
        stop.set()
        t.join(5)
    wait_until(lambda: c.stats()["events_delivered"] >= 100, what="events_delivered")
    daemon.close_all_and_check_fds()
