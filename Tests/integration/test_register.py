"""register, reregister, deregister, list (docs/protocol.md, "What can be
registered" and "Operations"): kinds accepted, kinds
refused (not_pollable), the daemon's own sockets refused (bad_fd)."""

import os
import select
import socket

import pytest

from mio_client import MioError
from mio_testkit import eventfd, inotify, pidfd_getfd, signalfd, timerfd
from raw_connection import line
from replies import assert_error, assert_ok


def interest_set(entry):
    interest = entry["interest"]
    return {interest} if isinstance(interest, str) else set(interest)


def error_of(fn, *args, **kwargs):
    with pytest.raises(MioError) as info:
        fn(*args, **kwargs)
    return info.value.code


def test_register_reply_and_list(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    assert c.register(r, 7) == {"id": 1, "ok": True, "token": 7}
    entries = c.list()
    assert len(entries) == 1
    entry = entries[0]
    assert entry["token"] == 7 and entry["mode"] == "edge" and entry["kind"] == "pipe"
    assert interest_set(entry) == {"readable"}
    daemon.close_all_and_check_fds()


def test_register_interest_and_mode_in_list(daemon, fds):
    r1, w1 = fds.pipe()
    c = daemon.client()
    c.register(r1, 1, ("readable", "priority"), "oneshot")
    c.register(w1, 2, ("writable",))
    by_token = {e["token"]: e for e in c.list()}
    assert interest_set(by_token[1]) == {"readable", "priority"} and by_token[1]["mode"] == "oneshot"
    assert interest_set(by_token[2]) == {"writable"} and by_token[2]["mode"] == "edge"
    daemon.close_all_and_check_fds()


def test_register_mode_defaults_to_edge(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 1, "token": 1, "interest": ["readable"]}), [r])
    assert_ok(raw.read_json(), 1)
    assert raw.request({"op": "list", "id": 2})["registrations"][0]["mode"] == "edge"
    daemon.close_all_and_check_fds()


def test_token_in_use_closes_the_new_fd(daemon, fds):
    r1, _ = fds.pipe()
    r2, _ = fds.pipe()
    c = daemon.client()
    c.register(r1, 1)
    assert error_of(c.register, r2, 1) == "token_in_use"
    daemon.assert_fds_released(open_connections=1, held=1)
    assert daemon.holds(r1) and not daemon.holds(r2)
    daemon.close_all_and_check_fds()


def test_tokens_are_per_session(daemon, fds):
    r1, _ = fds.pipe()
    r2, _ = fds.pipe()
    a, b = daemon.client(), daemon.client()
    a.register(r1, 1)
    b.register(r2, 1)
    daemon.close_all_and_check_fds()


def test_deregister_closes_the_fd(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 3)
    daemon.assert_fds_released(open_connections=1, held=1)
    assert c.deregister(3)["token"] == 3
    daemon.assert_fds_released(open_connections=1, held=0)
    assert c.list() == []
    assert error_of(c.deregister, 3) == "unknown_token"


def test_deregister_then_register_same_token(daemon, fds):
    r1, _ = fds.pipe()
    r2, w2 = fds.pipe()
    c = daemon.client()
    c.register(r1, 3)
    c.deregister(3)
    c.register(r2, 3)
    os.write(w2, b"x")
    ev = c.next_event(5)
    assert ev["token"] == 3 and ev["readable"]
    daemon.close_all_and_check_fds()


def test_unknown_token_errors(daemon):
    c = daemon.client()
    assert error_of(c.deregister, 5) == "unknown_token"
    assert error_of(c.reregister, 5, ("readable",)) == "unknown_token"
    assert error_of(c.fetch, 5) == "unknown_token"
    assert error_of(c.wake, 5) == "unknown_token"


def test_unknown_token_message_names_the_token(daemon):
    raw = daemon.raw()
    reply = raw.request({"op": "deregister", "id": 1, "token": 12345})
    assert_error(reply, "unknown_token", 1)
    assert "12345" in reply["error"]["message"]


def test_reregister_changes_interest(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(w, 1, ("readable",))  # a pipe's write end never becomes readable
    assert c.next_event(0.3) is None
    c.reregister(1, ("writable",))
    ev = c.next_event(5)
    assert ev["token"] == 1 and ev["writable"]
    entry = c.list()[0]
    assert interest_set(entry) == {"writable"} and entry["mode"] == "edge"
    daemon.close_all_and_check_fds()


def test_reregister_requires_interest_and_token(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    raw = daemon.raw()
    assert_error(raw.request({"op": "reregister", "id": 1, "token": 1, "interest": ["readable"]}), "unknown_token", 1)  # other session
    assert error_of(c.request, "reregister", token=1) == "bad_request"
    assert error_of(c.request, "reregister", interest=["readable"]) == "bad_request"
    assert error_of(c.request, "reregister", token=1, interest=["readable"], mode="level") == "bad_request"
    daemon.close_all_and_check_fds()


def test_reregister_mode_defaults_to_edge(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1, mode="oneshot")
    c.request("reregister", token=1, interest=["readable"])
    assert c.list()[0]["mode"] == "edge"
    daemon.close_all_and_check_fds()


# -- kinds ---------------------------------------------------------------------

def make_kind(kind, fds, tmp_path):
    if kind == "pipe":
        return fds.pipe()[0]
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
        return fds.own(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    if kind == "socket":
        return fds.socketpair()[0].fileno()
    if kind == "char":
        master, slave = os.openpty()
        fds.own(slave)
        return fds.own(master)
    if kind == "eventfd":
        return fds.own(eventfd())
    if kind == "timerfd":
        return fds.own(timerfd())
    if kind == "pidfd":
        return fds.own(os.pidfd_open(os.getpid()))
    if kind == "inotify":
        return fds.own(inotify())
    if kind == "epoll":
        return fds.keep(select.epoll()).fileno()
    raise AssertionError(kind)


KINDS = ["pipe", "fifo", "socket", "char", "eventfd", "timerfd", "pidfd", "inotify", "epoll"]


@pytest.mark.parametrize("kind", KINDS)
def test_list_shows_kind(daemon, fds, tmp_path, kind):
    fd = make_kind(kind, fds, tmp_path)
    c = daemon.client()
    c.register(fd, 1)
    assert c.list()[0]["kind"] == kind
    daemon.assert_fds_released(open_connections=1, held=1)
    daemon.close_all_and_check_fds()


def test_list_shows_every_kind_together_and_waker(daemon, fds, tmp_path):
    c = daemon.client()
    for token, kind in enumerate(KINDS):
        c.register(make_kind(kind, fds, tmp_path), token)
    c.waker(100)
    kinds = {e["token"]: e["kind"] for e in c.list()}
    assert kinds == {**dict(enumerate(KINDS)), 100: "waker"}
    assert c.stats()["fds_held"] == len(KINDS)  # the waker is the daemon's own fd
    daemon.close_all_and_check_fds()


def test_other_socket_types(daemon, fds):
    c = daemon.client()
    tcp = fds.keep(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    udp6 = fds.keep(socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
    dgram = fds.keep(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    for token, s in enumerate([tcp, udp6, dgram]):
        c.register(s, token, ("readable", "writable"))
    assert [e["kind"] for e in c.list()] == ["socket"] * 3
    daemon.close_all_and_check_fds()


# -- not_pollable --------------------------------------------------------------

def not_pollable_fd(case, fds, tmp_path):
    if case == "regular file":
        path = tmp_path / "file"
        path.write_bytes(b"data")
        return fds.own(os.open(path, os.O_RDONLY))
    if case == "directory":
        return fds.own(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY))
    if case == "O_PATH regular file":
        path = tmp_path / "file"
        path.write_bytes(b"data")
        return fds.own(os.open(path, os.O_PATH))
    if case == "O_PATH fifo":  # fstat says FIFO: only F_GETFL shows O_PATH
        path = tmp_path / "fifo"
        os.mkfifo(path)
        return fds.own(os.open(path, os.O_PATH))
    if case == "O_PATH directory":
        return fds.own(os.open(tmp_path, os.O_PATH | os.O_DIRECTORY))
    if case == "/dev/null":  # a char device, allowed by kind, refused by epoll (EPERM)
        return fds.own(os.open("/dev/null", os.O_RDWR))
    if case == "/dev/zero":
        return fds.own(os.open("/dev/zero", os.O_RDONLY))
    if case == "signalfd":
        return fds.own(signalfd())
    raise AssertionError(case)


NOT_POLLABLE = ["regular file", "directory", "O_PATH regular file", "O_PATH fifo", "O_PATH directory", "/dev/null", "/dev/zero", "signalfd"]


@pytest.mark.parametrize("case", NOT_POLLABLE)
def test_not_pollable(daemon, fds, tmp_path, case):
    fd = not_pollable_fd(case, fds, tmp_path)
    c = daemon.client()
    assert error_of(c.register, fd, 1) == "not_pollable"
    assert c.list() == []
    assert c.stats()["fds_held"] == 0
    daemon.assert_fds_released(open_connections=1)
    # the token is free, the connection fine
    c.register(fds.pipe()[0], 1)
    daemon.close_all_and_check_fds()


def test_not_pollable_for_every_case_on_one_connection(daemon, fds, tmp_path):
    c = daemon.client()
    for token, case in enumerate(NOT_POLLABLE):
        sub = tmp_path / f"d{token}"
        sub.mkdir()
        assert error_of(c.register, not_pollable_fd(case, fds, sub), token) == "not_pollable", case
    daemon.close_all_and_check_fds()


# -- bad_fd --------------------------------------------------------------------

def test_own_connection_refused(daemon):
    c = daemon.client()
    assert error_of(c.register, c.fileno(), 1) == "bad_fd"
    daemon.assert_fds_released(open_connections=1)
    c.ping()


def test_another_connection_to_the_daemon_refused(daemon):
    c = daemon.client()
    other = daemon.raw()
    assert error_of(c.register, other.fileno(), 1) == "bad_fd"
    daemon.assert_fds_released(open_connections=2)
    # the other connection is unharmed and closes normally
    assert_ok(other.request({"op": "ping", "id": 1}), 1)
    daemon.close_all_and_check_fds()


def test_unconnected_socket_to_daemon_path_before_connect_is_fine(daemon, fds):
    # An AF_UNIX socket that is neither bound to nor connected to the daemon's
    # address is an ordinary socket.
    s = fds.keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    c = daemon.client()
    c.register(s, 1)
    daemon.close_all_and_check_fds()


@pytest.mark.skipif(os.getuid() != 0, reason="pidfd_getfd on the daemon needs root")
def test_listening_socket_refused(daemon):
    listen_fd_in_daemon = daemon.listening_socket_fd_in_daemon()
    try:
        listener = pidfd_getfd(daemon.pid, listen_fd_in_daemon)
    except OSError as exc:
        pytest.skip(f"pidfd_getfd not available: {exc}")
    try:
        c = daemon.client()
        assert error_of(c.register, listener, 1) == "bad_fd"
    finally:
        os.close(listener)
    daemon.close_all_and_check_fds()
    # the daemon still accepts connections
    daemon.client().ping()


def epoll_chain(n, fds):
    chain = [fds.keep(select.epoll()) for _ in range(n)]
    for outer, inner in zip(chain, chain[1:]):
        outer.register(inner.fileno(), select.EPOLLIN)
    return chain[0].fileno()


def test_epoll_nested_too_deep_is_bad_fd(daemon, fds):
    c = daemon.client()
    assert error_of(c.register, epoll_chain(5, fds), 1) == "bad_fd"  # ELOOP
    daemon.assert_fds_released(open_connections=1)
    c.register(epoll_chain(4, fds), 1)
    assert c.list()[0]["kind"] == "epoll"
    daemon.close_all_and_check_fds()
