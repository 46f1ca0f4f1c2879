"""waker and wake (docs/protocol.md, "`waker`" and "`wake`"), within a session and across sessions of the same uid."""

import pytest

from mio_client import MioError
from replies import ready
from timing import QUIET_S


def test_waker_and_wake_same_connection(daemon):
    c = daemon.client()
    assert c.waker(9)["token"] == 9
    assert c.wake(9)["ok"] is True
    ev = c.next_event(5)
    assert ev == ready(9, readable=True)


def test_waker_listed_with_kind_waker(daemon):
    c = daemon.client()
    c.waker(1)
    entry = c.list()[0]
    assert entry["token"] == 1 and entry["kind"] == "waker"


def test_waker_is_not_a_client_fd(daemon):
    c = daemon.client()
    c.waker(1)
    stats = c.stats()
    assert stats["fds_held"] == 0
    assert stats["registrations"] >= 1


def test_waker_token_in_use(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    with pytest.raises(MioError) as info:
        c.waker(1)
    assert info.value.code == "token_in_use"
    c.waker(2)
    with pytest.raises(MioError) as info:
        c.register(fds.pipe()[0], 2)
    assert info.value.code == "token_in_use"
    daemon.close_all_and_check_fds()


def test_repeated_wakes_each_give_an_event_when_read(daemon):
    c = daemon.client()
    c.waker(3)
    for _ in range(5):
        c.wake(3)
        ev = c.next_event(5)
        assert ev["token"] == 3 and ev["readable"]


def test_wakes_before_reading_coalesce_to_at_least_one_event(daemon):
    c = daemon.client()
    c.waker(3)
    for _ in range(100):
        c.wake(3)
    events = list(c.events(QUIET_S))
    assert 1 <= len(events) <= 100
    assert all(e["token"] == 3 and e["readable"] for e in events)


def test_wake_unknown_token(daemon):
    c = daemon.client()
    with pytest.raises(MioError) as info:
        c.wake(77)
    assert info.value.code == "unknown_token"


def test_deregister_waker(daemon):
    c = daemon.client()
    c.waker(4)
    c.deregister(4)
    assert c.list() == []
    with pytest.raises(MioError) as info:
        c.wake(4)
    assert info.value.code == "unknown_token"
    daemon.assert_fds_released(open_connections=1)


def test_waker_fd_closed_with_connection(daemon):
    c = daemon.client()
    for token in range(10):
        c.waker(token)
    daemon.close_all_and_check_fds()


def test_cross_session_wake(daemon):
    a = daemon.client()
    a.hello("sleeper")
    a.waker(5)
    b = daemon.client()
    assert b.wake(5, session="sleeper")["ok"] is True
    assert a.next_event(5) == ready(5, readable=True)
    assert b.next_event(0.3) is None


def test_cross_session_wake_from_named_session(daemon):
    a = daemon.client()
    a.hello("a")
    a.waker(1)
    b = daemon.client()
    b.hello("b")
    b.waker(1)
    b.wake(1, session="a")
    assert a.next_event(5)["token"] == 1
    assert b.next_event(0.3) is None
    a.wake(1, session="b")
    assert b.next_event(5)["token"] == 1
    assert a.next_event(0.3) is None


def test_wake_own_session_by_name(daemon):
    a = daemon.client()
    a.hello("me")
    a.waker(2)
    a.wake(2, session="me")
    assert a.next_event(5)["token"] == 2


def test_cross_session_wake_unknown_token_or_session(daemon):
    a = daemon.client()
    a.hello("s1")
    a.waker(1)
    b = daemon.client()
    with pytest.raises(MioError) as info:
        b.wake(2, session="s1")
    assert info.value.code == "unknown_token"
    with pytest.raises(MioError):
        b.wake(1, session="no-such-session")
    with pytest.raises(MioError) as info:
        b.wake(1, session="bad name!")
    assert info.value.code in ("bad_request", "unknown_token")
    assert a.next_event(0.3) is None


def test_wake_token_of_a_registration_that_is_not_a_waker(daemon, fds):
    r, _ = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    with pytest.raises(MioError):
        c.wake(1)
    daemon.close_all_and_check_fds()
