"""Hostile rings (issue 14, docs/protocol.md "Ring delivery": the daemon
reads only tail and sleeping, and never trusts them). Consumers that write
anything anywhere in the shared memory, or abuse the doorbell and the
memfd, while events flow. The daemon must stay healthy (a fresh client's
ping answered promptly, no crash, memory bounded, fds back at the
baseline), other clients' events must be unaffected, and it must write
nothing but head, overflow and records. Each test ends with
``daemon.assert_healthy()``."""

from __future__ import annotations

import ctypes
import fcntl
import os
import random
import termios
import threading
import time
from typing import Callable, List

import pytest

from replies import assert_ok, ready
from ring_reader import DAEMON_WRITES_IN_HEADER, RECORD_SIZE, drain_until, hello_ring
from timing import PING_S, QUIET_S, WAIT_S, wait_until

UINT64_MAX = (1 << 64) - 1
libc = ctypes.CDLL(None, use_errno=True)
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 1, 2


class Traffic:
    """Pipes registered by the hostile ring's connection, written and
    drained by a thread: an edge on every pipe, over and over, until
    stopped."""

    def __init__(self, conn, fds, count: int) -> None:
        self.ends = []
        for token in range(1, count + 1):
            r, w = fds.pipe()
            conn.ok({"op": "register", "id": token, "token": token, "interest": ["readable"]}, [r])
            self.ends.append((r, w))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            for r, w in self.ends:
                os.write(w, b"x")
            time.sleep(0.001)
            for r, w in self.ends:
                try:
                    os.read(r, 64)
                except BlockingIOError:
                    pass

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)


class Bystander:
    """A well-behaved stream client of its own session: its wake must come
    back as an event line promptly whatever the hostile ring does."""

    def __init__(self, daemon) -> None:
        self.conn = daemon.raw(strict=True)
        self.conn.ok({"op": "waker", "id": 1, "token": 42})
        self.worst = 0.0

    def check(self) -> None:
        start = time.monotonic()
        self.conn.ok({"op": "wake", "id": 2, "token": 42})
        assert self.conn.read_json(timeout=PING_S) == ready(42, readable=True)
        self.worst = max(self.worst, time.monotonic() - start)


def keep_abusing(seconds: float, abuse: Callable[[], None], daemon, bystander: Bystander) -> None:
    """``abuse()`` over and over for ``seconds``, and every 100 ms a fresh
    client's ping and the bystander's wake, each answered within PING_S."""
    end = time.monotonic() + seconds
    next_check = 0.0
    while time.monotonic() < end:
        abuse()
        if time.monotonic() >= next_check:
            daemon.ping_fresh()
            bystander.check()
            next_check = time.monotonic() + 0.1


def hostile_ring(daemon, rings, entries=64):
    conn = daemon.raw(strict=False)
    _, ring = hello_ring(conn, entries)
    rings.keep(ring)
    return conn, ring


# ------------------------------------------------------------------ scribbling

def test_random_bytes_over_the_whole_ring_while_events_flow(daemon, rings, fds):
    conn, ring = hostile_ring(daemon, rings)
    bystander = Bystander(daemon)
    rng = random.Random(14)
    size = ring.size

    def scribble() -> None:
        choice = rng.randrange(4)
        if choice == 0:
            ring.map[0:size] = rng.randbytes(size)
        elif choice == 1:
            ring.map[0:256] = rng.randbytes(256)
        elif choice == 2:
            ring.tail = rng.getrandbits(64)
            ring.sleeping = rng.getrandbits(32)
        else:
            conn.send(b"\n")  # and ask for refills, as if overflow were set

    with Traffic(conn, fds, 50):
        keep_abusing(2.0, scribble, daemon, bystander)
    conn.close()
    bystander.conn.close()
    daemon.assert_healthy()


# head - tail (mod 2^64) more than entries: no honest consumer wrote it.
@pytest.mark.parametrize("bad_tail", [
    lambda head, entries: head + 1,                          # just beyond the producer
    lambda head, entries: head + entries,                    # a ring beyond it
    lambda head, entries: (head - entries - 1) % (1 << 64),  # more than a ring unread
    lambda head, entries: head + (1 << 63),                  # half way round
], ids=["beyond_head", "a_ring_beyond", "more_than_a_ring", "half_way_round"])
@pytest.mark.parametrize("sleeping", [0, 1, 0xFFFFFFFF, 0x80000000])
def test_impossible_tail_is_taken_as_full(daemon, rings, bad_tail, sleeping):
    """Whatever tail says, the daemon writes no record it has no room for,
    does not spin, and recovers as soon as tail is honest again."""
    conn, ring = hostile_ring(daemon, rings)
    tokens = list(range(1, 201))
    conn.send(b"".join(b'{"op":"waker","id":%d,"token":%d}\n' % (t, t) for t in tokens))
    for t in tokens:
        assert_ok(conn.read_reply(), t)
    ring.tail = bad_tail(ring.head, ring.entries)
    ring.sleeping = sleeping
    head = ring.head
    conn.send(b"".join(b'{"op":"wake","id":%d,"token":%d}\n' % (t, t) for t in tokens))
    for t in tokens:
        assert_ok(conn.read_reply(), t)
    conn.send(b"\n" * 100)  # refill requests change nothing either
    conn.ping()
    assert daemon.cpu_over(0.5) < 0.25, "the daemon spins on a bad tail"
    assert ring.head == head, "records written without room"
    assert ring.overflow == 1
    daemon.ping_fresh()
    # Honest again: every token comes (the refill newline asks for them).
    ring.tail = ring.head
    ring.consumed = ring.head
    ring.sleeping = 0
    assert drain_until(ring, conn.sock, set(tokens), WAIT_S) == set(tokens)
    conn.close()
    daemon.assert_healthy()


def test_tail_changed_in_a_tight_loop_from_a_thread(daemon, rings, fds):
    conn, ring = hostile_ring(daemon, rings)
    bystander = Bystander(daemon)
    stop = threading.Event()

    def flip() -> None:
        rng = random.Random(7)
        values = [0, 1, 63, 64, 65, UINT64_MAX, 1 << 63]
        while not stop.is_set():
            head = ring.head
            for v in values:
                ring.tail = v
                ring.tail = head
                ring.tail = head - rng.randrange(128)
                ring.sleeping = rng.getrandbits(32)

    flipper = threading.Thread(target=flip, daemon=True)
    with Traffic(conn, fds, 50):
        flipper.start()
        try:
            keep_abusing(2.0, lambda: time.sleep(0.005), daemon, bystander)
        finally:
            stop.set()
            flipper.join(5)
    end = ring.records_end()
    assert bytes(ring.map[end:ring.size]) == bytes(ring.size - end), "the daemon wrote past the records"
    conn.close()
    bystander.conn.close()
    daemon.assert_healthy()


def test_daemon_writes_only_head_overflow_and_records(daemon, rings):
    """Every byte of the mapping set to a pattern, then records flow: only
    head, overflow and the records written are changed. head is the
    daemon's own count, not read back from the (scribbled) shared memory."""
    conn, ring = hostile_ring(daemon, rings, 64)
    tokens = list(range(1, 11))
    conn.send(b"".join(b'{"op":"waker","id":%d,"token":%d}\n' % (t, t) for t in tokens))
    for t in tokens:
        assert_ok(conn.read_reply(), t)
    pattern = 0xA5
    ring.map[0:ring.size] = bytes([pattern]) * ring.size
    ring.tail = 0
    ring.sleeping = 0
    before = bytes(ring.map[0:ring.size])
    conn.send(b"".join(b'{"op":"wake","id":%d,"token":%d}\n' % (t, t) for t in tokens))
    for t in tokens:
        assert_ok(conn.read_reply(), t)
    wait_until(lambda: ring.head == len(tokens), what="head = 10, the daemon's own count")
    time.sleep(QUIET_S)
    after = bytes(ring.map[0:ring.size])
    allowed = set()
    for span in DAEMON_WRITES_IN_HEADER:
        allowed.update(span)
    first_records = range(ring.records_offset, ring.records_offset + len(tokens) * RECORD_SIZE)
    allowed.update(first_records)
    changed = [i for i in range(ring.size) if after[i] != before[i] and i not in allowed]
    assert not changed, f"the daemon wrote bytes {changed[:20]}... outside head, overflow and records 0..9"
    assert ring.overflow in (0xA5A5A5A5, 1), hex(ring.overflow)
    assert sorted(ring.record(p)[0] for p in range(len(tokens))) == tokens
    assert all(ring.record(p)[1] == 1 for p in range(len(tokens)))
    conn.close()
    daemon.assert_healthy()


# ------------------------------------------------------------------ the doorbell and the memfd

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def test_doorbell_made_blocking_shrunk_and_never_read(daemon, rings, fds):
    """The doorbell's read end made blocking, the pipe shrunk to one page,
    never read, while the consumer says it sleeps and events flow: the
    pipe fills, and the daemon's write end (its own file description,
    still non-blocking) just finds it full. Writing into the read end is
    refused by the kernel."""
    conn, ring = hostile_ring(daemon, rings)
    bystander = Bystander(daemon)
    flags = fcntl.fcntl(ring.doorbell, fcntl.F_GETFL)
    fcntl.fcntl(ring.doorbell, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
    capacity = fcntl.fcntl(ring.doorbell, F_SETPIPE_SZ, 4096)
    with pytest.raises(OSError):
        os.write(ring.doorbell, b"x" * 8)
    theirs = wait_until(lambda: (lambda on: on if len(on) == 1 else None)(daemon.fds_on(ring.doorbell)),
                        what="the daemon to hold only its end of the doorbell")
    assert daemon.fd_flags(theirs[0]) & os.O_NONBLOCK, "our fcntl reached the daemon's end"
    with Traffic(conn, fds, 20):
        def sleep_and_consume() -> None:
            ring.sleeping = 1
            ring.take(conn.sock)
            time.sleep(0.0005)
        end = time.monotonic() + 20
        next_check = 0.0
        # Until the pipe is full (one byte per ring), checking all along.
        while unread_bytes(ring.doorbell) < capacity and time.monotonic() < end:
            sleep_and_consume()
            if time.monotonic() >= next_check:
                daemon.ping_fresh()
                bystander.check()
                next_check = time.monotonic() + 0.1
        assert unread_bytes(ring.doorbell) == capacity, "the doorbell never filled"
        keep_abusing(0.5, sleep_and_consume, daemon, bystander)
    assert daemon.cpu_over(0.5) < 0.25
    conn.close()
    bystander.conn.close()
    daemon.assert_healthy()


def unread_bytes(fd: int) -> int:
    """FIONREAD: the bytes waiting in a pipe."""
    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(buf, "little")


def test_punching_holes_in_the_memfd_while_events_flow(daemon, rings, fds):
    """The seals stop resizing; holes punched in the memfd (allowed: it is
    not write-sealed) only zero pages under the daemon's mapping."""
    conn, ring = hostile_ring(daemon, rings, 4096)
    bystander = Bystander(daemon)

    def punch() -> None:
        r = libc.fallocate(ring.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, ctypes.c_long(0), ctypes.c_long(ring.size))
        assert r == 0, os.strerror(ctypes.get_errno())
        # Consume whatever head now says (the header is zeros after a punch).
        ring.tail = ring.head
        if ring.overflow:
            ring.overflow = 0
            conn.send(b"\n")
        time.sleep(0.002)

    with Traffic(conn, fds, 50):
        keep_abusing(1.5, punch, daemon, bystander)
    with pytest.raises(PermissionError):
        os.ftruncate(ring.memfd, 4096)
    conn.close()
    bystander.conn.close()
    daemon.assert_healthy()


def test_many_big_rings_come_and_go(daemon, rings):
    """Rings of 65536 records (1 MiB each) opened and closed over and over,
    with a touched page in each: daemon memory and fds come back."""
    for round_ in range(4):
        conns: List = []
        for _ in range(25):
            conn, ring = hostile_ring(daemon, rings, 65536)
            ring.map[0:ring.size] = b"\xff" * ring.size  # every page of the memfd exists now
            conns.append(conn)
        daemon.ping_fresh()
        for conn in conns:
            conn.close()
        rings.close_all()
        daemon.assert_fds_released()
    daemon.assert_healthy()


def test_newline_flood_with_a_full_ring(daemon, rings):
    conn, ring = hostile_ring(daemon, rings, 64)
    tokens = list(range(1, 301))
    conn.send(b"".join(b'{"op":"waker","id":%d,"token":%d}\n' % (t, t) for t in tokens))
    conn.send(b"".join(b'{"op":"wake","id":%d,"token":%d}\n' % (t, t) for t in tokens))
    for _ in range(2 * len(tokens)):
        assert conn.read_reply().get("ok") is True
    for _ in range(20):
        conn.send(b"\n" * 5000)
    conn.ping(timeout=WAIT_S)
    daemon.ping_fresh()
    assert ring.head - ring.tail <= ring.entries
    conn.close()
    daemon.assert_healthy()
