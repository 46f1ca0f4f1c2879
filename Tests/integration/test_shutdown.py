"""SIGTERM/SIGINT (docs/protocol.md, "Signals, shutdown, exit status"): {"event":"shutdown"} to every connection, exit 0,
socket file removed."""

import os
import signal
import socket
import time

import pytest

from raw_connection import line
from replies import assert_ok
from timing import TIME_SCALE


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_notice_to_every_client(daemon, fds, signum):
    plain = daemon.raw()
    named = daemon.raw()
    assert_ok(named.request({"op": "hello", "id": 1, "session": "n", "persist": True}), 1)
    registered = daemon.raw()
    registered.send(line({"op": "register", "id": 1, "token": 1, "interest": ["readable"]}), [fds.pipe()[0]])
    assert_ok(registered.read_json(), 1)
    poller = daemon.raw()
    assert_ok(poller.request({"op": "hello", "id": 1, "delivery": "poll"}), 1)
    poller.send(line({"op": "poll", "id": 2}))  # blocked in poll when the daemon stops
    half = daemon.raw()
    half.shutdown_write()
    time.sleep(0.05)

    daemon.send_signal(signum)
    for conn in (plain, named, registered, half):
        lines = conn.wait_eof(timeout=5)
        assert lines and lines[-1] == b'{"event":"shutdown"}', lines
    poller_lines = poller.wait_eof(timeout=5)
    assert b'{"event":"shutdown"}' in poller_lines, poller_lines
    assert daemon.wait_exit(5) == 0
    assert not os.path.exists(daemon.socket_path)


def test_shutdown_exits_quickly_with_no_clients(daemon):
    start = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait_exit(5) == 0
    assert time.monotonic() - start < 2 * TIME_SCALE
    assert not os.path.exists(daemon.socket_path)


def test_shutdown_with_a_client_that_never_reads(daemon, fds):
    """The flush is bounded (at most 1 s): a stuck client cannot hold the
    daemon."""
    pipes = [fds.pipe() for _ in range(200)]
    stuck = daemon.raw()
    for token, (r, _) in enumerate(pipes):
        stuck.send(line({"op": "register", "id": token, "token": token, "interest": ["readable"]}), [r])
    # fill its socket with replies it never reads
    stuck.send(b"".join(line({"op": "stats", "id": i}) for i in range(5000)))
    for _ in range(5):
        for _, w in pipes:
            os.write(w, b"x")
    time.sleep(0.2)
    start = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait_exit(5) == 0
    assert time.monotonic() - start < 3.0 * TIME_SCALE
    assert not os.path.exists(daemon.socket_path)


def test_shutdown_event_exact_line_after_pending_replies(daemon):
    raw = daemon.raw()
    raw.send(line({"op": "ping", "id": 1}))
    assert_ok(raw.read_json(), 1)
    daemon.send_signal(signal.SIGTERM)
    assert raw.read_line() == b'{"event":"shutdown"}'
    assert raw.wait_eof() == []
    assert daemon.wait_exit(5) == 0


def test_shutdown_with_python_client(daemon):
    from mio_client import ConnectionClosed

    c = daemon.client()
    c.ping()
    daemon.send_signal(signal.SIGTERM)
    assert c.next_event(5) == {"event": "shutdown"}
    with pytest.raises(ConnectionClosed):
        c.next_event(5)
    assert daemon.wait_exit(5) == 0


def test_connect_after_shutdown_fails(daemon):
    path = daemon.socket_path
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait_exit(5) == 0
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises((FileNotFoundError, ConnectionRefusedError)):
        s.connect(path)
    s.close()
