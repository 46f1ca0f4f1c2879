"""Fds the daemon must refuse, or must handle with care: its own sockets,
regular files, directories, O_PATH, /dev/null, signalfd; and epoll fds that
hold other fds of the client (docs/protocol.md, "What can be registered")."""

from __future__ import annotations

import os
import select
import signal
import socket
import time

import pytest

from daemon import Daemon
from mio_testkit import eventfd, listening_socket_fd_in, pidfd_getfd, signalfd
from timing import wait_until

REG = {"op": "register", "interest": "readable"}


def _register(c, id_, token, fd, interest="readable"):
    c.send_json({"op": "register", "id": id_, "token": token, "interest": interest}, [fd])


# --------------------------------------------------------------------------
# the daemon's own sockets


def test_own_connection_passed_as_the_fd(daemon: Daemon) -> None:
    c = daemon.raw()
    _register(c, 1, 1, c.fileno())
    c.expect_error("bad_fd", id=1)
    dup = os.dup(c.fileno())
    try:
        _register(c, 2, 2, dup)
        c.expect_error("bad_fd", id=2)
    finally:
        os.close(dup)
    assert c.request({"op": "list", "id": 3})["registrations"] == []
    # the daemon kept no copy of the connection: closing it ends it
    c.close()
    daemon.assert_healthy()


def test_another_connection_to_the_daemon_passed_as_the_fd(daemon: Daemon) -> None:
    c = daemon.raw()
    others = [daemon.raw() for _ in range(3)]
    others[0].ping("accepted")
    # a connection that has not even been accepted yet, and one that was
    # shut down in both directions
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(daemon.socket_path)
    others[2].sock.shutdown(socket.SHUT_RDWR)
    for i, s in enumerate([others[0].sock, others[1].sock, raw, others[2].sock]):
        _register(c, i, i, s.fileno(), interest=["readable", "writable"])
        c.expect_error("bad_fd", id=i)
    assert c.request({"op": "list", "id": "l"})["registrations"] == []
    others[1].ping("still-fine")
    for o in others:
        o.close()
    raw.close()
    daemon.expect_fd_count(daemon.fd_baseline + 1, what="(only c left: the refused sockets were not kept)")
    c.close()
    daemon.assert_healthy()


def test_the_daemons_listening_socket_passed_back(daemon: Daemon) -> None:
    """A copy of the daemon's own listening socket (taken with
    pidfd_getfd) is refused with bad_fd."""
    try:
        listener = pidfd_getfd(daemon.pid, listening_socket_fd_in(daemon.pid, daemon.socket_path))
    except OSError as e:
        pytest.skip(f"pidfd_getfd not possible here: {e}")
    try:
        c = daemon.raw()
        _register(c, 1, 1, listener)
        c.expect_error("bad_fd", id=1)
        c.close()
    finally:
        os.close(listener)
    daemon.assert_healthy()


def test_sockets_that_are_not_the_daemons_are_fine(daemon: Daemon, tmp_path) -> None:
    """The own-socket check goes by address: a socketpair and a socket
    connected to another listener are accepted."""
    c = daemon.raw()
    a, b = socket.socketpair()
    other_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other_listener.bind(str(tmp_path / "other.sock"))
    other_listener.listen()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(tmp_path / "other.sock"))
    try:
        for i, s in enumerate([a, other_listener, client]):
            _register(c, i, i, s.fileno())
            assert c.read_reply() == {"id": i, "ok": True, "token": i}
    finally:
        for s in (a, b, other_listener, client):
            s.close()
    c.close()
    daemon.assert_healthy()


# --------------------------------------------------------------------------
# kinds that cannot be polled


def _kinds(tmp_path):
    path = tmp_path / "regular"
    path.write_bytes(b"data")
    made = {}
    made["regular-file"] = (os.open(str(path), os.O_RDONLY), "not_pollable")
    made["directory"] = (os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY), "not_pollable")
    made["o-path-file"] = (os.open(str(path), os.O_PATH), "not_pollable")
    made["o-path-dir"] = (os.open(str(tmp_path), os.O_PATH), "not_pollable")
    r, w = os.pipe()
    os.close(w)
    made["o-path-of-proc-pipe"] = (os.open(f"/proc/self/fd/{r}", os.O_PATH), "not_pollable")
    os.close(r)
    made["dev-null"] = (os.open("/dev/null", os.O_RDWR), "not_pollable")
    made["signalfd"] = (signalfd([signal.SIGUSR2, signal.SIGTERM]), "not_pollable")
    made["memfd"] = (os.memfd_create("hostile"), "not_pollable")
    return made


KIND_NAMES = ["regular-file", "directory", "o-path-file", "o-path-dir", "o-path-of-proc-pipe", "dev-null", "signalfd", "memfd"]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_refused_kinds(daemon: Daemon, tmp_path, kind: str) -> None:
    made = _kinds(tmp_path)
    try:
        fd, code = made[kind]
        target = os.readlink(f"/proc/self/fd/{fd}")
        c = daemon.raw()
        for i in range(20):  # again and again: nothing may accumulate
            _register(c, i, i, fd)
        for i in range(20):
            c.expect_error(code, id=i)
        assert c.request({"op": "list", "id": "l"})["registrations"] == []
        # the daemon may have fds of its own on the same target (/dev/null
        # as stdin, its own signalfd): compare with the baseline
        before = daemon.baseline_targets.count(target)
        wait_until(lambda: daemon.fd_targets().count(target) == before, timeout=3.0, what=f"the daemon to close its copies of {target}")
        c.ping("after")
        c.close()
    finally:
        for fd, _ in made.values():
            os.close(fd)
    daemon.assert_healthy()


def test_signalfd_refused_and_the_daemon_still_stops_on_sigterm(daemon: Daemon) -> None:
    """A signalfd for SIGTERM in the daemon's hands could eat its own
    shutdown signal; it is refused, and SIGTERM still stops the daemon
    (the fixture checks exit status 0)."""
    fd = signalfd([signal.SIGTERM, signal.SIGINT])
    try:
        c = daemon.raw()
        _register(c, 1, 1, fd)
        c.expect_error("not_pollable", id=1)
        c.close()
    finally:
        os.close(fd)
    daemon.assert_healthy()


# --------------------------------------------------------------------------
# epoll fds


def test_epoll_holding_the_clients_other_fds(daemon: Daemon) -> None:
    """An epoll fd is an allowed kind: registering it succeeds, and events
    for it arrive when the fds inside it become ready."""
    c = daemon.raw()
    ep = select.epoll()
    r1, w1 = os.pipe()
    efd = eventfd()
    a, b = socket.socketpair()
    try:
        ep.register(r1, select.EPOLLIN)
        ep.register(efd, select.EPOLLIN)
        ep.register(a.fileno(), select.EPOLLIN)
        _register(c, 1, 77, ep.fileno())
        assert c.read_reply() == {"id": 1, "ok": True, "token": 77}
        assert [x["kind"] for x in c.request({"op": "list", "id": 2})["registrations"]] == ["epoll"]
        c.collect_events(quiet=0.2)
        assert not c.events, f"events before any inner fd was ready: {c.events}"
        for name, make_ready, drain in [
            ("pipe", lambda: os.write(w1, b"x"), lambda: os.read(r1, 10)),
            ("eventfd", lambda: os.write(efd, (1).to_bytes(8, "little")), lambda: os.read(efd, 8)),
            ("socket", lambda: b.send(b"y"), lambda: a.recv(10)),
        ]:
            c.events.clear()
            make_ready()
            evs = c.collect_events(quiet=0.2, limit=3.0)
            assert any(e.get("token") == 77 and e["readable"] for e in evs), f"no readable event for the epoll fd when its {name} got ready: {evs}"
            drain()
        # no spin on an epoll fd that stays ready (its inner fd is level-triggered)
        os.write(w1, b"stay")
        c.collect_events(quiet=0.3)
        c.events.clear()
        cpu = daemon.cpu_over(2.0)
        late = c.collect_events(quiet=0.1, limit=0.5)
        assert cpu < 0.1, f"daemon used {cpu:.2f} s CPU in 2 s on a ready epoll fd"
        assert len(late) <= 1, f"{len(late)} more events for an epoll fd whose state did not change"
    finally:
        ep.close()
        for fd in (r1, w1, efd):
            os.close(fd)
        a.close()
        b.close()
    c.close()
    daemon.assert_healthy()


def test_epoll_holding_the_clients_own_connection(daemon: Daemon) -> None:
    """An epoll fd that watches the client's own connection to the daemon:
    every line the daemon sends makes it ready again. The daemon cannot see
    inside it; it must stay bounded and go on serving others, and closing
    the client ends it all."""
    c = daemon.raw()
    ep = select.epoll()
    try:
        ep.register(c.fileno(), select.EPOLLIN)
        _register(c, 1, 9, ep.fileno())
        # do not read for a while: the feedback stops when our socket fills
        time.sleep(1.0)
        daemon.ping_fresh()
        daemon.assert_rss_bounded()
        cpu = daemon.cpu_over(1.0)
        assert cpu < 0.2, f"daemon used {cpu:.2f} s CPU in 1 s while the client did not read"
    finally:
        ep.close()
    c.close()
    daemon.assert_healthy()


def test_nested_epolls_too_deep(daemon: Daemon) -> None:
    """The deepest chain of epoll fds the kernel lets us build, put under
    the daemon's own epoll, is one level too deep: bad_fd (ELOOP), nothing
    kept. One level less is fine, and its events arrive."""
    chain = [select.epoll() for _ in range(10)]
    r, w = os.pipe()
    try:
        chain[-1].register(r, select.EPOLLIN)
        top = len(chain) - 1
        for i in range(len(chain) - 2, -1, -1):
            try:
                chain[i].register(chain[i + 1].fileno(), select.EPOLLIN)
            except OSError:
                break
            top = i
        assert top < len(chain) - 2, "could not even nest two epolls"
        c = daemon.raw()
        _register(c, 1, 1, chain[top].fileno())
        c.expect_error("bad_fd", id=1)
        _register(c, 2, 2, chain[top + 1].fileno())
        assert c.read_reply() == {"id": 2, "ok": True, "token": 2}
        os.write(w, b"x")
        evs = c.collect_events(quiet=0.3)
        assert any(e["token"] == 2 and e["readable"] for e in evs), evs
        c.close()
    finally:
        for ep in chain:
            ep.close()
        os.close(r)
        os.close(w)
    daemon.assert_healthy()


# --------------------------------------------------------------------------
# the daemon's own fds, handed back to it (a root client can take copies)


def test_the_daemons_own_fds_passed_back(daemon: Daemon) -> None:
    """Every fd the daemon has at start (stdin /dev/null, its log file, the
    listening socket, its epoll, its signalfd, …), copied with pidfd_getfd
    and registered: each is refused, none is kept, the daemon is fine."""
    c = daemon.raw()
    names = sorted(int(n) for n in os.listdir(f"/proc/{daemon.pid}/fd"))
    tried = {}
    for n in names:
        try:
            target = os.readlink(f"/proc/{daemon.pid}/fd/{n}")
            fd = pidfd_getfd(daemon.pid, n)
        except OSError as e:
            if isinstance(e, PermissionError) or e.errno in (1, 38):
                pytest.skip(f"pidfd_getfd not possible here: {e}")
            continue  # the fd went away (our own connection's, just closed)
        try:
            if target.startswith("socket:") and n != listening_socket_fd_in(daemon.pid, daemon.socket_path):
                continue  # a connection (ours): covered elsewhere
            _register(c, n, n, fd, interest=["readable", "writable"])
            r = c.read_reply()
            tried[target] = r
            assert r.get("ok") is False and r["error"]["code"] in ("bad_fd", "not_pollable"), f"{target}: {r}"
        finally:
            os.close(fd)
    assert any("eventpoll" in t for t in tried), tried
    print({t: r["error"]["code"] for t, r in tried.items()})
    assert c.request({"op": "list", "id": "l"})["registrations"] == []
    c.close()
    daemon.assert_healthy()


def test_epoll_that_contains_the_daemons_epoll(daemon: Daemon) -> None:
    """A client epoll that holds a copy of the daemon's own epoll fd: putting
    it under the daemon's epoll would make a loop (ELOOP) → bad_fd."""
    epfd_no = None
    for n in os.listdir(f"/proc/{daemon.pid}/fd"):
        try:
            if os.readlink(f"/proc/{daemon.pid}/fd/{n}") == "anon_inode:[eventpoll]":
                epfd_no = int(n)
        except OSError:
            pass
    assert epfd_no is not None
    try:
        theirs = pidfd_getfd(daemon.pid, epfd_no)
    except OSError as e:
        pytest.skip(f"pidfd_getfd not possible here: {e}")
    ours = select.epoll()
    try:
        ours.register(theirs, select.EPOLLIN)
        c = daemon.raw()
        _register(c, 1, 1, ours.fileno())
        c.expect_error("bad_fd", id=1)
        c.ping("after")
        c.close()
    finally:
        ours.close()
        os.close(theirs)
    daemon.assert_healthy()


def test_credentials_alongside_253_fds(daemon: Daemon, probes) -> None:
    """SCM_CREDENTIALS and 253 fds in one message (the daemon's control
    buffer fits both): the register is refused for its fd count, not with
    fd_overflow, and every fd is closed."""
    import array
    import struct

    c = daemon.raw()
    creds = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
    fds = probes.make(253)
    data = b'{"op":"register","id":1,"token":1,"interest":"readable"}\n'
    try:
        c.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds),
                                (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    except OSError as e:
        pytest.skip(f"cannot send credentials here: {e}")
    probes.drop_ours()
    c.expect_error("bad_request", id=1)
    probes.assert_released()
    c.ping("after")
    c.close()
    daemon.assert_healthy()
