"""Registrations: the per-uid cap, a client that plays with the flags of its
copy of a registered fd, and fds that stay ready for ever (edge-triggered:
the daemon must not spin)."""

from __future__ import annotations

import ctypes
import fcntl
import os
import pty
import select
import socket
import subprocess

import pytest

from daemon import Daemon
from mio_testkit import eventfd, libc, libc_check, PipeProbes


@pytest.mark.daemon_args("--max-registrations-per-uid", 50)
def test_registrations_up_to_the_cap_and_one_past(daemon: Daemon, probes: PipeProbes) -> None:
    a, b, c = daemon.raw(), daemon.raw(), daemon.raw()
    assert a.ok({"op": "hello", "id": "h"})["limits"]["max_registrations_per_uid"] == 50
    for t in range(30):
        fd = probes.make(1)
        a.ok({"op": "register", "id": t, "token": t, "interest": "writable"}, fd)
        probes.drop_ours(fd)
    for t in range(19):
        fd = probes.make(1)
        b.ok({"op": "register", "id": t, "token": t, "interest": "writable"}, fd)
        probes.drop_ours(fd)
    b.ok({"op": "waker", "id": "w", "token": 99})
    held = list(probes.read_ends)
    # the 51st, from every connection, as register or waker, many times
    for conn in (a, b, c):
        for i in range(100):
            fd = probes.make(1)
            conn.send_json({"op": "register", "id": i, "token": 1000 + i, "interest": "readable"}, fd)
            probes.drop_ours(fd)
        conn.send_json({"op": "waker", "id": "w2", "token": 5000})
        for i in range(100):
            conn.expect_error("limit_exceeded", id=i)
        conn.expect_error("limit_exceeded", id="w2")
    refused = probes.read_ends[len(held):]
    probes.read_ends = refused
    probes.assert_released(what="(the refused registrations)")
    probes.read_ends = held
    probes.assert_held("(the 49 registered pipes)")
    # a persistent session is no way around the cap
    p = daemon.raw()
    p.ok({"op": "hello", "id": "hp", "session": "persist-me", "persist": True})
    fd = probes.make(1)
    p.send_json({"op": "register", "id": "p1", "token": 1, "interest": "readable"}, fd)
    probes.drop_ours(fd)
    p.expect_error("limit_exceeded", id="p1")
    p.ok({"op": "end", "id": "pe"})
    # one freed: exactly one more fits
    a.ok({"op": "deregister", "id": "d", "token": 0})
    fd = probes.make(1)
    c.ok({"op": "register", "id": "fits", "token": 1, "interest": "readable"}, fd)
    probes.drop_ours(fd)
    fd = probes.make(1)
    c.send_json({"op": "register", "id": "over", "token": 2, "interest": "readable"}, fd)
    probes.drop_ours(fd)
    c.expect_error("limit_exceeded", id="over")
    for conn in (a, b, c, p):
        conn.close()
    daemon.connections.clear()
    probes.read_ends = held + refused + probes.read_ends[len(held):]
    probes.assert_released(what="after every connection closed")
    daemon.assert_healthy()


def test_client_toggles_o_nonblock_on_its_copy(daemon: Daemon) -> None:
    """The daemon's copy shares the open file description (and so its
    flags) with the client's: flipping O_NONBLOCK changes nothing for the
    daemon, which never reads; events keep coming; the daemon never changes
    the flags itself."""
    c = daemon.raw()
    r, w = os.pipe()
    a, b = socket.socketpair()
    try:
        os.set_blocking(r, True)
        a.setblocking(True)
        c.ok({"op": "register", "id": 1, "token": 1, "interest": "readable"}, [r])
        c.ok({"op": "register", "id": 2, "token": 2, "interest": "readable"}, [a.fileno()])
        assert os.get_blocking(r) and a.getblocking(), "the daemon changed the flags of a registered fd"
        for cycle in range(20):
            for i in range(200):
                os.set_blocking(r, i % 2 == 0)
                fl = fcntl.fcntl(a.fileno(), fcntl.F_GETFL)
                fcntl.fcntl(a.fileno(), fcntl.F_SETFL, fl ^ os.O_NONBLOCK)
            c.events.clear()
            os.write(w, b"x")
            b.send(b"y")
            evs = c.collect_events(quiet=0.05, limit=3.0)
            while not ({1, 2} <= {e["token"] for e in evs if e["readable"]}):
                more = len(evs)
                evs = c.collect_events(quiet=0.2, limit=3.0)
                assert len(evs) > more, f"cycle {cycle}: events {evs}"
            os.set_blocking(r, False)
            os.read(r, 100)
            a.setblocking(False)
            a.recv(100)
        c.ping("after")
    finally:
        os.close(r)
        os.close(w)
        a.close()
        b.close()
    c.close()
    daemon.assert_healthy()


# --------------------------------------------------------------------------
# fds that stay ready for ever


class _timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _timespec), ("it_value", _timespec)]


def _expired_timerfd() -> int:
    fd = libc_check(libc.timerfd_create(1, os.O_CLOEXEC | os.O_NONBLOCK), "timerfd_create")  # CLOCK_MONOTONIC
    spec = _itimerspec(_timespec(0, 0), _timespec(0, 1000))  # once, in 1 µs
    libc_check(libc.timerfd_settime(fd, 0, ctypes.byref(spec), None), "timerfd_settime")
    return fd


def _inotify_with_an_event(directory: str) -> int:
    fd = libc_check(libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK), "inotify_init1")
    libc_check(libc.inotify_add_watch(fd, directory.encode(), 0x100), "inotify_add_watch")  # IN_CREATE
    open(os.path.join(directory, "created"), "w").close()
    return fd


def test_fds_that_stay_ready_for_ever_do_not_make_the_daemon_spin(daemon: Daemon, tmp_path) -> None:
    c = daemon.raw()
    keep = []  # our copies and the other ends
    regs = []  # (fd, interest, mode)

    for _ in range(20):  # pipes with unread data
        r, w = os.pipe()
        os.write(w, b"unread")
        keep += [r, w]
        regs.append((r, "readable", "edge"))
    for _ in range(10):  # pipes whose writer went away (HUP)
        r, w = os.pipe()
        os.close(w)
        keep.append(r)
        regs.append((r, "readable", "edge"))
    for _ in range(10):  # pipes whose reader went away (ERR), watched for writing
        r, w = os.pipe()
        os.close(r)
        keep.append(w)
        regs.append((w, "writable", "edge"))
    socks = []
    for _ in range(10):  # sockets at EOF
        a, b = socket.socketpair()
        b.close()
        socks.append(a)
        regs.append((a.fileno(), ["readable", "writable", "priority"], "edge"))
    for _ in range(10):  # sockets always writable, with unread data too
        a, b = socket.socketpair()
        b.send(b"data")
        socks += [a, b]
        regs.append((a.fileno(), ["readable", "writable"], "edge"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "l.sock"))
    listener.listen()
    pending = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pending.connect(str(tmp_path / "l.sock"))
    socks += [listener, pending]
    regs.append((listener.fileno(), "readable", "edge"))  # a connection waits to be accepted
    for _ in range(5):  # eventfds with a count
        e = eventfd(1)
        keep.append(e)
        regs.append((e, ["readable", "writable"], "edge"))
    ep = select.epoll()  # an epoll fd whose inner fd is ready (level-triggered inside)
    r, w = os.pipe()
    os.write(w, b"x")
    ep.register(r, select.EPOLLIN)
    keep += [r, w]
    regs.append((ep.fileno(), "readable", "edge"))
    master, slave = pty.openpty()  # a character device with unread input
    os.write(slave, b"typed\n")
    keep += [master, slave]
    regs.append((master, ["readable", "writable"], "edge"))
    child = subprocess.Popen(["true"])
    pidfd = os.pidfd_open(child.pid)
    child.wait()
    keep.append(pidfd)
    regs.append((pidfd, "readable", "edge"))  # an exited process
    tfd = _expired_timerfd()
    keep.append(tfd)
    regs.append((tfd, "readable", "edge"))
    ifd = _inotify_with_an_event(str(tmp_path))
    keep.append(ifd)
    regs.append((ifd, "readable", "edge"))
    r2, w2 = os.pipe()  # oneshot that fired once
    os.write(w2, b"x")
    keep += [r2, w2]
    regs.append((r2, "readable", "oneshot"))

    try:
        for tok, (fd, interest, mode) in enumerate(regs):
            c.send_json({"op": "register", "id": tok, "token": tok, "interest": interest, "mode": mode}, [fd])
        for tok in range(len(regs)):
            assert c.read_reply() == {"id": tok, "ok": True, "token": tok}
        c.collect_events(quiet=0.5)
        first = {e["token"] for e in c.events}
        missing = set(range(len(regs))) - first
        assert not missing, f"no initial event for tokens {sorted(missing)}"
        c.events.clear()
        # not reading, then reading: no CPU either way, no new events
        cpu_idle = daemon.cpu_over(2.0)
        late = c.collect_events(quiet=0.2, limit=1.0)
        start = daemon.cpu_s()
        c.collect_events(quiet=2.0, limit=2.0)
        cpu_reading = daemon.cpu_s() - start
        assert cpu_idle < 0.1, f"daemon used {cpu_idle:.2f} s CPU in 2 s with {len(regs)} fds that stay ready"
        assert cpu_reading < 0.1, f"daemon used {cpu_reading:.2f} s CPU in 2 s with {len(regs)} fds that stay ready (client reading)"
        assert len(c.events) <= 1, f"{len(c.events)} more events for fds whose state did not change: {c.events[:5]}"
        c.ping("after")
    finally:
        c.close()
        ep.close()
        for s in socks:
            s.close()
        for fd in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    daemon.assert_healthy()
