"""Unit tests of the Python client's pure parts (no daemon needed):
python3 -m pytest Tests/python_client/test_client_units.py"""

import os
import socket

import pytest

from mio_client import LineReader, encode, resolve_socket_path
from mio_client._framing import recv_chunk, send_line


def test_resolve_explicit_path_wins():
    assert resolve_socket_path("/x.sock", environ={"MIO_SOCKET": "/y"}, uid=0) == "/x.sock"


def test_resolve_env():
    assert resolve_socket_path(environ={"MIO_SOCKET": "/y.sock"}, uid=1000) == "/y.sock"


def test_resolve_root():
    assert resolve_socket_path(environ={"XDG_RUNTIME_DIR": "/run/user/0"}, uid=0) == "/run/mio-daemon/mio.sock"


def test_resolve_xdg():
    assert resolve_socket_path(environ={"XDG_RUNTIME_DIR": "/run/user/1000"}, uid=1000) == "/run/user/1000/mio-daemon/mio.sock"


def test_resolve_tmp_fallback():
    assert resolve_socket_path(environ={}, uid=1000) == "/tmp/mio-daemon-1000/mio.sock"
    assert resolve_socket_path(environ={"XDG_RUNTIME_DIR": "", "MIO_SOCKET": ""}, uid=7) == "/tmp/mio-daemon-7/mio.sock"


def test_encode_is_one_compact_line():
    assert encode({"op": "ping", "id": "é"}) == '{"op":"ping","id":"é"}\n'.encode()


def test_reader_splits_and_strips_cr():
    reader = LineReader()
    assert reader.feed(b'{"a":1}\r\n{"b"') == [(b'{"a":1}', [])]
    assert reader.feed(b":2}\n") == [(b'{"b":2}', [])]
    assert reader.pending_bytes == 0


def test_reader_fds_go_to_last_line_beginning_in_chunk():
    reader = LineReader()
    assert reader.feed(b"one\ntwo\nthree\n", [10]) == [(b"one", []), (b"two", []), (b"three", [10])]


def test_reader_fds_go_to_line_running_through():
    reader = LineReader()
    assert reader.feed(b"start of a long") == []
    assert reader.feed(b" line", [11]) == []
    assert reader.feed(b" ends\nnext\n") == [(b"start of a long line ends", [11]), (b"next", [])]


def test_reader_fds_with_tail_and_complete_line():
    reader = LineReader()
    reader.feed(b"first ha")
    # "lf\n" ends "first half"; "second\n" begins in this chunk: it owns the fd
    assert reader.feed(b"lf\nsecond\n", [12]) == [(b"first half", []), (b"second", [12])]


def test_reader_fds_on_tail_only():
    reader = LineReader()
    reader.feed(b"first ha")
    assert reader.feed(b"lf\n", [13]) == [(b"first half", [13])]


def test_reader_fds_on_partial_line_beginning_in_chunk():
    reader = LineReader()
    assert reader.feed(b"done\nbeg", [14]) == [(b"done", [])]
    assert reader.feed(b"un\n") == [(b"begun", [14])]


def test_reader_discard_closes_fds():
    r, w = os.pipe()
    reader = LineReader()
    reader.feed(b"partial", [r])
    assert reader.discard() == [r]
    with pytest.raises(OSError):
        os.fstat(r)
    os.close(w)


def test_send_line_and_recv_chunk_carry_fds():
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        send_line(a, b'{"op":"register"}\n', [r])
        data, fds = recv_chunk(b)
        assert data == b'{"op":"register"}\n' and len(fds) == 1
        assert os.fstat(fds[0]).st_ino == os.fstat(r).st_ino
        assert not os.get_inheritable(fds[0])
        os.close(fds[0])
    finally:
        a.close()
        b.close()
        os.close(r)
        os.close(w)


# --------------------------------------------------------------------------
# events from the wire

from mio_client import Event, Notice, ProtocolError  # noqa: E402
from mio_client.events import event_from_line  # noqa: E402

WIRE = {"event": "ready", "token": 7, "readable": True, "writable": False, "error": False,
        "read_closed": False, "write_closed": False, "priority": True}


def test_event_from_an_event_line_and_from_a_poll_entry():
    poll_entry = {k: v for k, v in WIRE.items() if k != "event"}
    assert event_from_line(WIRE) == Event.from_wire(poll_entry) == Event(7, readable=True, priority=True)
    assert Event.from_wire(poll_entry).to_dict() == WIRE
    assert Event(7).flags == () and str(Event(7)) == "token 7: no flags"
    assert Event(2**64 - 1, writable=True).token == 2**64 - 1


def test_notices_by_name():
    assert event_from_line({"event": "shutdown"}) == Notice("shutdown")
    assert event_from_line({"event": "session_taken"}).is_session_taken
    # a notice of a later protocol version is still a notice, not an error
    assert event_from_line({"event": "something_new"}) == Notice("something_new")


@pytest.mark.parametrize("change", [
    {"token": "7"}, {"token": -1}, {"token": 2**64}, {"token": True}, {"token": None},
    {"readable": 1}, {"priority": None}, {"write_closed": "false"},
], ids=["token-string", "token-negative", "token-too-big", "token-bool", "token-missing",
        "flag-int", "flag-missing", "flag-string"])
def test_a_malformed_event_is_a_protocol_error(change):
    broken = dict(WIRE, **change)
    broken = {k: v for k, v in broken.items() if v is not None}
    with pytest.raises(ProtocolError):
        event_from_line(broken)


def test_an_event_line_without_a_name_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        event_from_line({"event": 3})
