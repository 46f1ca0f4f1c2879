"""The Python client's timeouts, against the real daemon: seconds
everywhere, one default (the constructor's ``timeout``) for every call,
the same ``next_event`` in both clients, and a daemon that stops answering
(SIGSTOP) costs a caller its timeout and nothing else."""

import asyncio
import math
import os
import threading
import time

import pytest

from mio_client import AsyncClient, Client, Event
from timing import TIME_SCALE

#: Slack on "returns after about t seconds": the machine is shared.
SLACK_S = 1.0 * TIME_SCALE


def took(start: float) -> float:
    return time.monotonic() - start


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30 * TIME_SCALE))


def poll_client(daemon, **kwargs):
    c = daemon.client(**kwargs)
    c.hello(delivery="poll")
    return c


# --------------------------------------------------------------------------
# a daemon that does not answer


def test_blocking_request_times_out_after_the_default_and_its_late_reply_is_dropped(daemon):
    c = daemon.client(timeout=0.5)
    c.ping()
    with daemon.paused():
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            c.request("ping", id="late")
        assert 0.45 <= took(start) < 0.5 + SLACK_S
        start = time.monotonic()
        assert c.next_event() is None  # the same default
        assert 0.45 <= took(start) < 0.5 + SLACK_S
    # The daemon answers "late" now: dropped, and the next request gets its own reply.
    assert c.request("ping", id="after") == {"id": "after", "ok": True}
    assert not c.stray_replies
    daemon.close_all_and_check_fds()


def test_async_request_times_out_after_the_default_and_its_late_reply_is_dropped(daemon):
    async def main():
        async with AsyncClient(daemon.socket_path, timeout=0.5) as c:
            await c.ping()
            with daemon.paused():
                start = time.monotonic()
                with pytest.raises(TimeoutError):  # the builtin one, on every Python version
                    await c.request("ping", id="late")
                assert 0.45 <= took(start) < 0.5 + SLACK_S
                start = time.monotonic()
                assert await c.next_event() is None
                assert 0.45 <= took(start) < 0.5 + SLACK_S
            assert await c.request("ping", id="after") == {"id": "after", "ok": True}

    run(main())
    daemon.assert_fds_released()


def copies_of(fd):
    """How many of this process's fds are open on the same pipe as ``fd``
    (both ends of a pipe read as the same ``pipe:[inode]``)."""
    target = os.readlink(f"/proc/self/fd/{fd}")
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == target
        except OSError:
            pass
    return count


def test_the_fd_of_a_late_fetch_reply_is_closed(daemon, fds):
    r, _ = fds.pipe()
    ours = copies_of(r)  # the two ends
    c = daemon.client(timeout=0.5)
    c.register(r, 1)
    with daemon.paused():
        with pytest.raises(TimeoutError):
            c.fetch(1)
    # The late fetch reply, with its fd, arrives before this ping's reply.
    assert c.request("ping", id="after") == {"id": "after", "ok": True}
    assert copies_of(r) == ours, "the fd of the fetch reply nobody waited for was not closed"

    async def main():
        async with AsyncClient(daemon.socket_path, timeout=0.5) as a:
            await a.register(r, 2)
            with daemon.paused():
                with pytest.raises(TimeoutError):
                    await a.fetch(2)
            assert await a.request("ping", id="after") == {"id": "after", "ok": True}
            assert copies_of(r) == ours, "the fd of the fetch reply nobody waited for was not closed"

    run(main())
    daemon.close_all_and_check_fds()


def test_a_call_of_its_own_timeout_overrides_the_default(daemon):
    c = daemon.client(timeout=30)
    start = time.monotonic()
    assert c.next_event(0.2) is None
    assert took(start) < 0.2 + SLACK_S
    with daemon.paused():
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            c.request("stats", timeout=0.3)
        assert 0.25 <= took(start) < 0.3 + SLACK_S
    c.ping()
    daemon.close_all_and_check_fds()


def test_a_poll_reply_is_awaited_for_the_poll_time_plus_the_client_timeout(daemon):
    c = poll_client(daemon, timeout=0.5)
    with daemon.paused():
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            c.poll(0.4)
        assert 0.85 <= took(start) < 0.9 + SLACK_S
    assert c.poll(0) == []
    daemon.close_all_and_check_fds()


# --------------------------------------------------------------------------
# next_event: the same in both clients


def test_next_event_waits_the_client_timeout_in_both_clients(daemon):
    c = daemon.client(timeout=0.3)
    start = time.monotonic()
    assert c.next_event() is None
    assert 0.25 <= took(start) < 0.3 + SLACK_S

    async def main():
        async with AsyncClient(daemon.socket_path, timeout=0.3) as a:
            start = time.monotonic()
            assert await a.next_event() is None
            assert 0.25 <= took(start) < 0.3 + SLACK_S

    run(main())
    daemon.close_all_and_check_fds()


def test_timeout_none_waits_for_ever_in_both_clients(daemon):
    """With ``timeout=None`` an event 0.8 s later still arrives (a default
    timeout of any length below that would have returned None)."""
    waker = daemon.client()
    c = daemon.client(timeout=None)
    c.hello("blocking")
    c.waker(1)
    timer = threading.Timer(0.8, lambda: waker.wake(1, session="blocking"))
    timer.start()
    try:
        assert c.next_event() == Event(1, readable=True)
    finally:
        timer.join()

    async def main():
        async with AsyncClient(daemon.socket_path, timeout=None) as a:
            await a.hello("async")
            await a.waker(2)
            asyncio.get_running_loop().call_later(0.8, lambda: waker.wake(2, session="async"))
            assert await a.next_event() == Event(2, readable=True)

    run(main())
    daemon.close_all_and_check_fds()


# --------------------------------------------------------------------------
# poll takes seconds


def test_poll_timeout_is_in_seconds(daemon):
    c = poll_client(daemon)
    start = time.monotonic()
    assert c.poll(0.3) == []
    assert 0.28 <= took(start) < 0.3 + SLACK_S
    start = time.monotonic()
    assert c.poll(0) == []
    assert c.poll(0.0001) == []  # rounded up to 1 ms, not down to "at once" or "for ever"
    assert took(start) < SLACK_S
    daemon.close_all_and_check_fds()


def test_poll_for_ever_is_none_or_infinity(daemon):
    c = daemon.client(timeout=0.5)  # the client timeout does not cut a poll that waits for ever
    c.hello("poller", delivery="poll")
    c.waker(42)
    other = daemon.client()
    for forever in (None, math.inf):
        timer = threading.Timer(0.8, lambda: other.wake(42, session="poller"))
        timer.start()
        try:
            assert c.poll(forever) == [Event(42, readable=True)]
        finally:
            timer.join()
    daemon.close_all_and_check_fds()


def test_async_poll_takes_seconds(daemon, fds):
    r, w = fds.pipe()

    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.hello(delivery="poll")
            await c.register(r, 3)
            start = time.monotonic()
            assert await c.poll(0.3) == []
            assert 0.28 <= took(start) < 0.3 + SLACK_S
            asyncio.get_running_loop().call_later(0.2, lambda: os.write(w, b"x"))
            assert await c.poll(5) == [Event(3, readable=True)]

    run(main())
    daemon.close_all_and_check_fds()


def test_poll_timeout_ms_still_works_and_warns(daemon):
    c = poll_client(daemon)
    start = time.monotonic()
    with pytest.warns(DeprecationWarning, match="seconds"):
        assert c.poll(timeout_ms=300) == []
    assert 0.28 <= took(start) < 0.3 + SLACK_S
    with pytest.raises(TypeError):
        c.poll(1, timeout_ms=1000)
    daemon.close_all_and_check_fds()


@pytest.mark.parametrize("bad,error", [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError), (True, TypeError)],
                         ids=["negative", "nan", "string", "bool"])
def test_bad_timeouts_are_refused_before_anything_is_sent(daemon, bad, error):
    with pytest.raises(error):
        Client(daemon.socket_path, timeout=bad)
    c = poll_client(daemon)
    with pytest.raises(error):
        c.poll(bad)
    with pytest.raises(error):
        c.next_event(bad)
    with pytest.raises(error):
        c.request("ping", timeout=bad)
    # nothing went out: the next request is the next one the daemon sees
    assert c.request("ping", id="next") == {"id": "next", "ok": True}
    assert c.stats()["connections"] == 1
    daemon.close_all_and_check_fds()
