"""Caps (docs/protocol.md, "Limits" and "Connections per uid"): --max-registrations-per-uid, --max-sessions-per-uid,
--max-connections-per-uid, --max-line; past a cap: limit_exceeded."""

import json
import socket
import time

import pytest

from mio_client import MioError
from raw_connection import line
from replies import assert_error, assert_ok
from timing import wait_until


def code_of(fn, *args, **kwargs):
    with pytest.raises(MioError) as info:
        fn(*args, **kwargs)
    return info.value.code


@pytest.mark.daemon_args("--max-registrations-per-uid", "3")
def test_registration_cap(daemon, fds):
    c = daemon.client()
    for token in range(3):
        c.register(fds.pipe()[0], token)
    r, _ = fds.pipe()
    assert code_of(c.register, r, 3) == "limit_exceeded"
    daemon.assert_fds_released(open_connections=1, held=3)
    assert not daemon.holds(r)
    c.deregister(0)
    c.register(r, 3)
    daemon.close_all_and_check_fds()


@pytest.mark.daemon_args("--max-registrations-per-uid", "2")
def test_registration_cap_is_per_uid_across_connections(daemon, fds):
    a, b = daemon.client(), daemon.client()
    a.register(fds.pipe()[0], 1)
    b.register(fds.pipe()[0], 1)
    assert code_of(a.register, fds.pipe()[0], 2) == "limit_exceeded"
    assert code_of(b.register, fds.pipe()[0], 2) == "limit_exceeded"
    a.close()
    wait_until(lambda: b.stats()["registrations"] == 1, what="a's registration removed")
    b.register(fds.pipe()[0], 2)
    daemon.close_all_and_check_fds()


@pytest.mark.daemon_args("--max-registrations-per-uid", "2")
def test_registration_cap_counts_detached_persistent_sessions(daemon, fds):
    a = daemon.client()
    a.hello("keep", persist=True)
    a.register(fds.pipe()[0], 1)
    a.register(fds.pipe()[0], 2)
    a.close()
    b = daemon.client()
    assert code_of(b.register, fds.pipe()[0], 1) == "limit_exceeded"
    c = daemon.client()
    c.hello("keep")
    c.end()
    b.register(fds.pipe()[0], 1)
    daemon.close_all_and_check_fds()


@pytest.mark.daemon_args("--max-sessions-per-uid", "2")
def test_session_cap(daemon):
    a, b, c = daemon.client(), daemon.client(), daemon.client()
    a.hello("one")
    b.hello("two")
    assert code_of(c.hello, "three") == "limit_exceeded"
    # anonymous sessions do not count
    d = daemon.client()
    d.ping()
    a.close()
    wait_until(lambda: c.stats()["connections"] == 3, what="a gone")
    assert c.hello("three")["session"] == "three"


@pytest.mark.daemon_args("--max-sessions-per-uid", "1")
def test_session_cap_counts_detached_persistent_sessions(daemon):
    a = daemon.client()
    a.hello("p", persist=True)
    a.close()
    b = daemon.client()
    wait_until(lambda: b.stats()["connections"] == 1, what="a gone")
    assert code_of(b.hello, "q") == "limit_exceeded"
    b.hello("p")
    b.end()
    b2 = daemon.client()
    b2.hello("q")


def read_first_line(sock, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.daemon_args("--max-connections-per-uid", "3")
def test_connection_cap(daemon):
    daemon.assert_fds_released()  # the fixture's readiness probe is gone
    conns = [daemon.raw() for _ in range(3)]
    for i, c in enumerate(conns):
        assert_ok(c.request({"op": "ping", "id": i}), i)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        extra.connect(daemon.socket_path)
        try:
            extra.sendall(line({"op": "ping", "id": "x"}))
        except OSError:
            pass
        first = read_first_line(extra)
        reply = json.loads(first)
        assert_error(reply, "limit_exceeded")
    finally:
        extra.close()
    # the others are unharmed; closing one makes room
    assert_ok(conns[0].request({"op": "ping", "id": "a"}), "a")
    conns[1].close()
    deadline = time.monotonic() + 5
    while True:
        again = daemon.raw()
        reply = again.request({"op": "ping", "id": "b"})
        if reply.get("ok"):
            break
        again.close()
        assert time.monotonic() < deadline, "no room after a connection closed"
        time.sleep(0.05)


@pytest.mark.daemon_args("--max-line", "64")
def test_small_max_line_still_serves_short_requests(daemon):
    raw = daemon.raw()
    assert_ok(raw.request({"op": "ping", "id": 1}), 1)
    raw.send(b'{"op":"ping","id":"' + b"x" * 100 + b'"}\n')
    assert_error(raw.read_json(), "line_too_long", has_id=False)
    assert_ok(raw.request({"op": "ping", "id": 2}), 2)
