"""Framing (docs/protocol.md, "Connecting and framing"): one JSON object per
line, CRLF, blank lines, max_line, pipelining, end of input; id echo
("Requests")."""

import json
import time

import pytest

from raw_connection import line
from replies import assert_error, assert_ok
from timing import QUIET_S, TIME_SCALE


def test_ping_reply_is_one_json_line(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"ping","id":1}\n')
    reply = raw.read_line()
    obj = json.loads(reply.decode("utf-8"))
    assert obj == {"id": 1, "ok": True}
    raw.expect_silence()


def test_crlf_accepted(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"ping","id":1}\r\n{"op":"ping","id":2}\n')
    assert_ok(raw.read_json(), 1)
    assert_ok(raw.read_json(), 2)


def test_blank_lines_ignored(daemon):
    raw = daemon.raw()
    raw.send(b'\n\r\n\n{"op":"ping","id":1}\n\n\r\n{"op":"ping","id":2}\n')
    assert_ok(raw.read_json(), 1)
    assert_ok(raw.read_json(), 2)
    raw.expect_silence()


def test_pipelined_requests_answered_in_order(daemon):
    raw = daemon.raw()
    raw.send(b"".join(line({"op": "ping", "id": i}) for i in range(50)))
    for i in range(50):
        assert_ok(raw.read_json(), i)


def test_request_split_byte_by_byte(daemon):
    raw = daemon.raw()
    for b in b'{"op":"ping","id":"split"}\n':
        raw.send(bytes([b]))
    assert_ok(raw.read_json(), "split")


def test_request_split_across_writes_with_pause(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"pi')
    raw.expect_silence(0.1)
    raw.send(b'ng","id":3}\n{"op":')
    assert_ok(raw.read_json(), 3)
    raw.send(b'"ping","id":4}\n')
    assert_ok(raw.read_json(), 4)


@pytest.mark.parametrize(
    "id_value",
    [0, 7, -5, 9007199254740993, 18446744073709551615, "abc", "", "é ü 中", "quote\"back\\slash", "line\nbreak"],
)
def test_id_echoed_as_decoded(daemon, id_value):
    raw = daemon.raw()
    raw.send(line({"op": "ping", "id": id_value}))
    reply = raw.read_json()
    assert_ok(reply)
    assert "id" in reply and reply["id"] == id_value and type(reply["id"]) is type(id_value)


def test_unicode_escape_in_id_echoed(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"ping","id":"\\u00e9\\ud83d\\ude00"}\n')
    assert raw.read_json() == {"id": "é\U0001F600", "ok": True}


def test_unpaired_surrogate_id_comes_back_as_valid_utf8(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"ping","id":"a\\ud800b"}\n')
    text = raw.read_line()
    text.decode("utf-8")  # the reply is valid UTF-8 (no raw surrogate bytes)
    reply = json.loads(text)
    assert reply["ok"] is True
    assert reply["id"] in ("a\ufffdb", "a\ud800b"), reply


def test_absent_id_stays_absent(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"ping"}\n')
    assert raw.read_json() == {"ok": True}


def test_id_absent_in_error_reply_too(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"deregister","token":5}\n')
    reply = raw.read_json()
    assert_error(reply, "unknown_token", has_id=False)


def test_id_echoed_in_error_reply(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"deregister","token":5,"id":"e1"}\n')
    assert_error(raw.read_json(), "unknown_token", "e1")


def test_unknown_fields_ignored(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"ping","id":1,"extra":{"a":[1,2,{"b":null}]},"x":true}\n')
    assert_ok(raw.read_json(), 1)


def test_duplicate_keys_last_wins(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"nonsense","op":"ping","id":1,"id":2}\n')
    assert raw.read_json() == {"id": 2, "ok": True}
    raw.send(b'{"op":"ping","op":"nonsense","id":3}\n')
    assert_error(raw.read_json(), "unknown_op", 3)


def test_whitespace_inside_object_accepted(daemon):
    raw = daemon.raw()
    raw.send(b'  { "op" : "ping" , "id" : 1 }\n')
    assert_ok(raw.read_json(), 1)


# -- max_line -----------------------------------------------------------------

def padded_ping(request_id, length):
    """A ping line of exactly ``length`` bytes (without the newline)."""
    base = len(json.dumps({"op": "ping", "id": request_id, "pad": ""}, separators=(",", ":")))
    text = json.dumps({"op": "ping", "id": request_id, "pad": "x" * (length - base)}, separators=(",", ":"))
    assert len(text) == length
    return text.encode()


@pytest.mark.daemon_args("--max-line", "200")
def test_line_of_exactly_max_line_accepted(daemon):
    raw = daemon.raw()
    raw.send(padded_ping(1, 200) + b"\n")
    assert_ok(raw.read_json(), 1)
    raw.send(padded_ping(2, 200) + b"\r\n")  # the \r\n is not counted
    assert_ok(raw.read_json(), 2)


@pytest.mark.daemon_args("--max-line", "200")
def test_line_one_byte_over_max_line(daemon):
    raw = daemon.raw()
    raw.send(padded_ping(1, 201) + b"\n")
    assert_error(raw.read_json(), "line_too_long", has_id=False)
    raw.send(line({"op": "ping", "id": 2}))
    assert_ok(raw.read_json(), 2)
    raw.expect_silence()


@pytest.mark.daemon_args("--max-line", "200")
def test_crlf_split_at_the_max_line_boundary(daemon):
    """200 bytes and a \\r, then (later) the \\n: the \\r belongs to the line
    end, so the line is not too long."""
    raw = daemon.raw()
    raw.send(padded_ping(1, 200) + b"\r")
    raw.expect_silence(0.1)
    raw.send(b"\n")
    assert_ok(raw.read_json(), 1)
    raw.send(padded_ping(2, 200))
    raw.expect_silence(0.1)
    raw.send(b"\r\n")
    assert_ok(raw.read_json(), 2)
    raw.send(padded_ping(3, 201))
    raw.expect_silence(0.05)
    raw.send(b"\n")
    assert_error(raw.read_json(), "line_too_long", has_id=False)
    raw.send(line({"op": "ping", "id": 4}))
    assert_ok(raw.read_json(), 4)


@pytest.mark.daemon_args("--max-line", "200")
def test_huge_line_in_many_chunks_gives_one_error(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"ping","id":1,"pad":"')
    for _ in range(40):
        raw.send(b"y" * 1000)
    raw.send(b'"}\n{"op":"ping","id":2}\n')
    assert_error(raw.read_json(), "line_too_long", has_id=False)
    assert_ok(raw.read_json(), 2)
    raw.expect_silence()


def test_default_max_line_is_65536(daemon):
    raw = daemon.raw()
    raw.send(padded_ping(1, 65536) + b"\n")
    assert_ok(raw.read_json(), 1)
    raw.send(padded_ping(2, 65537) + b"\n")
    assert_error(raw.read_json(), "line_too_long", has_id=False)
    raw.send(line({"op": "ping", "id": 3}))
    assert_ok(raw.read_json(), 3)


# -- end of input ---------------------------------------------------------------

def test_end_of_input_answers_every_complete_request(daemon):
    raw = daemon.raw()
    raw.send(line({"op": "ping", "id": 1}) + line({"op": "ping", "id": 2}) + b'{"op":"ping","id":3}')
    raw.shutdown_write()
    assert_ok(raw.read_json(), 1)
    assert_ok(raw.read_json(), 2)
    # The unterminated last line is discarded; the connection stays open.
    raw.expect_silence(QUIET_S)
    assert daemon.client().stats()["connections"] >= 2


def test_daemon_keeps_connection_after_end_of_input(daemon):
    raw = daemon.raw()
    raw.shutdown_write()
    raw.expect_silence(0.5)
    assert not raw.eof


def test_replies_are_compact_single_lines(daemon):
    raw = daemon.raw()
    raw.send(line({"op": "stats", "id": 1}) + line({"op": "hello", "id": 2}))
    for _ in range(2):
        text = raw.read_line()
        assert b"\n" not in text and b"\r" not in text
        json.loads(text)


def test_many_connections_in_parallel(daemon):
    conns = [daemon.raw() for _ in range(20)]
    for i, c in enumerate(conns):
        c.send(line({"op": "ping", "id": i}))
    for i, c in enumerate(conns):
        assert_ok(c.read_json(), i)


def test_client_that_disconnects_mid_line_does_not_harm_others(daemon):
    a = daemon.raw()
    a.send(b'{"op":"ping"')
    a.close()
    b = daemon.raw()
    b.send(line({"op": "ping", "id": 1}))
    assert_ok(b.read_json(), 1)


def test_reply_arrives_quickly(daemon):
    raw = daemon.raw()
    start = time.monotonic()
    for i in range(100):
        raw.send(line({"op": "ping", "id": i}))
        assert_ok(raw.read_json(), i)
    assert time.monotonic() - start < 5 * TIME_SCALE
