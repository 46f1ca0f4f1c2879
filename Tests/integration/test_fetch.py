"""fetch (docs/protocol.md, "Receiving an fd (`fetch`)" and "`fetch`"): the held fd comes back by SCM_RIGHTS with the reply line, with
and without deregister; the fetched fd is a working duplicate."""

import json
import os
import socket

import pytest

from mio_client import MioError
from raw_connection import line
from replies import assert_error, assert_ok


def test_fetch_without_deregister_returns_working_dup(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    got = fds.own(c.fetch(1))
    assert got not in (r, w)
    assert os.fstat(got).st_ino == os.fstat(r).st_ino
    os.write(w, b"hello")
    assert os.read(got, 100) == b"hello"
    # still registered, still delivering events
    assert [e["token"] for e in c.list()] == [1]
    os.write(w, b"again")
    ev = c.next_event(5)
    assert ev["token"] == 1 and ev["readable"]
    daemon.assert_fds_released(open_connections=1, held=1)
    daemon.close_all_and_check_fds()


def test_fetch_with_deregister(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    got = fds.own(c.fetch(1, deregister=True))
    assert os.fstat(got).st_ino == os.fstat(r).st_ino
    assert c.list() == []
    daemon.assert_fds_released(open_connections=1)
    os.write(w, b"x")
    assert c.next_event(0.3) is None
    assert os.read(got, 10) == b"x"
    with pytest.raises(MioError) as info:
        c.fetch(1)
    assert info.value.code == "unknown_token"


def test_fetched_fd_is_close_on_exec(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    got = fds.own(c.fetch(1))
    assert not os.get_inheritable(got)  # we receive with MSG_CMSG_CLOEXEC
    daemon.close_all_and_check_fds()


def test_fetch_socket_after_original_closed(daemon, fds):
    a, b = fds.socketpair()
    c = daemon.client()
    c.register(a, 1)
    a.close()
    got = fds.own(c.fetch(1, deregister=True))
    s = fds.keep(socket.socket(fileno=got))
    fds.fds.remove(got)
    s.setblocking(True)
    s.settimeout(5)
    b.setblocking(True)
    b.sendall(b"ping")
    assert s.recv(10) == b"ping"
    s.sendall(b"pong")
    b.settimeout(5)
    assert b.recv(10) == b"pong"
    daemon.close_all_and_check_fds()


def test_fetch_reply_line_alone_with_its_fd(daemon, fds):
    """Requests pipelined around a fetch: the fd comes with the fetch reply
    only, whatever was queued before it."""
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 0, "token": 1, "interest": ["readable"]}), [r])
    assert_ok(raw.read_json(), 0)
    raw.send(
        line({"op": "ping", "id": 1})
        + line({"op": "list", "id": 2})
        + line({"op": "fetch", "id": 3, "token": 1})
        + line({"op": "ping", "id": 4})
    )
    for expected in (1, 2):
        text, got = raw.read_line_fds()
        assert got == [] and json.loads(text)["id"] == expected
    text, got = raw.read_line_fds()
    reply = json.loads(text)
    assert_ok(reply, 3)
    assert reply["token"] == 1
    assert len(got) == 1
    fds.own(got[0])
    text, got = raw.read_line_fds()
    assert got == [] and json.loads(text)["id"] == 4
    daemon.close_all_and_check_fds()


def test_two_fetches_in_a_row(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 0, "token": 1, "interest": ["readable"]}), [r])
    assert_ok(raw.read_json(), 0)
    raw.send(line({"op": "fetch", "id": 1, "token": 1}) + line({"op": "fetch", "id": 2, "token": 1, "deregister": True}))
    for expected in (1, 2):
        text, got = raw.read_line_fds()
        assert_ok(json.loads(text), expected)
        assert len(got) == 1
        fds.own(got[0])
        assert os.fstat(got[0]).st_ino == os.fstat(r).st_ino
    daemon.close_all_and_check_fds()


def test_fetch_unknown_token_sends_no_fd(daemon):
    raw = daemon.raw()
    raw.send(line({"op": "fetch", "id": 1, "token": 4}))
    text, got = raw.read_line_fds()
    assert got == []
    assert_error(json.loads(text), "unknown_token", 1)


def test_fetch_bad_deregister_field(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    with pytest.raises(MioError) as info:
        c.request("fetch", token=1, deregister="yes")
    assert info.value.code == "bad_request"
    assert len(c.list()) == 1
    daemon.close_all_and_check_fds()


def test_fetch_after_end_is_unknown_token(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    c.end()
    with pytest.raises(MioError) as info:
        c.fetch(1)
    assert info.value.code == "unknown_token"
    daemon.assert_fds_released(open_connections=1)
