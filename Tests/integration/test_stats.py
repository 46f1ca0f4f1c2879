"""stats, list, end, ping (docs/protocol.md, "Operations")."""

import os

import pytest

from mio_client import MioError
from raw_connection import line
from replies import assert_ok
from timing import QUIET_S, wait_until

STATS_FIELDS = {"uptime_s", "connections", "sessions", "registrations", "fds_held", "events_delivered", "events_coalesced"}


def test_ping(daemon):
    c = daemon.client()
    assert c.ping() == {"id": 1, "ok": True}


def test_stats_fields(daemon):
    stats = daemon.client().stats()
    assert STATS_FIELDS <= set(stats)
    assert isinstance(stats["uptime_s"], (int, float)) and stats["uptime_s"] >= 0
    for key in STATS_FIELDS - {"uptime_s"}:
        assert isinstance(stats[key], int) and not isinstance(stats[key], bool) and stats[key] >= 0, key
    assert stats["connections"] == 1
    assert stats["sessions"] == 1  # anonymous sessions count
    assert stats["registrations"] == 0 and stats["fds_held"] == 0


def test_stats_counts_connections_and_sessions(daemon):
    watcher = daemon.client()
    others = [daemon.client() for _ in range(3)]
    others[0].hello("named")
    stats = watcher.stats()
    assert stats["connections"] == 4
    assert stats["sessions"] == 4
    for o in others:
        o.close()
    wait_until(lambda: watcher.stats()["connections"] == 1, what="connections back to 1")
    assert watcher.stats()["sessions"] == 1


def test_stats_counts_persistent_session_without_connection(daemon, fds):
    r, _ = fds.pipe()
    a = daemon.client()
    a.hello("keep", persist=True)
    a.register(r, 1)
    a.close()
    watcher = daemon.client()
    wait_until(lambda: watcher.stats()["connections"] == 1, what="a's connection gone")
    stats = watcher.stats()
    assert stats["sessions"] == 2
    assert stats["registrations"] == 1 and stats["fds_held"] == 1
    b = daemon.client()
    b.hello("keep")
    b.end()
    assert watcher.stats()["fds_held"] == 0
    daemon.close_all_and_check_fds()


def test_stats_registrations_and_fds_held(daemon, fds):
    c = daemon.client()
    for token in range(5):
        c.register(fds.pipe()[0], token)
    c.waker(10)
    stats = c.stats()
    assert stats["registrations"] == 6
    assert stats["fds_held"] == 5
    c.deregister(0)
    os.close(c.fetch(1, deregister=True))
    stats = c.stats()
    assert stats["registrations"] == 4 and stats["fds_held"] == 3
    other = daemon.client()
    other.register(fds.pipe()[0], 0)
    assert c.stats()["fds_held"] == 4  # daemon-wide
    daemon.close_all_and_check_fds()


def test_stats_events_delivered_increases(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    before = c.stats()["events_delivered"]
    for _ in range(3):
        os.write(w, b"x")
        assert c.next_event(5)["token"] == 1
    after = c.stats()["events_delivered"]
    assert after >= before + 3
    daemon.close_all_and_check_fds()


def test_stats_uptime_grows(daemon):
    c = daemon.client()
    first = c.stats()["uptime_s"]
    wait_until(lambda: c.stats()["uptime_s"] > first, timeout=3, interval=0.1, what="uptime to grow")


def test_list_empty(daemon):
    assert daemon.client().list() == []


def test_list_is_per_session(daemon, fds):
    a, b = daemon.client(), daemon.client()
    a.register(fds.pipe()[0], 1)
    b.register(fds.pipe()[0], 2)
    assert [e["token"] for e in a.list()] == [1]
    assert [e["token"] for e in b.list()] == [2]
    daemon.close_all_and_check_fds()


def test_end_removes_everything_and_connection_continues(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    c.waker(2)
    daemon.assert_fds_released(open_connections=1, held=2)  # the pipe and the waker's eventfd
    assert c.end()["ok"] is True
    assert c.list() == []
    daemon.assert_fds_released(open_connections=1)
    os.write(w, b"x")
    assert c.next_event(QUIET_S) is None
    # new anonymous session: the token is free, hello is allowed again
    c.hello()
    c.register(r, 1)
    daemon.close_all_and_check_fds()


def test_end_stops_pending_events(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 1, "token": 1, "interest": ["readable"]}), [r])
    os.write(w, b"x")
    raw.send(line({"op": "end", "id": 2}))
    lines = raw.read_all()
    end_index = next(i for i, x in enumerate(lines) if x.get("id") == 2)
    assert all(x.get("event") is None for x in lines[end_index + 1:]), lines
    daemon.close_all_and_check_fds()


def test_end_of_named_session_frees_the_name(daemon, fds):
    a = daemon.client()
    a.hello("named", persist=True)
    a.register(fds.pipe()[0], 1)
    a.end()
    b = daemon.client()
    reply = b.hello("named")
    assert reply["session"] == "named"
    assert b.list() == []
    daemon.assert_fds_released(open_connections=2)


def test_end_with_fields_ignored(daemon):
    raw = daemon.raw()
    assert_ok(raw.request({"op": "end", "id": 1, "whatever": 1}), 1)


def test_end_twice(daemon):
    c = daemon.client()
    c.end()
    c.end()
    c.ping()


def test_op_requests_with_wrong_field_types(daemon):
    c = daemon.client()
    with pytest.raises(MioError) as info:
        c.request("waker", token="1")
    assert info.value.code == "bad_request"
    with pytest.raises(MioError) as info:
        c.request("wake", token=-1)
    assert info.value.code == "bad_request"
