"""Clients that do not read: pipelined floods of requests, fds that keep
firing at a reader that stopped, clients that vanish while the daemon
writes to them (docs/protocol.md, "Delivery, backpressure and coalescing").

Which suite: Tests/hostile holds clients that break the rules or push the
limits; each test ends with daemon.assert_healthy() (alive, a fresh client
answered, fds back at the baseline, RSS bounded). What a client that
follows docs/protocol.md is promised is Tests/integration's."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from daemon import Daemon
from mio_testkit import cpu_seconds, eventfd
from raw_connection import line
from timing import SANITIZER, TIME_SCALE


def _writer(conn, data: bytes, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            conn.sock.sendall(data)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("pad", [0, 200], ids=["short-ids", "long-ids-past-the-1MiB-cap"])
def test_twenty_thousand_pipelined_pings_unread(daemon: Daemon, pad: int) -> None:
    """20000 pings written in one go while not reading. With long ids the
    replies (4+ MB) pass the 1 MiB output cap: the daemon stops reading that
    connection (the writer blocks) instead of buffering. Then every reply
    arrives, in order."""
    c = daemon.raw(timeout=60)
    ids = [f"{i:06d}-" + "x" * pad for i in range(20000)]
    data = b"".join(line({"op": "ping", "id": i}) for i in ids)
    errors: list = []
    t = _writer(c, data, errors)
    time.sleep(1.5)
    if pad:
        assert t.is_alive(), "the daemon read 4.6 MB of requests whose replies nobody reads (no 1 MiB output cap?)"
    peak = daemon.assert_rss_bounded(16)
    daemon.ping_fresh()
    for i in ids:
        r = c.read_reply(timeout=30)
        assert r == {"id": i, "ok": True}, f"expected the reply to {i[:6]}, got {str(r)[:200]}"
    t.join(30)
    assert not t.is_alive() and not errors, errors
    assert not c.events
    c.close()
    daemon.assert_healthy(rss_slack_mib=16)
    print(f"peak RSS {peak} KiB, baseline {daemon.rss_baseline_kib} KiB")


def test_pipelined_lists_with_big_replies(daemon: Daemon) -> None:
    """300 pipelined lists of 1000 registrations (21 MB of replies) while
    not reading: the cap is checked before each request, so the daemon holds
    about 1 MiB plus one reply, not 21 MB."""
    c = daemon.raw(timeout=60)
    c.send(b"".join(line({"op": "waker", "id": t, "token": t}) for t in range(1000)))
    for t in range(1000):
        assert c.read_reply() == {"id": t, "ok": True, "token": t}
    c.send(b"".join(line({"op": "list", "id": i}) for i in range(300)))
    time.sleep(2.0)
    peak = daemon.assert_rss_bounded(16)
    daemon.ping_fresh()
    for i in range(300):
        r = c.read_reply(timeout=30)
        assert r.get("id") == i and len(r["registrations"]) == 1000, str(r)[:200]
    c.close()
    daemon.assert_healthy(rss_slack_mib=16)
    print(f"peak RSS {peak} KiB, baseline {daemon.rss_baseline_kib} KiB")


def test_reader_that_stops_reading_while_its_fds_keep_firing(daemon: Daemon) -> None:
    """150 registrations made ready tens of thousands of times while the
    client does not read. RSS stays bounded (coalescing), others are served,
    and once the client reads, every token's last change (read_closed, a
    flag never seen before) is delivered."""
    c = daemon.raw(timeout=30)
    pipes = [os.pipe() for _ in range(75)]
    pairs = [socket.socketpair() for _ in range(50)]
    efds = [eventfd() for _ in range(25)]
    for _, w in pipes:
        os.set_blocking(w, False)
    for a, b in pairs:
        b.setblocking(False)
    tokens = {}
    for i, (r, _) in enumerate(pipes):
        tokens[i] = r
    for i, (a, _) in enumerate(pairs):
        tokens[100 + i] = a.fileno()
    for i, e in enumerate(efds):
        tokens[200 + i] = e
    for tok, fd in tokens.items():
        c.send_json({"op": "register", "id": tok, "token": tok, "interest": "readable"}, [fd])
    for tok in tokens:
        assert c.read_reply() == {"id": tok, "ok": True, "token": tok}
    # do not read from here on
    writes = 0
    peak = 0
    end = time.monotonic() + 3.0
    rounds = 0
    while time.monotonic() < end:
        for _, w in pipes:
            try:
                os.write(w, b"x")
                writes += 1
            except BlockingIOError:
                pass
        for _, b in pairs:
            try:
                b.send(b"y")
                writes += 1
            except BlockingIOError:
                pass
        for e in efds:
            os.write(e, (1).to_bytes(8, "little"))
            writes += 1
        rounds += 1
        if rounds % 50 == 0:
            peak = max(peak, daemon.rss_kib())
    daemon.ping_fresh()
    # the last change of every fd, made while the client is still not reading
    for _, w in pipes:
        os.close(w)
    for _, b in pairs:
        b.close()
    time.sleep(0.5)
    peak = max(peak, daemon.assert_rss_bounded(32))
    # now read everything
    evs = c.collect_events(quiet=0.5, limit=30)
    closed = {e["token"] for e in evs if e["read_closed"]}
    readable = {e["token"] for e in evs if e["readable"]}
    fd_tokens = set(range(75)) | set(range(100, 150))
    assert fd_tokens <= closed, f"no read_closed event after backpressure for tokens {sorted(fd_tokens - closed)[:20]}"
    assert set(tokens) <= readable, f"no readable event for tokens {sorted(set(tokens) - readable)[:20]}"
    assert len(evs) < writes, f"{len(evs)} events for {writes} writes: nothing coalesced?"
    for r, _ in pipes:
        os.close(r)
    for a, _ in pairs:
        a.close()
    for e in efds:
        os.close(e)
    c.close()
    daemon.assert_healthy()
    print(f"{writes} writes, {len(evs)} events delivered, peak RSS {peak} KiB (baseline {daemon.rss_baseline_kib})")


@pytest.mark.parametrize("how", ["close-with-unread-replies", "hangup-while-writing"])
def test_client_closes_while_the_daemon_writes(daemon: Daemon, how: str) -> None:
    """Clients that pipeline thousands of requests and go away without
    reading, at random moments, while the daemon has replies to write: its
    writes fail (EPIPE or ECONNRESET), it is not killed by SIGPIPE and
    leaks nothing."""
    rng = random.Random(7)
    count = 5000 if how.startswith("close") else 20000
    data = b"".join(line({"op": "ping", "id": f"{i}-" + "z" * 150}) for i in range(count))
    for round_ in range(20):
        c = daemon.raw(timeout=10)
        errors: list = []
        t = _writer(c, data, errors)
        if how.startswith("close"):
            # 850 KB of replies: under the 1 MiB cap, so all requests are
            # read; most replies are still unsent when we close
            t.join(10)
            time.sleep(rng.uniform(0.0, 0.05))
            c.close()
        else:
            # 3.4 MB of replies: the daemon is blocked on us, we on it
            time.sleep(rng.uniform(0.0, 0.3))
            c.hangup()
        t.join(10)
        assert not t.is_alive()
        assert daemon.alive(), f"daemon died in round {round_}:\n{daemon.stderr_tail()}"
    daemon.connections.clear()
    daemon.assert_healthy()


def test_client_with_firing_fds_closes_while_the_daemon_writes(daemon: Daemon) -> None:
    efds = [eventfd() for _ in range(64)]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            for e in efds:
                os.write(e, (1).to_bytes(8, "little"))

    t = threading.Thread(target=hammer, daemon=True)
    t.start()
    try:
        for round_ in range(10):
            c = daemon.raw()
            for i, e in enumerate(efds):
                c.send_json({"op": "register", "id": i, "token": i, "interest": ["readable", "writable"]}, [e])
            time.sleep(0.15)
            c.hangup() if round_ % 2 else c.close()
            assert daemon.alive(), f"daemon died in round {round_}:\n{daemon.stderr_tail()}"
    finally:
        stop.set()
        t.join(5)
        for e in efds:
            os.close(e)
    daemon.connections.clear()
    daemon.assert_healthy()


CHILD = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
print("connected", flush=True)
chunk = b"".join(b'{"op":"stats","id":%d}\n' % i for i in range(1000))
while True:
    s.sendall(chunk)
"""


def test_sigkilled_while_flooding(daemon: Daemon) -> None:
    for round_ in range(8):
        child = subprocess.Popen([sys.executable, "-c", CHILD, daemon.socket_path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert child.stdout.readline().strip() == b"connected"
            time.sleep(0.05 + 0.05 * round_)
            child.send_signal(signal.SIGKILL)
            child.wait(5)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
        assert daemon.alive(), f"daemon died in round {round_}:\n{daemon.stderr_tail()}"
    daemon.assert_healthy()


def test_sigterm_with_a_client_that_does_not_read(daemon: Daemon) -> None:
    """Shutdown flushes for at most 1 s: a client with a full socket does
    not hold the daemon up."""
    c = daemon.raw(timeout=30)
    data = b"".join(line({"op": "ping", "id": f"{i}-" + "q" * 200}) for i in range(20000))
    errors: list = []
    t = _writer(c, data, errors)
    time.sleep(1.0)
    daemon.assert_rss_bounded()
    start = time.monotonic()
    rc = daemon.stop(timeout=5)
    took = time.monotonic() - start
    assert rc == 0, f"exit status {rc}"
    assert took < 3.0, f"SIGTERM took {took:.1f} s with a non-reading client"
    c.hangup()
    t.join(10)


@pytest.mark.parametrize("nofile", [None, 256], ids=["default-limit", "nofile-256"])
def test_pipelined_fetches_unread(daemon_factory, nofile) -> None:
    """5000 pipelined fetches (each reply carries an fd) while not reading:
    the daemon does not pile up fd copies, others are served, every fetch
    is answered (ok, or limit_exceeded when the fds cannot be sent), and
    nothing is left once the client has read."""
    daemon = daemon_factory([], nofile=nofile)
    c = daemon.raw(timeout=30)
    r, w = os.pipe()
    try:
        assert c.request({"op": "register", "id": "r", "token": 1, "interest": "readable"}, [r]) == {"id": "r", "ok": True, "token": 1}
        c.send(b"".join(line({"op": "fetch", "id": i, "token": 1}) for i in range(5000)))
        time.sleep(1.5)
        held = daemon.fd_count()
        daemon.ping_fresh()
        other = daemon.raw()
        r2, w2 = os.pipe()
        try:
            reply = other.request({"op": "register", "id": 1, "token": 1, "interest": "readable"}, [r2])
            assert reply == {"id": 1, "ok": True, "token": 1}, reply
        finally:
            os.close(r2)
            os.close(w2)
        codes: dict = {}
        for i in range(5000):
            rep = c.read_reply(timeout=30)
            assert rep.get("id") == i, rep
            k = "ok" if rep.get("ok") else rep["error"]["code"]
            codes[k] = codes.get(k, 0) + 1
        assert set(codes) <= {"ok", "limit_exceeded"}, codes
        assert codes.get("ok", 0) > 0, codes
        c.ping("after")
    finally:
        os.close(r)
        os.close(w)
    daemon.close_connections()
    daemon.assert_healthy()
    print(f"{codes}; the daemon held {held} fds for the unread replies (baseline {daemon.fd_baseline})")


def test_pipelined_fetches_unread_do_not_eat_the_fd_reserve(daemon_factory) -> None:
    """Each unsent fetch reply holds a copy of the fd in the daemon. A client
    that pipelines fetches and never reads must not be able to use up the
    daemon's open-file limit: docs/protocol.md, "Limits", keeps a reserve of
    max(64, N/8) fds for connections and fds in transit. Here (N = 1024)
    one connection pipelines 3000 fetches, waits, then 400 more; a fresh
    client must still get in, and another connection's register must still
    receive its fd."""
    daemon = daemon_factory([], nofile=1024)
    other = daemon.raw()
    other.ping("other")
    c = daemon.raw(timeout=30)
    r, w = os.pipe()
    r2, w2 = os.pipe()
    try:
        assert c.request({"op": "register", "id": "r", "token": 1, "interest": "readable"}, [r]) == {"id": "r", "ok": True, "token": 1}
        # The daemon stops reading this connection once its unsent fetch
        # replies hold too many fds, so our sends block: send from a thread.
        def send_fetches() -> None:
            try:
                c.send(b"".join(line({"op": "fetch", "id": i, "token": 1}) for i in range(3000)))
                time.sleep(1.0)
                c.send(b"".join(line({"op": "fetch", "id": 3000 + i, "token": 1}) for i in range(400)))
            except OSError:
                pass  # the socket is shut down at the end of the test

        sender = threading.Thread(target=send_fetches, daemon=True)
        sender.start()
        time.sleep(2.0)
        held = daemon.fd_count()
        limit = 1024
        reserve = max(64, limit // 8)
        try:
            daemon.ping_fresh()
            other.send_json({"op": "register", "id": "o", "token": 1, "interest": "readable"}, [r2])
            reply = other.read_json(timeout=2.0)
            assert reply == {"id": "o", "ok": True, "token": 1}, reply
        except (AssertionError, EOFError) as e:
            raise AssertionError(
                f"unread fetch replies hold {held} of the daemon's {limit} fds (reserve {reserve}): {e}"
            ) from None
        assert held <= limit - reserve + 8, f"unread fetch replies hold {held} of {limit} fds, eating into the reserve of {reserve}"
        # Reading lets everything through: every fetch is answered, in order
        # (the reader closes the fds that come with the replies).
        for i in range(3400):
            rep = c.read_reply(timeout=30)
            assert rep == {"id": i, "ok": True, "token": 1}, rep
        sender.join(10)
        assert not sender.is_alive()
    finally:
        for fd in (r, w, r2, w2):
            os.close(fd)
    daemon.close_connections()
    daemon.assert_healthy()


def test_poll_delivery_client_that_pipelines_behind_a_poll_and_leaves(daemon: Daemon) -> None:
    """A poll that waits for ever, 20000 requests queued behind it, then
    the client goes away: the daemon notices, keeps nothing."""
    for round_ in range(3):
        c = daemon.raw(timeout=10)
        c.ok({"op": "hello", "id": "h", "delivery": "poll"})
        r, w = os.pipe()
        c.ok({"op": "register", "id": "r", "token": 1, "interest": "readable"}, [r])
        os.close(r)
        errors: list = []
        t = _writer(c, line({"op": "poll", "id": "p"}) + b"".join(line({"op": "ping", "id": i}) for i in range(20000)), errors)
        time.sleep(0.3)
        daemon.ping_fresh()
        if round_ == 0:
            # the poll is answered by readiness, and the pings follow
            os.write(w, b"x")
            r1 = c.read_reply(timeout=10)
            assert r1.get("id") == "p" and [e["token"] for e in r1["events"]] == [1], r1
            for i in range(20000):
                assert c.read_reply(timeout=10) == {"id": i, "ok": True}
        c.hangup()
        t.join(10)
        assert not t.is_alive()
        os.close(w)
    daemon.connections.clear()
    daemon.assert_healthy()


def test_unread_replies_stop_reading_not_the_daemon(daemon: Daemon) -> None:
    """A client that pipelines many requests and reads nothing: the daemon
    buffers about 1 MiB of replies, stops reading it, keeps serving others,
    and answers everything in order once the client reads."""
    n = 50_000
    hog = daemon.raw()
    hog.sock.settimeout(30)
    rss_before = daemon.rss_kib()
    # stats replies (~170 bytes) are much longer than the requests (~22 bytes)
    payload = b"".join(line({"op": "stats", "id": i}) for i in range(n))
    sender_error = []

    def send_all():
        try:
            hog.sock.sendall(payload)
        except OSError as exc:  # pragma: no cover - reported below
            sender_error.append(exc)

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    time.sleep(0.5)
    other = daemon.client()
    start = time.monotonic()
    other.ping()
    assert time.monotonic() - start < 1.0 * TIME_SCALE
    assert sender.is_alive(), "the daemon read every request though ~8 MB of replies went unread"
    rss_during = daemon.rss_kib()
    assert SANITIZER or rss_during - rss_before < 8 * 1024, f"RSS grew {rss_during - rss_before} KiB while replies were unread"
    for i in range(n):
        reply = hog.read_json(timeout=10)
        assert reply["id"] == i and reply["ok"] is True
    sender.join(10)
    assert not sender_error, sender_error
    hog.close()
    other.close()
    daemon.assert_healthy()


# Connection sockets are watched level-triggered (docs/protocol.md,
# "Decisions and additions"): input the daemon will not read now must not
# be reported at every look, or it would spin.

def _assert_idle(d: Daemon, what: str) -> None:
    before = cpu_seconds(d.pid)
    time.sleep(1.0 * TIME_SCALE)
    used = cpu_seconds(d.pid) - before
    assert used < 0.1 * TIME_SCALE, f"the daemon used {used:.2f} s of CPU in a second while {what}"


def test_no_spinning_on_unread_input_behind_replies_over_the_cap(daemon):
    raw = daemon.raw()
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.sock.setblocking(False)
    # Pings until the daemon stops reading them (its replies wait, over the
    # cap) and the socket is full: input is left unread.
    deadline = time.monotonic() + 30 * TIME_SCALE
    blocked = False
    while not blocked:
        assert time.monotonic() < deadline, "the daemon never stopped reading a client that does not read"
        try:
            raw.sock.send(line({"op": "ping", "id": "x" * 200}) * 64)
        except BlockingIOError:
            time.sleep(0.05)
            try:
                raw.sock.send(b" ")
            except BlockingIOError:
                blocked = True
    raw.sock.setblocking(True)
    _assert_idle(daemon, "a client that does not read its replies had more requests waiting")
    raw.close()
    daemon.assert_healthy()


def test_no_spinning_on_unread_input_behind_a_waiting_poll(daemon):
    raw = daemon.raw()
    assert raw.request({"op": "hello", "id": "h", "delivery": "poll"})["ok"]
    raw.send(line({"op": "poll", "id": "p", "timeout_ms": 60_000}))
    time.sleep(0.2 * TIME_SCALE)  # parked: what comes now is left unread
    raw.send(line({"op": "ping", "id": "q"}) * 100)
    _assert_idle(daemon, "requests waited behind a poll")
    raw.close()
    daemon.assert_healthy()


def test_no_spinning_after_end_of_input(daemon):
    raw = daemon.raw()
    raw.ping()
    raw.shutdown_write()  # end of input: the socket stays readable (at its end)
    _assert_idle(daemon, "a client had shut down its sending side")
    raw.close()
    daemon.assert_healthy()
