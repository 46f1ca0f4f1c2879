"""Connection floods, idle connections, and clients that stop (or die) in
the middle of a line that carried fds."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from daemon import Daemon
from mio_testkit import PipeProbes
from timing import wait_readable, wait_until


def _fresh_ping_ok(daemon: Daemon) -> bool:
    try:
        daemon.ping_fresh()
        return True
    except (AssertionError, OSError):
        return False


def _expect_rejected(conn) -> None:
    lines = conn.wait_eof(timeout=3.0)
    assert len(lines) == 1, f"expected one limit_exceeded line, got {lines}"
    obj = json.loads(lines[0])
    assert obj.get("ok") is False and obj["error"]["code"] == "limit_exceeded", obj
    assert "id" not in obj, obj


@pytest.mark.daemon_args("--max-connections-per-uid", 20)
def test_connection_flood_up_to_and_past_the_cap(daemon: Daemon) -> None:
    held = [daemon.raw() for _ in range(20)]
    for i, c in enumerate(held):
        c.ping(i)
    # the 21st, and 60 more after it: one limit_exceeded line (no id), closed
    for _ in range(60):
        extra = daemon.raw()
        _expect_rejected(extra)
        extra.close()
    daemon.connections = held[:]  # the rejected ones are closed already
    daemon.expect_fd_count(daemon.fd_baseline + 20, what="with 20 connections held")
    for c in held:
        c.ping("still-served")
    # a slot freed: a fresh client gets in within ~1 s
    held.pop().close()
    wait_until(lambda: _fresh_ping_ok(daemon), timeout=1.0, interval=0.05, what="a fresh client to get the freed slot")
    for c in held:
        c.close()
    daemon.connections.clear()
    daemon.assert_healthy()


@pytest.mark.daemon_args("--max-connections-per-uid", 20)
def test_connection_burst_past_the_cap(daemon: Daemon) -> None:
    """60 connections at once, none of them reading: 20 are served, 40 get
    limit_exceeded and are closed."""
    burst = [daemon.raw() for _ in range(60)]
    for c in burst:
        try:
            c.send(b'{"op":"ping","id":"b"}\n')
        except (BrokenPipeError, ConnectionResetError):
            pass  # already refused and closed
    served, rejected = [], []
    for c in burst:
        first = c.read_json(timeout=3.0)
        if first == {"id": "b", "ok": True}:
            served.append(c)
        else:
            assert first.get("ok") is False and first["error"]["code"] == "limit_exceeded" and "id" not in first, first
            rejected.append(c)
    assert len(served) == 20, f"{len(served)} served, {len(rejected)} rejected"
    for c in rejected:
        c.wait_eof(timeout=3.0)
        c.close()
    daemon.expect_fd_count(daemon.fd_baseline + 20, what="with 20 connections held")
    daemon.close_connections()
    daemon.assert_healthy()


def test_idle_connections_that_never_send_a_full_line(daemon: Daemon) -> None:
    silent = [daemon.raw() for _ in range(100)]
    partial = [daemon.raw() for _ in range(100)]
    for i, c in enumerate(partial):
        c.send(b'{"op":"ping","id":' + str(i).encode())
        if i % 2:
            # nearly max_line: the daemon may buffer it (up to 64 KiB each)
            c.send(b',"x":"' + b"a" * 60000)
    half_closed = [daemon.raw() for _ in range(50)]
    for c in half_closed:
        c.send(b'{"op":"pi')
        c.sock.shutdown(socket.SHUT_WR)
    # the daemon keeps serving others meanwhile
    for _ in range(3):
        daemon.ping_fresh()
    daemon.expect_fd_count(daemon.fd_baseline + 250, what="with 250 idle connections")
    # none of them got a reply to an unfinished line, nor was closed
    for c in partial + half_closed:
        assert not wait_readable(c.fileno(), 0), "the daemon replied to an unfinished line or closed the connection"
    for c in silent + partial + half_closed:
        c.close()
    daemon.connections.clear()
    daemon.assert_healthy()


def test_half_line_with_fd_then_hang_then_close(daemon: Daemon, probes: PipeProbes) -> None:
    c = daemon.raw()
    c.send(b'{"op":"register","id":1,"token":1,', probes.make(1))
    probes.drop_ours()
    other = daemon.raw()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        other.ping("other")
        daemon.ping_fresh()
        time.sleep(0.1)
    # the fd waits with its unfinished line: connection + that fd
    daemon.expect_fd_count(daemon.fd_baseline + 3, what="(2 connections + the fd of the unfinished line)")
    probes.assert_held("while its line is unfinished")
    c.close()
    probes.assert_released(what="after the client that sent it closed")
    other.ping("after")
    other.close()
    daemon.assert_healthy()


def test_half_line_with_fd_then_hang_then_finish(daemon: Daemon, probes: PipeProbes) -> None:
    """A register line split around a long pause still gets its fd."""
    c = daemon.raw()
    fd = probes.make(1)
    c.send(b'{"op":"register","id":1,"token":1,', fd)
    probes.drop_ours()
    time.sleep(1.0)
    daemon.ping_fresh()
    c.send(b'"interest":"writable"}\n')
    assert c.read_reply() == {"id": 1, "ok": True, "token": 1}
    probes.assert_held("while registered")
    c.close()
    probes.assert_released(what="after the anonymous session's connection closed")
    daemon.assert_healthy()


def test_half_line_with_fd_then_shut_wr(daemon: Daemon, probes: PipeProbes) -> None:
    """End of input discards the unfinished line and closes its fds; the
    connection itself stays."""
    c = daemon.raw()
    c.send(b'{"op":"ping","id":1}\n{"op":"register","id":2,"token":2,', probes.make(1))
    probes.drop_ours()
    c.sock.shutdown(socket.SHUT_WR)
    assert c.read_reply() == {"id": 1, "ok": True}
    probes.assert_released(what="after end of input")
    time.sleep(0.3)
    assert not c.eof and not c.lines, "the daemon closed the connection or replied to an unfinished line"
    daemon.ping_fresh()
    c.close()
    daemon.assert_healthy()


CHILD = r"""
import array, os, socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fds = [int(x) for x in sys.argv[3:]]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
per = max(1, len(fds) // n)
for i in range(n):
    group = fds[i * per:(i + 1) * per] if i < n - 1 else fds[i * per:]
    # the first message begins a line that never ends; the others add one
    # byte (and their fds) to it
    data = b' ' if i else b'{"op":"register","id":1,"token":1,'
    s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", group))])
    time.sleep(0.01)
for fd in fds:
    os.close(fd)
print("sent", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("nfds,messages", [(1, 1), (253, 1), (200, 8)], ids=["one-fd", "253-fds", "200-fds-in-8-messages"])
def test_half_line_with_fds_then_sigkill(daemon: Daemon, probes: PipeProbes, nfds: int, messages: int) -> None:
    """A client process that sent an unfinished line with fds and was then
    SIGKILLed: every fd is closed, the daemon keeps serving."""
    fds = probes.make(nfds)
    child = subprocess.Popen([sys.executable, "-c", CHILD, daemon.socket_path, str(messages), *map(str, fds)],
                             pass_fds=fds, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        probes.drop_ours()
        ready, _, _ = select.select([child.stdout], [], [], 10.0)
        assert ready, f"child did not report: {child.stderr.read() if child.poll() is not None else ''}"
        assert child.stdout.readline().strip() == b"sent"
        time.sleep(0.2)
        daemon.ping_fresh()
        if messages == 1:
            # one batch: held with its unfinished line (later batches on the
            # same line are closed at once; docs/protocol.md,
            # "How the daemon matches fds to lines")
            probes.assert_held("while the child lives")
        child.send_signal(signal.SIGKILL)
        child.wait(5)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    probes.assert_released(what="after the child was SIGKILLed")
    daemon.assert_healthy()


def test_connection_churn(daemon: Daemon, probes: PipeProbes) -> None:
    """3000 connections that come and go: some say nothing, some ping, some
    leave half a line with an fd, some register and leave."""
    for i in range(3000):
        c = daemon.raw(timeout=5)
        kind = i % 4
        if kind == 1:
            c.ping(i)
        elif kind == 2:
            c.send(b'{"op":"register","id":1,"token":1', probes.make(1))
        elif kind == 3:
            fd = probes.make(1)
            c.send_json({"op": "register", "id": 1, "token": 1, "interest": "writable"}, fd)
        c.close()
        probes.drop_ours()
    daemon.connections.clear()
    probes.assert_released(timeout=5)
    daemon.assert_healthy()
