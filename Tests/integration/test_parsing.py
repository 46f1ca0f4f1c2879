"""Strict parsing (docs/protocol.md, "Strict parsing" and "Which error wins"): integers, UTF-8, trailing text, nesting depth; the
order in which errors are reported."""

import pytest

from raw_connection import line
from replies import assert_error, assert_ok

MAX_U64 = 18446744073709551615


@pytest.mark.parametrize(
    "token_text",
    ['"42"', "4.0", "1e2", "1E2", "42.5", "-1", "-0.0", "18446744073709551616", "99999999999999999999999", "true", "null", "[1]", "{}"],
)
def test_bad_token_is_bad_request(daemon, token_text):
    raw = daemon.raw()
    raw.send(b'{"op":"deregister","id":1,"token":' + token_text.encode() + b"}\n")
    assert_error(raw.read_json(), "bad_request", 1)


def test_missing_token_is_bad_request(daemon):
    raw = daemon.raw()
    raw.send(b'{"op":"deregister","id":1}\n')
    assert_error(raw.read_json(), "bad_request", 1)


@pytest.mark.parametrize("token", [0, 1, 2**53 + 1, 2**63, MAX_U64])
def test_token_range_accepted_and_echoed_exactly(daemon, fds, token):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(b'{"op":"register","id":1,"token":%d,"interest":["readable"]}\n' % token, [r])
    assert raw.read_json() == {"id": 1, "ok": True, "token": token}  # Python's json keeps big ints exact
    assert [r["token"] for r in raw.request({"op": "list", "id": "l"})["registrations"]] == [token]
    raw.send(b'{"op":"deregister","id":2,"token":%d}\n' % token)
    reply = raw.read_reply()
    assert_ok(reply, 2)
    assert reply["token"] == token
    daemon.close_all_and_check_fds()


@pytest.mark.parametrize(
    "payload",
    [
        b'{"op":"ping","id":"\xff"}',
        b'{"op":"ping","id":"\xc3"}',  # truncated sequence
        b'{"op":"ping","id":"\xc0\xaf"}',  # overlong encoding of "/"
        b'{"op":"ping","id":"\xed\xa0\x80"}',  # UTF-8-encoded surrogate
        b'{"op":"ping","id":"\xf4\x90\x80\x80"}',  # beyond U+10FFFF
        b'{"op":"p\xffing"}',
    ],
)
def test_invalid_utf8_is_bad_json(daemon, payload):
    raw = daemon.raw()
    raw.send(payload + b"\n" + line({"op": "ping", "id": 2}))
    assert_error(raw.read_json(), "bad_json")
    assert_ok(raw.read_json(), 2)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"op":"ping"} x',
        b'{"op":"ping"}{"op":"ping"}',
        b'{"op":"ping"},',
        b'{"op":"ping"}]',
        b'{"op":"ping"} 1',
        b'{"op":"ping"',
        b'{"op":ping}',
        b"{'op':'ping'}",
        b'{"op":"ping",}',
        b"not json at all",
        b'{"op":"ping","id":01}',
        b'{"op":"ping","id":NaN}',
        b'{"op":"ping" /* comment */}',
    ],
)
def test_malformed_or_trailing_text_is_bad_json(daemon, payload):
    raw = daemon.raw()
    raw.send(payload + b"\n" + line({"op": "ping", "id": 2}))
    assert_error(raw.read_json(), "bad_json")
    assert_ok(raw.read_json(), 2)
    raw.expect_silence()


def nested(depth, kind):
    """A request whose deepest container is at ``depth`` (top object = 1)."""
    inner = b"1"
    for _ in range(depth - 1):
        inner = (b"[" + inner + b"]") if kind == "array" else (b'{"a":' + inner + b"}")
    return b'{"op":"ping","id":7,"x":' + inner + b"}" if depth > 1 else b'{"op":"ping","id":7}'


@pytest.mark.parametrize("kind", ["array", "object"])
def test_nesting_depth_8_accepted(daemon, kind):
    raw = daemon.raw()
    raw.send(nested(8, kind) + b"\n")
    assert_ok(raw.read_json(), 7)


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("depth", [9, 10, 64])
def test_nesting_deeper_than_8_is_bad_json(daemon, kind, depth):
    raw = daemon.raw()
    raw.send(nested(depth, kind) + b"\n" + line({"op": "ping", "id": 8}))
    assert_error(raw.read_json(), "bad_json")
    assert_ok(raw.read_json(), 8)


@pytest.mark.parametrize("depth,ok", [(8, True), (9, False)])
def test_nesting_depth_counts_empty_innermost_container(daemon, depth, ok):
    inner = b"[]"
    for _ in range(depth - 2):
        inner = b"[" + inner + b"]"
    raw = daemon.raw()
    raw.send(b'{"op":"ping","id":7,"x":' + inner + b"}\n")
    if ok:
        assert_ok(raw.read_json(), 7)
    else:
        assert_error(raw.read_json(), "bad_json")


def test_very_deep_nesting_does_not_crash(daemon):
    raw = daemon.raw()
    raw.send(b"[" * 30000 + b"\n" + line({"op": "ping", "id": 1}))
    assert_error(raw.read_json(), "bad_json")
    assert_ok(raw.read_json(), 1)


@pytest.mark.parametrize("payload", [b"[1,2]", b'"ping"', b"42", b"null", b"true"])
def test_non_object_top_level_is_rejected(daemon, payload):
    # Valid JSON but not an object: no op, so bad_request (or bad_json).
    raw = daemon.raw()
    raw.send(payload + b"\n" + line({"op": "ping", "id": 2}))
    reply = raw.read_json()
    assert reply.get("ok") is False and reply["error"]["code"] in ("bad_request", "bad_json"), reply
    assert_ok(raw.read_json(), 2)


@pytest.mark.parametrize("payload", [b'{"id":3}', b'{"op":5,"id":3}', b'{"op":null,"id":3}', b'{"op":["ping"],"id":3}'])
def test_missing_or_non_string_op_is_bad_request(daemon, payload):
    raw = daemon.raw()
    raw.send(payload + b"\n")
    assert_error(raw.read_json(), "bad_request", 3)


@pytest.mark.parametrize("op", ["", "PING", "Ping", "pingx", "register ", "shutdown"])
def test_unknown_op(daemon, op):
    raw = daemon.raw()
    raw.send(line({"op": op, "id": 3}))
    assert_error(raw.read_json(), "unknown_op", 3)


@pytest.mark.parametrize(
    "fields",
    [
        {"interest": []},
        {"interest": ["bogus"]},
        {"interest": ["readable", 1]},
        {"interest": 5},
        {"interest": "nope"},
        {"interest": ["readable"], "mode": "level"},
        {"interest": ["readable"], "mode": 1},
    ],
)
def test_bad_register_fields_are_bad_request_and_fd_closed(daemon, fds, fields):
    r, _ = fds.pipe()
    raw = daemon.raw()
    req = {"op": "register", "id": 1, "token": 1}
    req.update(fields)
    raw.send(line(req), [r])
    assert_error(raw.read_json(), "bad_request", 1)
    daemon.assert_fds_released(open_connections=1)


def test_interest_as_single_string_accepted(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 1, "token": 1, "interest": "readable"}), [r])
    assert_ok(raw.read_json(), 1)
    daemon.close_all_and_check_fds()


def test_interest_missing_defaults_or_is_rejected_but_never_leaks(daemon, fds):
    # The table lists interest as a register field without a default; a daemon
    # may default it to readable (as mio has no default) or refuse: either way
    # the fd is accounted for.
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 1, "token": 1}), [r])
    reply = raw.read_json()
    assert reply.get("ok") is True or reply["error"]["code"] == "bad_request", reply
    daemon.close_all_and_check_fds()


# -- error order: bad_json, unknown_op, bad_request (fields, then fd count), op errors

def test_order_bad_json_before_everything(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(b'{"op":"nonsense","token":"x"\n', [r])
    assert_error(raw.read_json(), "bad_json")
    daemon.assert_fds_released(open_connections=1)


def test_order_unknown_op_before_bad_request(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(b'{"op":"nonsense","id":1,"token":"x"}\n', [r, w])
    assert_error(raw.read_json(), "unknown_op", 1)
    daemon.assert_fds_released(open_connections=1)


def test_order_field_error_before_fd_count(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(b'{"op":"register","id":1,"token":"x","interest":["readable"]}\n')
    assert_error(raw.read_json(), "bad_request", 1)
    raw.send(b'{"op":"register","id":2,"token":"x","interest":["readable"]}\n', [r, w])
    assert_error(raw.read_json(), "bad_request", 2)
    daemon.assert_fds_released(open_connections=1)


def test_order_fd_count_before_op_errors(daemon, fds):
    r1, _ = fds.pipe()
    r2, w2 = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 1, "token": 1, "interest": ["readable"]}), [r1])
    assert_ok(raw.read_json(), 1)
    # token 1 is in use, but the fd count is checked first
    raw.send(line({"op": "register", "id": 2, "token": 1, "interest": ["readable"]}))
    assert_error(raw.read_json(), "no_fd", 2)
    raw.send(line({"op": "register", "id": 3, "token": 1, "interest": ["readable"]}), [r2, w2])
    assert_error(raw.read_json(), "bad_request", 3)
    daemon.assert_fds_released(open_connections=1, held=1)
    daemon.close_all_and_check_fds()


def test_order_fds_on_request_taking_none_is_bad_request_before_op_error(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "deregister", "id": 1, "token": 99}), [r])
    assert_error(raw.read_json(), "bad_request", 1)
    daemon.assert_fds_released(open_connections=1)
