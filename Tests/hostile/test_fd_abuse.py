"""Fds where they do not belong: 253 in one message, fds with one-byte
messages, fds on every kind of request, and fds arriving when the daemon is
at its open-file limit (docs/protocol.md, "Passing
file descriptors")."""

from __future__ import annotations

import json
import time

import pytest

from daemon import Daemon
from mio_testkit import PipeProbes
from raw_connection import line, RawConnection, SCM_MAX_FD

REG = {"op": "register", "token": 1, "interest": "readable"}


def _reg(id_, token=1, **kw):
    return dict(REG, id=id_, token=token, **kw)


# --------------------------------------------------------------------------
# 253 fds


@pytest.mark.parametrize("groups", [[253], [200, 53], [1] * 253, [100, 100, 53]], ids=["one-header", "two-headers", "253-headers", "three-headers"])
def test_253_fds_on_a_register(daemon: Daemon, probes: PipeProbes, groups) -> None:
    c = daemon.raw()
    fds = probes.make(SCM_MAX_FD)
    split, at = [], 0
    for n in groups:
        split.append(fds[at:at + n])
        at += n
    try:
        c.send_groups(line(_reg(1)), split)
    except OSError as e:
        pytest.skip(f"the kernel refused this many SCM_RIGHTS headers: {e}")
    probes.drop_ours()
    r = c.expect_error("bad_request", id=1)
    assert "253" in r["error"]["message"], r
    probes.assert_released(what="after the 253-fd register was refused")
    assert c.request({"op": "list", "id": 2})["registrations"] == []
    c.close()
    daemon.assert_healthy()


@pytest.mark.parametrize(
    "data,code,id_",
    [
        (line({"op": "ping", "id": 1}), "bad_request", 1),
        (b"\n", "bad_request", None),
        (b"   \r\n", "bad_request", None),
        (b"{not json\n", "bad_json", None),
        (line({"op": "nope", "id": 2}), "unknown_op", 2),
        (b"[1,2,3]\n", "bad_request", None),
        (line({"op": "end", "id": 3}), "bad_request", 3),
    ],
    ids=["ping", "blank", "spaces-crlf", "bad-json", "unknown-op", "not-an-object", "end"],
)
def test_253_fds_on_other_lines(daemon: Daemon, probes: PipeProbes, data: bytes, code: str, id_) -> None:
    c = daemon.raw()
    c.send(data, probes.make(SCM_MAX_FD))
    probes.drop_ours()
    c.expect_error(code, id=id_)
    probes.assert_released()
    c.ping("after")
    c.close()
    daemon.assert_healthy()


def test_253_fds_twenty_times_over_four_connections(daemon: Daemon, probes: PipeProbes) -> None:
    """5060 fds in flight in 20 messages; all of them closed, none leaked."""
    conns = [daemon.raw() for _ in range(4)]
    for round_ in range(5):
        for k, c in enumerate(conns):
            c.send(line(_reg(f"{round_}-{k}", token=round_)), probes.make(SCM_MAX_FD))
            probes.drop_ours()
    for k, c in enumerate(conns):
        for round_ in range(5):
            c.expect_error("bad_request", id=f"{round_}-{k}")
    probes.assert_released()
    for c in conns:
        c.close()
    daemon.assert_healthy()


# --------------------------------------------------------------------------
# fds with one-byte messages


def test_fd_with_the_first_byte_of_a_register(daemon: Daemon, probes: PipeProbes) -> None:
    c = daemon.raw()
    data = line(_reg(1))
    c.send(data[:1], probes.make(1))
    probes.drop_ours()
    time.sleep(0.05)
    c.send(data[1:])
    assert c.read_reply() == {"id": 1, "ok": True, "token": 1}
    probes.assert_held("registered")
    c.close()
    probes.assert_released()
    daemon.assert_healthy()


def test_fd_with_the_newline_of_a_register(daemon: Daemon, probes: PipeProbes) -> None:
    """No line begins in the one-byte message: the fd goes to the line that
    runs through it."""
    c = daemon.raw()
    data = line(_reg(1))
    c.send(data[:-1])
    time.sleep(0.05)
    c.send(b"\n", probes.make(1))
    probes.drop_ours()
    assert c.read_reply() == {"id": 1, "ok": True, "token": 1}
    c.close()
    probes.assert_released()
    daemon.assert_healthy()


@pytest.mark.parametrize(
    "first,rest,code",
    [(b"\n", b"", "bad_request"), (b" ", b"\n", "bad_request"), (b"\r", b"\n", "bad_request"), (b"x", b"\n", "bad_json"), (b"[", b"]\n", "bad_request")],
    ids=["newline", "space", "cr", "x", "array"],
)
def test_fd_with_a_one_byte_message(daemon: Daemon, probes: PipeProbes, first: bytes, rest: bytes, code: str) -> None:
    c = daemon.raw()
    c.send(first, probes.make(1))
    probes.drop_ours()
    time.sleep(0.05)
    if rest:
        c.send(rest)
    c.expect_error(code, id=None)
    probes.assert_released()
    c.ping("after")
    c.close()
    daemon.assert_healthy()


def test_an_fd_with_every_byte_of_a_register(daemon: Daemon, probes: PipeProbes) -> None:
    """Each byte of the line in its own sendmsg() with its own fd: the line
    keeps the first batch, the others are closed and counted → bad_request;
    every fd closed."""
    c = daemon.raw()
    data = line(_reg(1))
    for i in range(len(data)):
        c.send(data[i:i + 1], probes.make(1))
        probes.drop_ours()
    r = c.expect_error("bad_request", id=1)
    assert str(len(data)) in r["error"]["message"], r
    probes.assert_released()
    assert c.request({"op": "list", "id": 2})["registrations"] == []
    c.close()
    daemon.assert_healthy()


def test_fd_goes_to_the_line_that_begins_in_its_message(daemon: Daemon, probes: PipeProbes) -> None:
    c = daemon.raw()
    reg = line(_reg(2))
    c.send(line({"op": "ping", "id": 1}) + reg[:1], probes.make(1))
    probes.drop_ours()
    time.sleep(0.05)
    c.send(reg[1:])
    assert c.read_reply() == {"id": 1, "ok": True}
    assert c.read_reply() == {"id": 2, "ok": True, "token": 1}
    c.close()
    probes.assert_released()
    daemon.assert_healthy()


# --------------------------------------------------------------------------
# fds on every kind of request


def test_fds_on_every_kind_of_request(daemon: Daemon, probes: PipeProbes) -> None:
    """Every op that takes no fd refuses one (bad_request, before its own
    errors) and is not carried out; the fds are closed."""
    c = daemon.raw()
    keep = probes.make(1)
    c.ok(_reg("setup", token=6), keep)
    probes.drop_ours(keep)
    c.ok({"op": "waker", "id": "setup2", "token": 5})
    requests = [
        {"op": "hello", "id": "hello"},
        {"op": "hello", "id": "hello2", "session": "s", "persist": True},
        {"op": "reregister", "id": "rereg", "token": 6, "interest": "writable"},
        {"op": "deregister", "id": "dereg", "token": 6},
        {"op": "waker", "id": "waker", "token": 7},
        {"op": "wake", "id": "wake", "token": 5},
        {"op": "poll", "id": "poll", "timeout_ms": 0},
        {"op": "fetch", "id": "fetch", "token": 6},
        {"op": "fetch", "id": "fetchd", "token": 6, "deregister": True},
        {"op": "list", "id": "list"},
        {"op": "stats", "id": "stats"},
        {"op": "end", "id": "end"},
        {"op": "ping", "id": "ping"},
    ]
    for n, req in enumerate(requests):
        c.send_json(req, probes.make(1 + n % 3))
    probes.drop_ours()
    for req in requests:
        r = c.expect_error("bad_request", id=req["id"])
        assert "file descriptor" in r["error"]["message"], r
    # errors that come before the fd count
    c.send_json({"op": "frobnicate", "id": "u"}, probes.make(2))
    c.send(b'{"op":"ping","id":"j"\n', probes.make(2))
    c.send_json({"id": "noop"}, probes.make(1))
    c.send_json({"op": "register", "id": "two", "token": 9, "interest": "readable"}, probes.make(2))
    c.send_json({"op": "register", "id": "zero", "token": 9, "interest": "readable"})
    probes.drop_ours()
    c.expect_error("unknown_op", id="u")
    c.expect_error("bad_json", id=None)
    c.expect_error("bad_request", id="noop")
    c.expect_error("bad_request", id="two")
    c.expect_error("no_fd", id="zero")
    # nothing was carried out: both registrations are there, unchanged
    regs = c.request({"op": "list", "id": "l"})["registrations"]
    assert sorted((x["token"], x["kind"], tuple(x["interest"]) if isinstance(x["interest"], list) else x["interest"]) for x in regs) == [
        (5, "waker", ("readable",)),
        (6, "pipe", ("readable",)),
    ], regs
    assert not [e for e in c.events if e.get("token") == 5], "the wake that carried an fd was carried out"
    # the read ends of every sent pipe but the registered one see EOF
    probes.read_ends, held = probes.read_ends[1:], probes.read_ends[:1]
    probes.assert_released()
    probes.read_ends = held + probes.read_ends
    c.close()
    probes.assert_released()
    daemon.assert_healthy()


# --------------------------------------------------------------------------
# the daemon's own fd limit (prlimit)


def _fill_registrations(c: RawConnection, probes: PipeProbes, cap: int, first_token: int = 0) -> None:
    for i in range(cap):
        fd = probes.make(1)
        c.ok(_reg(f"r{i}", token=first_token + i), fd)
        probes.drop_ours(fd)


def _expect_overflow_or_close(c: RawConnection, timeout: float = 5.0) -> None:
    lines = c.wait_eof(timeout)
    objs = [json.loads(x) for x in lines]
    assert objs, "the daemon closed the connection without fd_overflow"
    last = objs[-1]
    assert last.get("ok") is False and last["error"]["code"] == "fd_overflow" and "id" not in last, objs


def test_at_an_fd_limit_of_64(daemon_factory, probes: PipeProbes) -> None:
    d = daemon_factory([], nofile=64)
    c = d.raw()
    cap = c.ok({"op": "hello", "id": "h"})["limits"]["max_registrations_per_uid"]
    # The open-file budget leaves a few registrations (docs/protocol.md, "Limits").
    assert 4 <= cap < 64, cap
    _fill_registrations(c, probes, cap, 0)
    held = list(probes.read_ends[:cap])
    probes.read_ends = probes.read_ends[cap:]
    # registrations past the cap: limit_exceeded, fd closed
    for i in range(5):
        fd = probes.make(1)
        c.send_json(_reg(i, token=100 + i), fd)
        probes.drop_ours(fd)
        c.expect_error("limit_exceeded", id=i)
    c.send_json({"op": "waker", "id": "w", "token": 1000})
    c.expect_error("limit_exceeded", id="w")
    probes.assert_released()
    # 253 fds in one message: more than the daemon can receive
    victim = d.raw()
    victim.send(line({"op": "ping", "id": 1}), probes.make(SCM_MAX_FD))
    probes.drop_ours()
    _expect_overflow_or_close(victim)
    probes.assert_released(what="after fd_overflow")
    c.ping("c-still-served")
    c.close()
    victim.close()
    probes.read_ends = held + probes.read_ends
    probes.assert_released(what="after the registering connection closed")
    d.connections.clear()
    d.assert_healthy()


def test_accept_at_the_fd_limit(daemon_factory) -> None:
    """More connections than the daemon has fds: no spin on the listening
    socket, connections already accepted are served, and the ones waiting
    in the backlog are served once fds are free again."""
    d = daemon_factory([], nofile=64)
    conns = [d.raw(timeout=3) for _ in range(90)]
    for i, c in enumerate(conns):
        c.send(line({"op": "ping", "id": i}))
    time.sleep(0.5)
    cpu = d.cpu_over(1.0)
    assert cpu < 0.2, f"daemon used {cpu:.2f} s of CPU in 1 s while out of fds (accept spin?)"
    assert d.alive()
    served = []
    waiting = []
    for i, c in enumerate(conns):
        if c._fill(time.monotonic() + 0.05) and c.lines:
            assert json.loads(c.read_line()) == {"id": i, "ok": True}
            served.append(c)
        else:
            waiting.append(c)
    assert served, "no connection was served"
    assert waiting, "all 90 connections got fds under a limit of 64?"
    served[0].ping("again")
    # free the fds: the waiting ones are accepted and answered
    for c in served:
        c.close()
    for c in waiting:
        r = c.read_json(timeout=5.0)
        assert r.get("ok") is True, r
        c.close()
    d.connections.clear()
    d.assert_healthy()


def test_fds_in_flight_at_an_fd_limit_of_128(daemon_factory, probes: PipeProbes) -> None:
    d = daemon_factory([], nofile=128)
    a = d.raw()
    cap = a.ok({"op": "hello", "id": "h"})["limits"]["max_registrations_per_uid"]
    assert 4 <= cap < 128 - 64, cap  # the open-file budget's share (docs/protocol.md, "Limits")
    b = d.raw()
    _fill_registrations(a, probes, cap // 2, 0)
    _fill_registrations(b, probes, cap - cap // 2, 1000)
    fd = probes.make(1)
    b.send_json(_reg("over", token=5000), fd)
    probes.drop_ours(fd)
    b.expect_error("limit_exceeded", id="over")
    registered = list(probes.read_ends[:cap])
    # unfinished lines with fds on several connections, past what is left
    probes.read_ends = probes.read_ends[cap:]
    pushers = [d.raw() for _ in range(6)]
    for p in pushers:
        p.send(b'{"op":"ping","id":"push","x":"', probes.make(20))
        probes.drop_ours()
    time.sleep(0.5)
    assert d.alive()
    # 120 fds on unfinished lines are past the daemon's budget of fds in
    # flight: the ones past it are closed as they come (or, where the kernel
    # could not even hand them over, fd_overflow); the daemon keeps fds free.
    assert d.fd_count() < 128 - 8, d.fd_count()
    refused = 0
    for p in pushers:
        if p.eof:
            continue
        p.send(b'"}\n')
        reply = p.read_reply()
        assert reply.get("ok") is False and reply["error"]["code"] in ("limit_exceeded", "fd_overflow", "bad_request"), reply
        refused += reply["error"]["code"] != "bad_request"
    assert refused >= 1, "120 fds in flight past a budget of a few, yet none refused"
    # 253 at once on a fresh connection
    big = d.raw()
    big.send(line({"op": "ping", "id": 1}), probes.make(SCM_MAX_FD))
    probes.drop_ours()
    _expect_overflow_or_close(big)
    a.ping("a")
    b.ping("b")
    for p in pushers:
        p.close()
    big.close()
    probes.assert_released(what="after the pushers closed")
    others = probes.read_ends
    probes.read_ends = registered
    probes.assert_held("(the registrations)")
    a.close()
    b.close()
    probes.assert_released(what="after the registering connections closed")
    probes.read_ends = registered + others
    d.connections.clear()
    d.assert_healthy()
