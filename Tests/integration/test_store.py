"""store (docs/protocol.md, "Holding without polling"): any fd is held
under a token, never polled; list shows it held with its kind; fetch hands
it back; deregister closes it; it counts like a registration."""

import os
import socket
import tempfile

import pytest

from replies import assert_error


def _memfd_with(content: bytes) -> int:
    fd = os.memfd_create("mio-test-state", os.MFD_CLOEXEC)
    os.write(fd, content)
    return fd


def _listed(c) -> dict:
    return {r["token"]: r for r in c.ok({"op": "list"})["registrations"]}


def test_every_kind_is_held_and_listed(daemon, fds, tmp_path):
    c = daemon.raw()
    memfd = fds.own(_memfd_with(b"state"))
    path = tmp_path / "plain.txt"
    path.write_bytes(b"file")
    regular = fds.own(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    directory = fds.own(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    o_path = fds.own(os.open(path, os.O_PATH | os.O_CLOEXEC))
    r, w = fds.pipe()
    a, _b = fds.socketpair()
    signals = fds.own(os.eventfd(0))  # any pollable kind can be stored as well
    kinds = {1: (memfd, "memfd"), 2: (regular, "file"), 3: (directory, "directory"), 4: (o_path, "path"),
             5: (r, "pipe"), 6: (a.fileno(), "socket"), 7: (signals, "eventfd")}
    for token, (fd, _kind) in kinds.items():
        assert c.ok({"op": "store", "token": token}, [fd])["token"] == token
    listed = _listed(c)
    for token, (_fd, kind) in kinds.items():
        assert listed[token] == {"token": token, "held": True, "kind": kind}, listed[token]
    stats = c.ok({"op": "stats"})["stats"]
    assert stats["registrations"] == 7 and stats["fds_held"] == 7, stats
    daemon.assert_fds_released(open_connections=1, held=7)
    daemon.close_all_and_check_fds()


def test_a_held_fd_gets_no_events(daemon, fds):
    c = daemon.raw()
    r, w = fds.pipe()
    c.ok({"op": "store", "token": 1}, [r])
    os.write(w, b"ready")
    c.expect_silence(0.3)
    assert c.ok({"op": "ping"})


def test_memfd_content_comes_back_by_fetch(daemon, fds):
    c = daemon.raw()
    memfd = _memfd_with(b"counter=41")
    c.ok({"op": "hello", "session": "state", "persist": True})
    c.ok({"op": "store", "token": 5}, [memfd])
    os.close(memfd)
    c.close()
    again = daemon.raw()
    again.ok({"op": "hello", "session": "state"})
    again.send_json({"op": "fetch", "token": 5, "id": 1})
    reply, got = again.read_line_fds()
    assert b'"ok":true' in reply and len(got) == 1, reply
    fd = fds.own(got[0])
    assert os.pread(fd, 100, 0) == b"counter=41"
    os.pwrite(fd, b"counter=42", 0)
    # The copy is the same open file: the daemon's fd sees the write.
    again.send_json({"op": "fetch", "token": 5, "deregister": True, "id": 2})
    reply, got = again.read_line_fds()
    assert b'"ok":true' in reply, reply
    assert os.pread(fds.own(got[0]), 100, 0) == b"counter=42"
    assert _listed(again) == {}
    again.ok({"op": "end"})
    daemon.close_all_and_check_fds()


def test_deregister_closes_it(daemon, fds):
    c = daemon.raw()
    r, w = fds.pipe()
    c.ok({"op": "store", "token": 1}, [r])
    daemon.assert_fds_released(open_connections=1, held=1)
    c.ok({"op": "deregister", "token": 1})
    daemon.assert_fds_released(open_connections=1)
    fds.close(r)
    with pytest.raises(BrokenPipeError):
        os.write(w, b"x")  # the daemon's copy, the last reader, is gone
    daemon.close_all_and_check_fds()


def test_refusals(daemon, fds):
    c = daemon.raw()
    r, _w = fds.pipe()
    c.send_json({"op": "store", "token": 1, "id": 1})
    assert_error(c.read_reply(), "no_fd")
    c.send_json({"op": "store", "token": 1, "id": 2}, [r, r])
    assert_error(c.read_reply(), "bad_request")
    c.send_json({"op": "store", "id": 3}, [r])
    assert_error(c.read_reply(), "bad_request")
    c.ok({"op": "store", "token": 1}, [r])
    c.send_json({"op": "store", "token": 1, "id": 4}, [r])
    assert_error(c.read_reply(), "token_in_use")
    c.send_json({"op": "register", "token": 1, "interest": ["readable"], "id": 5}, [r])
    assert_error(c.read_reply(), "token_in_use")
    reply = c.request({"op": "reregister", "token": 1, "interest": ["readable"]})
    assert_error(reply, "wrong_state")
    # The daemon's own socket, and a connection to it, are refused.
    own = fds.keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    own.connect(daemon.socket_path)
    c.send_json({"op": "store", "token": 2, "id": 6}, [own.fileno()])
    assert_error(c.read_reply(), "bad_fd")
    daemon.assert_fds_released(open_connections=2, held=1)
    own.close()
    daemon.close_all_and_check_fds()


def test_store_counts_against_the_registration_limit(daemon_factory, fds):
    d = daemon_factory(["--max-registrations-per-uid", "2"])
    c = d.raw()
    r, _w = fds.pipe()
    c.ok({"op": "store", "token": 1}, [r])
    c.ok({"op": "register", "token": 2, "interest": ["readable"]}, [r])
    c.send_json({"op": "store", "token": 3, "id": 1}, [r])
    assert_error(c.read_reply(), "limit_exceeded")
    d.assert_fds_released(open_connections=1, held=2)
    d.close_all_and_check_fds()


def test_regular_files_close_off_the_loop(daemon, fds, tmp_path):
    """Closing a regular file can wait on a filesystem server; the daemon
    hands it to its closer thread. Many of them close, and the loop answers
    all along."""
    c = daemon.raw()
    for token in range(1, 201):
        path = tmp_path / f"f{token}"
        path.write_bytes(b"x")
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        c.ok({"op": "store", "token": token}, [fd])
        os.close(fd)
    daemon.assert_fds_released(open_connections=1, held=200)
    c.ok({"op": "end"})
    c.ping()
    daemon.close_all_and_check_fds()
