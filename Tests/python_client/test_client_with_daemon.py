"""The Python client (clients/python) against the real daemon: the blocking
Client's pipelining and event queue, and the asyncio AsyncClient. (Timeouts,
typed events and callbacks have files of their own.)"""

import asyncio
import os
import signal

import pytest

from mio_client import AsyncClient, Client, ConnectionClosed, Event, MioError, Notice
from timing import QUIET_S


def test_client_pipelined_requests(daemon):
    c = daemon.client()
    ids = [c.send_request("ping") for _ in range(20)]
    for request_id in reversed(ids):  # replies can be collected in any order
        reply, fds = c.wait_reply(request_id)
        assert reply == {"id": request_id, "ok": True} and fds == []


def test_client_custom_id(daemon):
    c = daemon.client()
    assert c.request("ping", id="mine") == {"id": "mine", "ok": True}


def test_client_error_raises_mio_error(daemon):
    c = daemon.client()
    with pytest.raises(MioError) as info:
        c.deregister(1)
    assert info.value.code == "unknown_token"
    assert info.value.reply["ok"] is False
    c.ping()


def test_client_events_queued_between_replies(daemon, fds):
    pipes = [fds.pipe() for _ in range(3)]
    c = daemon.client()
    for token, (r, _) in enumerate(pipes):
        c.register(r, token)
    for _, w in pipes:
        os.write(w, b"x")
    for _ in range(10):
        c.ping()
    got = sorted(e.token for e in c.events(QUIET_S))
    assert got == [0, 1, 2]
    daemon.close_all_and_check_fds()


def test_client_next_event_timeout_returns_none(daemon):
    c = daemon.client()
    assert c.next_event(0.1) is None


def test_client_connection_closed_at_shutdown(daemon):
    c = daemon.client()
    daemon.send_signal(signal.SIGTERM)
    assert c.next_event(5) == Notice("shutdown")
    with pytest.raises(ConnectionClosed):
        c.next_event(5)
    assert daemon.wait_exit(5) == 0


def test_client_path_from_environment(daemon, monkeypatch):
    monkeypatch.setenv("MIO_SOCKET", daemon.socket_path)
    with Client() as c:
        assert c.path == daemon.socket_path
        c.ping()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_async_client_basic(daemon, fds):
    r, w = fds.pipe()

    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            hello = await c.hello("async", delivery="stream")
            assert hello["session"] == "async"
            await c.register(r, 5)
            os.write(w, b"x")
            event = await c.next_event(5)
            assert event == Event(5, readable=True)
            assert await c.next_event(0.1) is None
            listed = await c.list()
            assert [e["token"] for e in listed] == [5]
            got = await c.fetch(5, deregister=True)
            try:
                assert os.fstat(got).st_ino == os.fstat(r).st_ino
            finally:
                os.close(got)
            stats = await c.stats()
            assert stats["fds_held"] == 0
            with pytest.raises(MioError) as info:
                await c.deregister(5)
            assert info.value.code == "unknown_token"

    run(main())
    daemon.close_all_and_check_fds()


def test_async_client_concurrent_requests(daemon):
    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            replies = await asyncio.gather(*(c.request("ping", id=i) for i in range(200)))
            assert [r["id"] for r in replies] == list(range(200))

    run(main())


def test_async_client_async_for_events_and_waker(daemon):
    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.waker(1)
            seen = []

            async def consume():
                async for event in c:
                    seen.append(event)
                    if len(seen) == 3:
                        return

            task = asyncio.ensure_future(consume())
            for _ in range(3):
                await c.wake(1)
                await asyncio.sleep(0.05)
            await asyncio.wait_for(task, 5)
            assert all(e == Event(1, readable=True) for e in seen)

    run(main())


def test_async_client_poll_delivery(daemon, fds):
    r, w = fds.pipe()

    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.hello(delivery="poll")
            await c.register(r, 2)
            assert await c.poll(0) == []
            os.write(w, b"x")
            events = await c.poll(2)
            assert [e.token for e in events] == [2]

    run(main())
    daemon.close_all_and_check_fds()


def test_async_client_sees_shutdown(daemon):
    async def main():
        c = AsyncClient(daemon.socket_path)
        await c.connect()
        await c.ping()
        daemon.send_signal(signal.SIGTERM)
        events = [e async for e in c]
        assert events == [Notice("shutdown")]
        with pytest.raises(ConnectionClosed):
            await c.ping()
        await c.close()

    run(main())
    assert daemon.wait_exit(5) == 0
