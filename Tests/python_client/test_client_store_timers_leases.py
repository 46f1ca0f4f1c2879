"""The Python client's store, timer and lease calls against the real
daemon (docs/protocol.md, "Holding without polling", "Timers" and "Leases")."""

import asyncio
import os

import pytest

from mio_client import AsyncClient, Event


def test_store_and_fetch_a_memfd(daemon, fds):
    c = daemon.client()
    memfd = fds.own(os.memfd_create("py-state"))
    os.write(memfd, b"kept")
    c.hello("py", persist=True, lease=1.2)
    assert c.store(memfd, 3)["token"] == 3
    assert c.list() == [{"token": 3, "held": True, "kind": "memfd"}]
    got = fds.own(c.fetch(3))
    assert os.pread(got, 10, 0) == b"kept"
    assert [s["lease_s"] for s in c.request("sessions")["sessions"]] == [2], "1.2 s rounds up to 2"
    c.close()
    again = daemon.client()
    again.hello("py", remove_lease=True)
    assert [s["lease_s"] for s in again.request("sessions")["sessions"]] == [None]
    again.end()
    daemon.close_all_and_check_fds()


def test_timer_events(daemon):
    c = daemon.client()
    c.timer(9, after=0.01, every=0.01)
    events = [c.next_event(2) for _ in range(3)]
    assert all(isinstance(e, Event) and e.token == 9 and e.is_readable for e in events), events
    c.deregister(9)


def test_async_timer(daemon):
    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.timer(1, after=0)
            event = await c.next_event(2)
            assert event.token == 1
    asyncio.run(main())


def test_bad_arguments_are_refused_before_sending(daemon):
    c = daemon.client()
    with pytest.raises(ValueError):
        c.timer(1, after=-1)
    with pytest.raises(ValueError):
        c.hello("x", persist=True, lease=5, remove_lease=True)
    c.ping()
