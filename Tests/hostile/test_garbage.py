"""Garbage on the wire: random bytes, NULs, invalid UTF-8, huge lines,
absurd nesting, several values on a line, out-of-range and mistyped
numbers. Each gets its error (docs/protocol.md, "Connecting and framing" and "Strict parsing") and the
connection goes on."""

from __future__ import annotations

import random
import threading
import time

import pytest

from daemon import Daemon
from mio_testkit import PipeProbes
from raw_connection import line

ERRORS_FOR_GARBAGE = {"bad_json", "bad_request", "unknown_op", "line_too_long"}


def test_random_garbage_bytes(daemon: Daemon) -> None:
    rng = random.Random(1234)
    c = daemon.raw()
    total_lines = 0
    for round_ in range(4):
        chunk = bytearray(rng.getrandbits(8) for _ in range(64 * 1024))
        # some lines end in \r\n, some are very short, some very long
        for i in range(0, len(chunk), rng.randint(20, 400)):
            chunk[i] = 0x0A
        data = bytes(chunk) + b"\n"
        c.send(data)
        c.send(line({"op": "ping", "id": f"after-{round_}"}))
        while True:
            r = c.read_reply(timeout=10)
            if r.get("id") == f"after-{round_}":
                assert r == {"id": f"after-{round_}", "ok": True}
                break
            total_lines += 1
            assert r.get("ok") is False and r["error"]["code"] in ERRORS_FOR_GARBAGE, r
    assert total_lines > 100
    assert not c.events
    daemon.ping_fresh()
    c.close()
    daemon.assert_healthy()


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\n",
        b"\x00\x00\x00\x00\x00\x00\x00\x00\n",
        b'{"op":"ping"\x00}\n',
        b'{"op":"ping","id":"a\x00b"}\n',
        b'{"op":"pi\x00ng"}\n',
        b'\x00{"op":"ping"}\n',
        b'{"op":"ping"}\x00\n',
        b'{"op":"ping",\x00"id":1}\n',
    ],
    ids=["nul", "nuls", "nul-in-object", "nul-in-id", "nul-in-op", "leading-nul", "trailing-nul", "nul-between-members"],
)
def test_nul_bytes(daemon: Daemon, data: bytes) -> None:
    c = daemon.raw()
    c.send(data)
    c.expect_error("bad_json", id=None)
    c.ping("after")
    c.close()
    daemon.assert_healthy()


@pytest.mark.parametrize(
    "data",
    [
        b'{"op":"ping","id":"\xff"}\n',
        b'{"op":"ping","id":"\xc0\xaf"}\n',  # overlong '/'
        b'{"op":"ping","id":"\xe0\x80\xaf"}\n',  # overlong, 3 bytes
        b'{"op":"ping","id":"\xed\xa0\x80"}\n',  # a UTF-16 surrogate
        b'{"op":"ping","id":"\xe2\x82"}\n',  # truncated sequence
        b'{"op":"ping","id":"\xf4\x90\x80\x80"}\n',  # past U+10FFFF
        b'{"op":"ping","id":"\x80\x80\x80"}\n',  # lone continuation bytes
        b'{"op":"ping","\xfe":1}\n',  # in a key
        b'{"op":"ping"}\xff\n',  # after the object
        b"\xef\xbb\xbf" + b'\xff{"op":"ping"}\n',
    ],
    ids=["ff", "overlong2", "overlong3", "surrogate", "truncated", "above-max", "continuation", "in-key", "after-object", "bom-then-ff"],
)
def test_invalid_utf8(daemon: Daemon, data: bytes) -> None:
    c = daemon.raw()
    c.send(data)
    c.expect_error("bad_json", id=None)
    c.ping("after")
    c.close()
    daemon.assert_healthy()


@pytest.mark.parametrize("with_fd", [False, True], ids=["no-fd", "with-fd"])
def test_ten_megabyte_line(daemon: Daemon, probes: PipeProbes, with_fd: bool) -> None:
    """A 10 MB line → line_too_long (no id), its fds closed, the connection
    continues; the daemon never buffers the line (RSS stays within 8 MiB)."""
    c = daemon.raw(timeout=30)
    head = b'{"op":"ping","id":1,"x":"'
    c.send(head, probes.make(1) if with_fd else ())
    probes.drop_ours()
    block = b"a" * (1 << 20)
    peak = [daemon.rss_kib()]
    for _ in range(10):
        c.send(block)
        peak.append(daemon.rss_kib())
    c.send(b'"}\n' + line({"op": "ping", "id": 2}))
    c.expect_error("line_too_long", id=None, timeout=30)
    assert c.read_reply() == {"id": 2, "ok": True}
    probes.assert_released(what="after line_too_long")
    assert max(peak) < daemon.rss_baseline_kib + 8 * 1024, f"RSS peaked at {max(peak)} KiB (baseline {daemon.rss_baseline_kib} KiB)"
    c.close()
    daemon.assert_healthy(rss_slack_mib=8)


def test_ten_megabyte_line_never_ended(daemon: Daemon, probes: PipeProbes) -> None:
    """10 MB without a newline, then the client goes: fds closed, nothing
    kept."""
    c = daemon.raw(timeout=30)
    c.send(b'{"op":"register","id":1,"token":1,"x":"', probes.make(1))
    probes.drop_ours()
    block = b"b" * (1 << 20)
    for _ in range(10):
        c.send(block)
    daemon.ping_fresh()
    c.close()
    probes.assert_released()
    daemon.assert_healthy(rss_slack_mib=8)


@pytest.mark.parametrize(
    "data",
    [
        b'{"op":"ping","x":' + b"[" * 10000 + b"]" * 10000 + b"}\n",
        b'{"op":"ping","x":' + b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"}\n",
        b'{"op":"ping","x":' + b"[" * 30000 + b"\n",  # never closed
        b"[" * 60000 + b"\n",
        b'{"op":"ping","x":' + b'[{"a":' * 5000 + b"1" + b"}]" * 5000 + b"}\n",
        b'{"op":"ping","id":1,"x":[[[[[[[[1]]]]]]]]}\n',  # depth 9
    ],
    ids=["arrays-10000", "objects-10000", "unclosed-30000", "bare-arrays-60000", "mixed-10000", "depth-9"],
)
def test_deep_nesting(daemon: Daemon, data: bytes) -> None:
    c = daemon.raw()
    c.send(data)
    c.expect_error("bad_json", id=None)
    c.ping("after")
    c.close()
    daemon.assert_healthy()


@pytest.mark.daemon_args("--max-line", 4 * 1024 * 1024)
def test_deep_nesting_a_million_levels(daemon: Daemon) -> None:
    """With a large --max-line a parser that recursed would overflow its
    stack: 1.5 million levels still get bad_json."""
    c = daemon.raw(timeout=30)
    c.send(b'{"op":"ping","x":' + b"[" * 1_500_000 + b"]" * 1_500_000 + b"}\n")
    c.expect_error("bad_json", id=None, timeout=30)
    c.send(b'{"op":"ping","x":' + b'{"k":' * 600_000 + b"0" + b"}" * 600_000 + b"}\n")
    c.expect_error("bad_json", id=None, timeout=30)
    c.ping("after")
    c.close()
    daemon.assert_healthy()


def test_depth_8_is_fine(daemon: Daemon) -> None:
    c = daemon.raw()
    c.send(b'{"op":"ping","id":1,"x":[[[[[[[1]]]]]]]}\n')
    assert c.read_reply() == {"id": 1, "ok": True}
    c.close()
    daemon.assert_healthy()


@pytest.mark.parametrize(
    "data",
    [
        b'{"op":"ping","id":1}{"op":"ping","id":2}\n',
        b'{"op":"ping","id":1} {"op":"ping","id":2}\n',
        b'{"op":"ping","id":1}\t{"op":"ping","id":2}\r\n',
        b'{"op":"ping","id":1} 1\n',
        b'{"op":"ping","id":1} "x"\n',
        b'{"op":"ping","id":1}[]\n',
        b'{"op":"ping","id":1}}\n',
        b'{"op":"ping","id":1} null\n',
        b"1 2\n",
        b'"a" "b"\n',
        b"{} {} {} {} {} {} {} {} {} {}\n",
    ],
    ids=["two-objects", "two-objects-space", "two-objects-tab-crlf", "object-number", "object-string", "object-array",
         "extra-brace", "object-null", "two-numbers", "two-strings", "ten-objects"],
)
def test_several_values_on_one_line(daemon: Daemon, data: bytes) -> None:
    """One bad_json (no id) for the whole line; nothing is executed."""
    c = daemon.raw()
    c.send(data + line({"op": "ping", "id": "after"}))
    c.expect_error("bad_json", id=None)
    assert c.read_reply() == {"id": "after", "ok": True}, "more than one reply for one line"
    c.close()
    daemon.assert_healthy()


BIG = [
    "18446744073709551616",  # 2^64
    "18446744073709551617",
    "36893488147419103232",  # 2^65
    "340282366920938463463374607431768211456",  # 2^128
    "9" * 400,
    "1" + "0" * 20000,
]


@pytest.mark.parametrize("number", BIG, ids=["2^64", "2^64+1", "2^65", "2^128", "400-nines", "20001-digits"])
def test_numbers_past_2_64(daemon: Daemon, probes: PipeProbes, number: str) -> None:
    c = daemon.raw()
    n = number.encode()
    cases = [
        (b'{"op":"deregister","id":1,"token":' + n + b"}\n", 1, ()),
        (b'{"op":"reregister","id":2,"token":' + n + b',"interest":"readable"}\n', 2, ()),
        (b'{"op":"waker","id":3,"token":' + n + b"}\n", 3, ()),
        (b'{"op":"wake","id":4,"token":' + n + b"}\n", 4, ()),
        (b'{"op":"fetch","id":5,"token":' + n + b"}\n", 5, ()),
        (b'{"op":"register","id":6,"token":' + n + b',"interest":"readable"}\n', 6, probes.make(1)),
        (b'{"op":"hello","id":7,"protocol":' + n + b"}\n", 7, ()),
        (b'{"op":"poll","id":8,"timeout_ms":' + n + b"}\n", 8, ()),
        (b'{"op":"poll","id":9,"max_events":' + n + b"}\n", 9, ()),
        (b'{"op":"deregister","id":10,"token":-' + n + b"}\n", 10, ()),
    ]
    for data, id_, fds in cases:
        c.send(data, fds)
    probes.drop_ours()
    for data, id_, fds in cases:
        c.expect_error("bad_request", id=id_)
    # an id past 2^64 is itself bad: bad_request, and no id can be echoed
    c.send(b'{"op":"ping","id":' + n + b"}\n")
    r = c.expect_error("bad_request")
    assert r.get("id") in (None,), r
    probes.assert_released()
    # the largest token is fine, and echoed exactly
    assert c.request({"op": "waker", "id": "max", "token": 18446744073709551615}) == {"id": "max", "ok": True, "token": 18446744073709551615}
    c.close()
    daemon.assert_healthy()


TOKENS = ['"42"', "42.0", "4.5", "1e2", "1E+2", "-0.0", "true", "[42]", '{"t":42}', '"18446744073709551615"', "-1"]


@pytest.mark.parametrize("token", TOKENS)
def test_token_of_the_wrong_type(daemon: Daemon, probes: PipeProbes, token: str) -> None:
    c = daemon.raw()
    t = token.encode()
    # the token 42 exists, so a lenient parser would find it
    c.ok({"op": "waker", "id": 0, "token": 42})
    ops = [
        (b'{"op":"deregister","id":1,"token":' + t + b"}\n", ()),
        (b'{"op":"reregister","id":2,"token":' + t + b',"interest":"readable"}\n', ()),
        (b'{"op":"waker","id":3,"token":' + t + b"}\n", ()),
        (b'{"op":"wake","id":4,"token":' + t + b"}\n", ()),
        (b'{"op":"fetch","id":5,"token":' + t + b"}\n", ()),
        (b'{"op":"register","id":6,"token":' + t + b',"interest":"readable"}\n', probes.make(1)),
    ]
    for data, fds in ops:
        c.send(data, fds)
    probes.drop_ours()
    for i in range(1, len(ops) + 1):
        c.expect_error("bad_request", id=i)
    probes.assert_released()
    r = c.request({"op": "list", "id": "l"})
    assert [(x["token"], x["kind"]) for x in r["registrations"]] == [(42, "waker")], r
    c.close()
    daemon.assert_healthy()


def test_garbage_from_many_connections_at_once(daemon: Daemon) -> None:
    """Eight connections spraying garbage concurrently; a ninth pings."""
    rng = random.Random(99)
    blobs = [bytes(rng.getrandbits(8) for _ in range(200_000)) + b"\n" for _ in range(8)]
    conns = [daemon.raw(timeout=20) for _ in range(8)]
    errors = []

    def spray(conn, blob) -> None:
        try:
            conn.send(blob + line({"op": "ping", "id": "end"}))
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=spray, args=(c, b)) for c, b in zip(conns, blobs)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        daemon.ping_fresh()
        # read what came so far so nobody blocks on a full socket
        for c in conns:
            c._fill(time.monotonic() + 0.01)
        time.sleep(0.02)
    for t in threads:
        t.join()
    assert not errors, errors
    for c in conns:
        while True:
            r = c.read_reply(timeout=20)
            if r.get("id") == "end":
                break
            assert r.get("ok") is False and r["error"]["code"] in ERRORS_FOR_GARBAGE, r
        c.close()
    daemon.assert_healthy()
