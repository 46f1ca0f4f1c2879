"""Ring delivery as docs/protocol.md ("Ring delivery") promises it to a
consumer that follows the rules: the hello reply and its two fds, the
header, records with the same tokens and flags as event lines, overflow
and the newline refill, the doorbell, ring_head, and the ring let go of.
The consumer is Tests/common/ring_reader.py. Each test ends with the
daemon's fds back at their baseline."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import time
from typing import Dict, List, Tuple

import pytest

from replies import assert_error, assert_ok, ready
from ring_reader import (DEFAULT_ENTRIES, F_ADD_SEALS, F_GET_SEALS, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK,
                         F_SEAL_WRITE, MAGIC, OFF_ENTRIES, OFF_MAGIC, OFF_RECORD_SIZE, OFF_RECORDS_OFFSET, OFF_VERSION,
                         RECORD_SIZE, RECORDS_OFFSET, VERSION, Ring, drain_until, flags_of, hello_ring, ring_size)
from timing import QUIET_S, WAIT_S, wait_until

UINT64_MAX = (1 << 64) - 1


def open_ring(daemon, rings, entries=None, **fields) -> Tuple[object, Dict, Ring]:
    conn = daemon.raw()
    reply, ring = hello_ring(conn, entries, **fields)
    rings.keep(ring)
    return conn, reply, ring


def memfd_maps(pid: int) -> int:
    """How many mappings of memfds the process has."""
    with open(f"/proc/{pid}/maps") as f:
        return sum(1 for text in f if "/memfd:" in text)


def wake_all(conn, tokens) -> None:
    """One pipelined batch of wakes, then their replies."""
    conn.send(b"".join(b'{"op":"wake","id":%d,"token":%d}\n' % (t, t) for t in tokens))
    for t in tokens:
        assert_ok(conn.read_reply(), t)


def make_wakers(conn, tokens) -> None:
    conn.send(b"".join(b'{"op":"waker","id":%d,"token":%d}\n' % (t, t) for t in tokens))
    for t in tokens:
        assert_ok(conn.read_reply(), t)


def records_by_token(records) -> Dict[int, int]:
    """token -> OR of the flags of its records."""
    out: Dict[int, int] = {}
    for _, token, flags in records:
        out[token] = out.get(token, 0) | flags
    return out


# ------------------------------------------------------------------ hello

@pytest.mark.parametrize("entries", [None, 64, 1024, 65536])
def test_hello_ring_reply_brings_a_sealed_memfd_and_a_pipe(daemon, rings, entries):
    conn, reply, ring = open_ring(daemon, rings, entries)
    want = entries or DEFAULT_ENTRIES
    assert reply["id"] == "ring" and reply["delivery"] == "ring" and reply["ring_entries"] == want, reply
    assert os.readlink(f"/proc/self/fd/{ring.memfd}").startswith("/memfd:")
    # The doorbell: a pipe's read end; the daemon keeps only the write end,
    # non-blocking (its own file description: nothing we do to ours reaches it).
    assert stat.S_ISFIFO(os.fstat(ring.doorbell).st_mode)
    assert fcntl.fcntl(ring.doorbell, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    # (The daemon closes its copy of our end once the reply is sent.)
    theirs = wait_until(lambda: (lambda on: on if len(on) == 1 else None)(daemon.fds_on(ring.doorbell)),
                        what="the daemon to hold only its end of the doorbell")
    assert daemon.fd_flags(theirs[0]) & (os.O_ACCMODE | os.O_NONBLOCK) == os.O_WRONLY | os.O_NONBLOCK
    seals = fcntl.fcntl(ring.memfd, F_GET_SEALS)
    assert seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, hex(seals)
    assert ring.size == ring_size(want)
    assert ring.u32_at(OFF_MAGIC) == MAGIC and bytes(ring.map[0:4]) == b"RING"
    assert ring.u32_at(OFF_VERSION) == VERSION
    assert ring.u32_at(OFF_ENTRIES) == want
    assert ring.u32_at(OFF_RECORD_SIZE) == RECORD_SIZE
    assert ring.u32_at(OFF_RECORDS_OFFSET) == RECORDS_OFFSET
    assert (ring.head, ring.tail, ring.overflow, ring.sleeping) == (0, 0, 0, 0)
    header = bytes(ring.map[0:RECORDS_OFFSET])
    for start, end in ((20, 64), (76, 128), (140, 256)):
        assert header[start:end] == bytes(end - start), f"reserved header bytes {start}..{end} are not zero"
    # The seals hold: the daemon's mapping cannot be cut short under it.
    with pytest.raises(PermissionError):
        os.ftruncate(ring.memfd, 0)
    with pytest.raises(PermissionError):
        os.ftruncate(ring.memfd, ring.size * 2)
    with pytest.raises(PermissionError):
        fcntl.fcntl(ring.memfd, F_ADD_SEALS, F_SEAL_WRITE)
    # Replies stay on the socket; the connection works.
    conn.ping()
    ring.close()
    daemon.close_all_and_check_fds()


@pytest.mark.parametrize("entries", [0, 32, 63, 100, 65537, 131072, -64, "x", "4096", 4096.5, True, [64]])
def test_bad_ring_entries_is_bad_request(daemon, fds, entries):
    conn = daemon.raw()
    conn.send_json({"op": "hello", "id": 1, "delivery": "ring", "ring_entries": entries})
    text, got = conn.read_line_fds()
    for fd in got:
        os.close(fd)
    assert not got, f"an error reply brought {len(got)} fd(s)"
    assert_error(json.loads(text), "bad_request", 1)
    # Nothing changed: the connection still streams its events as lines.
    conn.ok({"op": "waker", "id": 2, "token": 5})
    conn.ok({"op": "wake", "id": 3, "token": 5})
    assert conn.read_json() == ready(5, readable=True)
    daemon.close_all_and_check_fds()


@pytest.mark.parametrize("delivery", [None, "stream", "poll"])
def test_ring_entries_without_ring_delivery_is_bad_request(daemon, delivery):
    conn = daemon.raw()
    request = {"op": "hello", "id": 1, "ring_entries": 64}
    if delivery:
        request["delivery"] = delivery
    assert_error(conn.request(request), "bad_request", 1)
    conn.ping()
    daemon.close_all_and_check_fds()


# ------------------------------------------------------------------ records

def oob_supported() -> bool:
    """AF_UNIX out-of-band data (Linux 5.15, CONFIG_AF_UNIX_OOB)."""
    a, b = socket.socketpair()
    try:
        a.send(b"!", socket.MSG_OOB)
        return True
    except OSError:
        return False
    finally:
        a.close()
        b.close()


def gather(json_conn, ring_conn, ring: Ring, want: set) -> Tuple[Dict[int, int], Dict[int, int]]:
    """Events of both connections until each has every token of ``want``
    and a quiet spell passed: token -> OR of flags, for each side."""
    lines: Dict[int, int] = {}
    records: Dict[int, int] = {}
    end = time.monotonic() + WAIT_S
    quiet_since = None
    while time.monotonic() < end:
        got_any = False
        for event in json_conn.collect_events(quiet=0.02, limit=0.05):
            lines[event["token"]] = lines.get(event["token"], 0) | flags_of(event)
            got_any = True
        json_conn.events.clear()
        for token, flags in records_by_token(ring.take(ring_conn.sock)).items():
            records[token] = records.get(token, 0) | flags
            got_any = True
        if want <= set(lines) and want <= set(records):
            if got_any:
                quiet_since = time.monotonic()
            elif quiet_since and time.monotonic() - quiet_since > QUIET_S:
                break
    ring_conn.expect_silence(0.01)  # no event line came on the ring's socket
    return lines, records


def test_records_carry_what_event_lines_carry(daemon, rings, fds):
    """The same fds (duplicates) registered under the same tokens in a
    stream session and a ring session: after each change both get the same
    tokens with the same flags."""
    json_conn = daemon.raw(strict=False)  # its events may come between the replies: kept in .events
    ring_conn, _, ring = open_ring(daemon, rings, 64)
    pipe_r, pipe_w = fds.pipe()
    _, other_w = fds.pipe()  # not pipe_w: closing pipe_w must close the pipe's last write end
    a, b = fds.socketpair()
    regs = [(1, pipe_r, ["readable"]), (2, other_w, ["writable"]), (UINT64_MAX, a.fileno(), ["readable", "writable", "priority"])]
    for conn in (json_conn, ring_conn):
        for token, fd, interest in regs:
            conn.ok({"op": "register", "id": 1, "token": token, "interest": interest}, [fd])
        conn.ok({"op": "waker", "id": 2, "token": 7})
    # Writable at once: the pipe's write end and the socket.
    lines, records = gather(json_conn, ring_conn, ring, {2, UINT64_MAX})
    assert lines == records and lines[2] == flags_of(ready(2, writable=True)), (lines, records)

    steps = [
        (lambda: os.write(pipe_w, b"x"), {1}),
        (lambda: b.send(b"y"), {UINT64_MAX}),
        *([(lambda: b.send(b"!", socket.MSG_OOB), {UINT64_MAX})] if oob_supported() else []),
        (lambda: [conn.ok({"op": "wake", "id": 3, "token": 7}) for conn in (json_conn, ring_conn)], {7}),
        (lambda: fds.close(pipe_w), {1}),
        (lambda: b.shutdown(socket.SHUT_WR), {UINT64_MAX}),
    ]
    for step, tokens in steps:
        step()
        lines, records = gather(json_conn, ring_conn, ring, tokens)
        assert lines == records, f"event lines {lines} vs records {records}"
        if tokens == {1} and pipe_w not in fds.fds:
            assert records[1] & flags_of(ready(1, read_closed=True)), records
    assert all(ring.record(p)[2] == 0 for p, _, _ in ring.taken), "reserved record bytes not zero"
    json_conn.close()
    ring_conn.close()
    ring.close()
    daemon.assert_fds_released()


def test_ring_smaller_than_the_burst_delivers_every_token(daemon, rings):
    """64 records, 1000 tokens made ready at once, twice: overflow is set,
    the ring never holds more than it can, nothing spins while nobody
    reads, and the newline refills until every token came, once each."""
    conn, _, ring = open_ring(daemon, rings, 64)
    tokens = list(range(1, 1001))
    make_wakers(conn, tokens)
    for round_ in range(2):
        start = ring.consumed
        wake_all(conn, tokens)
        wait_until(lambda: ring.head - ring.tail == 64, what="a full ring")
        assert ring.overflow == 1
        # Full and unread: the daemon waits, without spinning or writing.
        assert daemon.cpu_over(0.5) < 0.25
        assert ring.head - ring.tail == 64
        conn.ping()
        fullness: List[int] = []
        seen = drain_until(ring, conn.sock, set(tokens), WAIT_S * 2,
                           on_records=lambda records: fullness.append(len(records)))
        assert seen == set(tokens), f"round {round_}: {len(set(tokens) - seen)} tokens never came"
        this_round = [token for position, token, _ in ring.taken if position >= start]
        assert sorted(this_round) == tokens, "a token came twice in one round, or a record was lost"
        assert max(fullness) <= 64
        assert all(flags == 1 for position, _, flags in ring.taken if position >= start)
    conn.close()
    ring.close()
    daemon.close_all_and_check_fds()


def test_doorbell_rings_only_when_the_consumer_sleeps(daemon, rings):
    conn, _, ring = open_ring(daemon, rings)
    conn.ok({"op": "waker", "id": 1, "token": 1})
    # Awake: records come, the doorbell stays silent.
    for _ in range(3):
        conn.ok({"op": "wake", "id": 2, "token": 1})
        wait_until(lambda: ring.head > ring.consumed, what="a record")
        assert [token for _, token, _ in ring.take()] == [1]
    assert not ring.doorbell_ready(QUIET_S)
    # Asleep: the next record rings it.
    assert ring.arm()
    conn.ok({"op": "wake", "id": 3, "token": 1})
    assert ring.doorbell_ready(WAIT_S), "sleeping, and the doorbell did not ring"
    assert ring.read_doorbell() >= 1
    ring.disarm()
    assert [token for _, token, _ in ring.take()] == [1]
    # A reply is not readiness: asleep, a ping does not ring.
    assert ring.arm()
    conn.ping()
    assert not ring.doorbell_ready(QUIET_S)
    ring.disarm()
    # Awake again: silent again.
    conn.ok({"op": "wake", "id": 4, "token": 1})
    wait_until(lambda: ring.head > ring.consumed, what="a record")
    assert not ring.doorbell_ready(QUIET_S)
    conn.close()
    ring.close()
    daemon.close_all_and_check_fds()


def test_overflow_while_asleep_rings_the_doorbell(daemon, rings):
    """The consumer sleeps with a full ring it has not read: the daemon's
    next turn with readiness left over must wake it (overflow is work)."""
    conn, _, ring = open_ring(daemon, rings, 64)
    tokens = list(range(1, 101))
    make_wakers(conn, tokens)
    wake_all(conn, tokens[:64])
    wait_until(lambda: ring.head == 64, what="a full ring")
    ring.take(conn.sock)  # consumed, but not one newline: the ring is empty
    assert ring.arm()
    wake_all(conn, tokens[64:])  # 36 fit; none left over
    assert ring.doorbell_ready(WAIT_S)
    ring.read_doorbell()
    ring.disarm()
    assert drain_until(ring, conn.sock, set(tokens[64:]), WAIT_S) == set(tokens[64:])
    conn.close()
    ring.close()
    daemon.close_all_and_check_fds()


# ------------------------------------------------------------------ removed tokens

def test_replies_that_remove_tokens_carry_ring_head(daemon, rings, fds):
    conn, _, ring = open_ring(daemon, rings, 64)
    ends = {}
    for token in (1, 2, 3):
        r, w = fds.pipe()
        os.write(w, b"x")  # ready: an event follows the reply
        conn.ok({"op": "register", "id": token, "token": token, "interest": ["readable"]}, [r])
        ends[token] = w
    wait_until(lambda: ring.head == 3, what="three records")
    reply = conn.ok({"op": "deregister", "id": 4, "token": 2})
    assert isinstance(reply.get("ring_head"), int), reply
    head = ring.head
    positions_of_2 = [p for p in range(ring.consumed, head) if ring.record(p)[0] == 2]
    assert positions_of_2 and all(p < reply["ring_head"] for p in positions_of_2)
    assert reply["ring_head"] <= head

    conn.send_json({"op": "fetch", "id": 5, "token": 3, "deregister": True})
    text, got = conn.read_line_fds()
    reply = json.loads(text)
    for fd in got:
        os.close(fd)
    assert reply.get("ok") is True and len(got) == 1 and isinstance(reply.get("ring_head"), int), reply
    assert reply["ring_head"] <= ring.head

    # Removed: new activity on them gives no record; token 1 still does.
    ring.take()
    for token in (1, 2, 3):
        os.write(ends[token], b"y")
    wait_until(lambda: ring.head > ring.consumed, what="token 1's record")
    time.sleep(QUIET_S)
    assert {token for _, token, _ in ring.take()} == {1}

    reply = conn.ok({"op": "end", "id": 6})
    assert isinstance(reply.get("ring_head"), int) and reply["ring_head"] <= ring.head, reply
    conn.close()
    ring.close()
    daemon.close_all_and_check_fds()


# ------------------------------------------------------------------ sessions and the ring's life

def test_ring_is_let_go_when_the_connection_closes(daemon, rings):
    maps_before = memfd_maps(daemon.pid)
    conn, _, ring = open_ring(daemon, rings, 65536)
    conn.ok({"op": "waker", "id": 1, "token": 1})
    conn.ok({"op": "wake", "id": 2, "token": 1})
    wait_until(lambda: ring.head == 1, what="a record")
    assert memfd_maps(daemon.pid) == maps_before + 1
    conn.close()
    daemon.assert_fds_released()  # the waker went with the session, the memfd and doorbell with the ring
    wait_until(lambda: memfd_maps(daemon.pid) == maps_before, what="the daemon to unmap the ring")
    # Our copy still works and is ours alone: nothing more comes.
    ring.take()
    time.sleep(QUIET_S)
    assert ring.head == 1
    ring.close()


def test_a_later_ring_hello_replaces_the_ring(daemon, rings):
    maps_before = memfd_maps(daemon.pid)
    conn, _, first = open_ring(daemon, rings, 64)
    _, second = hello_ring(conn, 128, request_id="again")
    rings.keep(second)
    assert second.entries == 128 and second.memfd != first.memfd
    wait_until(lambda: memfd_maps(daemon.pid) == maps_before + 1, what="the first ring let go")
    conn.ok({"op": "waker", "id": 1, "token": 1})
    conn.ok({"op": "wake", "id": 2, "token": 1})
    wait_until(lambda: second.head == 1, what="the record in the new ring")
    assert first.head == 0
    conn.close()
    daemon.close_all_and_check_fds()


def test_end_returns_to_stream_delivery(daemon, rings):
    """end: "a new anonymous session, with stream delivery" (docs/protocol.md,
    "`end`"), so the ring goes and events come as lines again."""
    maps_before = memfd_maps(daemon.pid)
    conn, _, ring = open_ring(daemon, rings, 64)
    conn.ok({"op": "waker", "id": 1, "token": 1})
    conn.ok({"op": "end", "id": 2})
    conn.ok({"op": "waker", "id": 3, "token": 2})
    conn.ok({"op": "wake", "id": 4, "token": 2})
    assert conn.read_json() == ready(2, readable=True)
    assert ring.head == 0
    wait_until(lambda: memfd_maps(daemon.pid) == maps_before, what="the ring let go after end")
    conn.close()
    daemon.close_all_and_check_fds()


def test_stream_hello_after_ring_hello_lets_the_ring_go(daemon, rings):
    maps_before = memfd_maps(daemon.pid)
    conn, _, ring = open_ring(daemon, rings)
    conn.ok({"op": "hello", "id": 1})
    wait_until(lambda: memfd_maps(daemon.pid) == maps_before, what="the ring let go")
    conn.ok({"op": "waker", "id": 2, "token": 1})
    conn.ok({"op": "wake", "id": 3, "token": 1})
    assert conn.read_json() == ready(1, readable=True)
    assert ring.head == 0
    daemon.close_all_and_check_fds()


def test_persistent_session_pending_readiness_goes_into_the_ring(daemon, rings, fds):
    r, w = fds.pipe()
    first = daemon.raw()
    first.ok({"op": "hello", "id": 1, "session": "keep", "persist": True})
    first.ok({"op": "register", "id": 2, "token": 5, "interest": ["readable"]}, [r])
    first.close()
    wait_until(lambda: daemon.fd_count() == daemon.fd_baseline + 1, what="the first connection gone")
    os.write(w, b"x")  # readiness with no connection: pending in the session
    time.sleep(0.05)
    conn, reply, ring = open_ring(daemon, rings, 64, session="keep")
    assert reply["session"] == "keep"
    assert drain_until(ring, conn.sock, {5}, WAIT_S) == {5}
    assert ring.taken[0][1:] == (5, flags_of(ready(5, readable=True)))
    conn.expect_silence(QUIET_S)
    conn.ok({"op": "end", "id": 3})
    conn.close()
    daemon.close_all_and_check_fds()


def test_session_taken_from_a_ring_connection(daemon, rings):
    conn, _, ring = open_ring(daemon, rings, 64, session="taken")
    conn.ok({"op": "waker", "id": 1, "token": 1})
    thief = daemon.raw()
    thief.ok({"op": "hello", "id": 1, "session": "taken", "takeover": True})
    assert conn.read_json() == {"event": "session_taken"}
    head = ring.head
    # The lost session's readiness reaches neither the old ring nor the socket.
    thief.ok({"op": "wake", "id": 2, "token": 1})
    assert thief.read_json() == ready(1, readable=True)
    time.sleep(QUIET_S)
    assert ring.head == head
    conn.expect_silence(QUIET_S)
    # The connection carries on, anonymous and streaming.
    conn.ok({"op": "waker", "id": 3, "token": 9})
    conn.ok({"op": "wake", "id": 4, "token": 9})
    assert conn.read_json() == ready(9, readable=True)
    assert ring.head == head
    conn.close()
    thief.close()
    daemon.close_all_and_check_fds()


def test_ring_session_answers_everything_on_the_socket(daemon, rings):
    conn, _, ring = open_ring(daemon, rings)
    conn.ok({"op": "waker", "id": 1, "token": 3})
    listed = conn.ok({"op": "list", "id": 2})
    assert [entry["token"] for entry in listed["registrations"]] == [3]
    conn.ok({"op": "stats", "id": 3})
    conn.send(b"not json\n")
    conn.expect_error("bad_json")
    conn.ok({"op": "wake", "id": 4, "token": 3})
    wait_until(lambda: ring.head == 1, what="the record")
    conn.expect_silence(QUIET_S)
    conn.close()
    daemon.close_all_and_check_fds()
