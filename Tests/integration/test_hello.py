"""hello (docs/protocol.md, "`hello`"): reply fields, limits, protocol version, session names, delivery,
and wrong_state after register/waker."""

import pytest

from mio_client import MioError
from raw_connection import line
from replies import assert_error, assert_ok


def test_hello_reply_fields(daemon):
    c = daemon.client()
    reply = c.hello()
    assert reply["ok"] is True
    assert isinstance(reply["server"], str) and reply["server"]
    assert isinstance(reply["version"], str) and reply["version"]
    assert reply["protocol"] == 1
    assert "session" in reply
    limits = reply["limits"]
    assert limits["max_line"] == 65536
    assert limits["max_connections_per_uid"] == 256
    assert limits["max_sessions_per_uid"] == 64
    assert isinstance(limits["max_registrations_per_uid"], int)
    assert 0 < limits["max_registrations_per_uid"] <= 16384


def test_hello_is_optional(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    assert c.register(r, 1)["token"] == 1
    daemon.close_all_and_check_fds()


@pytest.mark.daemon_args(
    "--max-line", "1000",
    "--max-connections-per-uid", "7",
    "--max-registrations-per-uid", "99",
    "--max-sessions-per-uid", "5",
)
def test_hello_limits_reflect_flags(daemon):
    limits = daemon.client().hello()["limits"]
    assert limits == {
        "max_line": 1000,
        "max_connections_per_uid": 7,
        "max_registrations_per_uid": 99,
        "max_sessions_per_uid": 5,
    }


def test_hello_named_session_echoed(daemon):
    c = daemon.client()
    assert c.hello("my.session-1_A")["session"] == "my.session-1_A"


def test_hello_without_protocol_field(daemon):
    raw = daemon.raw()
    reply = raw.request({"op": "hello", "id": 1})
    assert_ok(reply, 1)
    assert reply["protocol"] == 1


@pytest.mark.parametrize("version", [2, 0, 99])
def test_hello_unsupported_protocol(daemon, version):
    raw = daemon.raw()
    assert_error(raw.request({"op": "hello", "id": 1, "protocol": version}), "unsupported_protocol", 1)
    assert_ok(raw.request({"op": "ping", "id": 2}), 2)


@pytest.mark.parametrize("version", ["1", 1.0, None, True])
def test_hello_protocol_must_be_integer(daemon, version):
    raw = daemon.raw()
    reply = raw.request({"op": "hello", "id": 1, "protocol": version})
    if version is None:
        # null may read as "absent"; anything else must not be accepted as 1
        assert reply.get("ok") is True or reply["error"]["code"] == "bad_request", reply
    else:
        assert reply.get("ok") is False and reply["error"]["code"] in ("bad_request", "unsupported_protocol"), reply


@pytest.mark.parametrize(
    "name",
    ["", "a b", "x" * 65, "é", "a/b", "a\nb", "semi;colon", "tab\t", 5, ["a"], True],
)
def test_hello_bad_session_name(daemon, name):
    raw = daemon.raw()
    assert_error(raw.request({"op": "hello", "id": 1, "session": name}), "bad_request", 1)


@pytest.mark.parametrize("name", ["a", "x" * 64, "A.Z-0_9", "...", "-"])
def test_hello_good_session_names(daemon, name):
    raw = daemon.raw()
    reply = raw.request({"op": "hello", "id": 1, "session": name})
    assert_ok(reply, 1)
    assert reply["session"] == name


@pytest.mark.parametrize("delivery", ["bogus", "", "POLL", 1])
def test_hello_bad_delivery(daemon, delivery):
    raw = daemon.raw()
    assert_error(raw.request({"op": "hello", "id": 1, "delivery": delivery}), "bad_request", 1)


@pytest.mark.parametrize("delivery", ["stream", "poll"])
def test_hello_good_delivery(daemon, delivery):
    c = daemon.client()
    c.hello(delivery=delivery)


def test_hello_after_register_is_wrong_state(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    with pytest.raises(MioError) as info:
        c.hello("late")
    assert info.value.code == "wrong_state"
    assert [x["token"] for x in c.list()] == [1]
    daemon.close_all_and_check_fds()


def test_hello_after_waker_is_wrong_state(daemon):
    c = daemon.client()
    c.waker(1)
    with pytest.raises(MioError) as info:
        c.hello()
    assert info.value.code == "wrong_state"


def test_hello_after_failed_register_is_allowed(daemon):
    raw = daemon.raw()
    assert_error(raw.request({"op": "register", "id": 1, "token": 1, "interest": ["readable"]}), "no_fd", 1)
    assert_ok(raw.request({"op": "hello", "id": 2, "session": "s"}), 2)


def test_hello_after_end_is_allowed(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    c.end()
    assert c.hello("fresh")["session"] == "fresh"
    daemon.close_all_and_check_fds()


def test_hello_with_bad_field_types(daemon):
    raw = daemon.raw()
    for i, fields in enumerate([{"persist": "yes"}, {"takeover": 1}, {"persist": None, "takeover": "no"}]):
        reply = raw.request(dict({"op": "hello", "id": i, "session": "s"}, **fields))
        assert_error(reply, "bad_request", i)


def test_hello_client_field_is_free_text(daemon):
    raw = daemon.raw()
    raw.send(line({"op": "hello", "id": 1, "client": "my tool 1.0 ✓"}))
    assert_ok(raw.read_json(), 1)
