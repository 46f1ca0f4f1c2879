"""The Python client's typed events, against the real daemon: readiness as
a frozen ``Event`` with mio's accessors, ``shutdown``/``session_taken`` as a
``Notice``, both easy to print; ``poll`` gives ``Event`` values too."""

import asyncio
import dataclasses
import os
import signal
import socket

import pytest

from mio_client import AsyncClient, Event, Notice
from timing import QUIET_S, WAIT_S

ACCESSORS = ("is_readable", "is_writable", "is_error", "is_read_closed", "is_write_closed", "is_priority")


def accessors(event):
    """The accessors that are true, by name."""
    return {name for name in ACCESSORS if getattr(event, name)}


def test_a_readable_pipe(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    os.write(w, b"x")
    event = c.next_event(WAIT_S)
    assert type(event) is Event
    assert event.token == 1
    assert accessors(event) == {"is_readable"}
    assert str(event) == "token 1: readable"
    assert repr(event) == "Event(token=1, readable=True)"
    assert event == Event(1, readable=True) and hash(event) == hash(Event(1, readable=True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.token = 2  # type: ignore[misc]
    daemon.close_all_and_check_fds()


def test_read_closed_and_write_closed_when_the_writer_goes(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 2)
    fds.close(w)
    event = c.next_event(WAIT_S)
    assert event.token == 2 and accessors(event) == {"is_read_closed", "is_write_closed"}
    assert str(event) == "token 2: read_closed, write_closed"
    daemon.close_all_and_check_fds()


def test_writable_then_error_when_the_reader_goes(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(w, 3, ("writable",))
    assert accessors(c.next_event(WAIT_S)) == {"is_writable"}
    fds.close(r)
    event = c.next_event(WAIT_S)
    assert event.token == 3 and {"is_error", "is_write_closed"} <= accessors(event)
    assert not event.is_readable and not event.is_priority
    daemon.close_all_and_check_fds()


def test_priority_from_tcp_out_of_band_data(daemon, fds):
    listener = fds.keep(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = fds.keep(socket.create_connection(listener.getsockname(), timeout=5))
    server, _ = listener.accept()
    fds.keep(server)
    c = daemon.client()
    c.register(server, 4, ("priority",))
    assert c.next_event(QUIET_S) is None
    client.send(b"!", socket.MSG_OOB)
    event = c.next_event(WAIT_S)
    assert event.token == 4 and accessors(event) == {"is_priority", "is_readable"}  # readable = IN or PRI, as mio
    daemon.close_all_and_check_fds()


def test_session_taken_is_a_notice(daemon):
    a = daemon.client()
    a.hello("taken")
    b = daemon.client()
    b.hello("taken", takeover=True)
    notice = a.next_event(WAIT_S)
    assert notice == Notice("session_taken") and notice.is_session_taken and not notice.is_shutdown
    assert str(notice) == "session_taken"
    daemon.close_all_and_check_fds()


def test_shutdown_is_a_notice_in_the_async_client(daemon):
    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.ping()
            daemon.send_signal(signal.SIGTERM)
            notice = await c.next_event(WAIT_S)
            assert type(notice) is Notice and notice.is_shutdown

    asyncio.run(asyncio.wait_for(main(), 30))
    assert daemon.wait_exit() == 0


def test_poll_gives_events(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.hello(delivery="poll")
    c.register(r, 5)
    os.write(w, b"x")
    events = c.poll(WAIT_S)
    assert events == [Event(5, readable=True)] and all(type(e) is Event for e in events)
    daemon.close_all_and_check_fds()


def test_events_still_read_as_the_dicts_of_0_1(daemon, fds):
    """0.1 gave the wire dicts: ``event["token"]`` and comparing with a dict
    still work."""
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 6)
    os.write(w, b"x")
    event = c.next_event(WAIT_S)
    assert event["token"] == 6 and event["readable"] is True and event["event"] == "ready"
    assert event == {"event": "ready", "token": 6, "readable": True, "writable": False, "error": False,
                     "read_closed": False, "write_closed": False, "priority": False}
    daemon.close_all_and_check_fds()
