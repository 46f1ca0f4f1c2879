"""A callback per token, against the real daemon: ``on(token, callback)``
and ``run()`` in both clients (``run`` dispatches in arrival order, awaits
coroutine callbacks, returns an unclaimed notice, ends at EOF or ``stop``)."""

import asyncio
import os
import signal
import threading

import pytest

from mio_client import AsyncClient, Event, Notice

RUN_LIMIT_S = 20


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, RUN_LIMIT_S))


def test_async_callbacks_per_token_sync_and_coroutine(daemon, fds):
    (r1, w1), (r2, w2) = fds.pipe(), fds.pipe()

    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.register(r1, 1)
            await c.register(r2, 2)
            seen = []

            def on_one(event):
                seen.append(("one", event))
                os.write(w2, b"y")  # the next event comes from here

            async def on_two(event):
                await asyncio.sleep(0)  # a coroutine callback is awaited before the next event
                seen.append(("two", event))
                c.stop()

            c.on(1, on_one)
            c.on(2, on_two)
            os.write(w1, b"x")
            assert await c.run() is None  # stopped
            assert seen == [("one", Event(1, readable=True)), ("two", Event(2, readable=True))]
            assert c.unhandled_events == 0

    run(main())
    daemon.close_all_and_check_fds()


def test_async_run_returns_a_notice_nobody_took(daemon):
    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.hello("contested")
            await c.waker(1)
            c.on(1, lambda event: pytest.fail(f"no event expected, got {event}"))
            thief = daemon.client()
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, lambda: thief.hello("contested", takeover=True))
            assert await c.run() == Notice("session_taken")

    run(main())
    daemon.close_all_and_check_fds()


def test_async_on_notice_sees_shutdown_and_run_ends_at_eof(daemon):
    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.ping()
            notices = []
            c.on_notice(notices.append)
            asyncio.get_running_loop().call_later(0.1, daemon.send_signal, signal.SIGTERM)
            assert await c.run() is None
            assert notices == [Notice("shutdown")]

    run(main())
    assert daemon.wait_exit() == 0


def test_async_events_of_tokens_without_a_callback_are_counted(daemon, fds):
    r, w = fds.pipe()

    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.register(r, 3)  # no callback
            await c.waker(9)
            c.on(9, lambda event: c.stop())
            os.write(w, b"x")
            await asyncio.sleep(0.2)  # the pipe's event first
            await c.wake(9)
            assert await c.run() is None
            assert c.unhandled_events == 1
            c.off(9)

    run(main())
    daemon.close_all_and_check_fds()


def test_async_an_exception_in_a_callback_ends_run(daemon):
    async def main():
        async with AsyncClient(daemon.socket_path) as c:
            await c.waker(5)

            def broken(event):
                raise ValueError(f"bad {event.token}")

            c.on(5, broken)
            await c.wake(5)
            with pytest.raises(ValueError, match="bad 5"):
                await c.run()
            # the connection goes on
            await c.ping()

    run(main())
    daemon.close_all_and_check_fds()


def test_blocking_client_callbacks(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.hello("blocking-callbacks")
    c.register(r, 1)
    c.waker(2)
    seen = []
    c.on(1, lambda event: seen.append(event))
    c.on(2, lambda event: (seen.append(event), c.stop()))
    other = daemon.client()
    os.write(w, b"x")
    timer = threading.Timer(0.2, lambda: other.wake(2, session="blocking-callbacks"))
    timer.start()
    try:
        assert c.run() is None
    finally:
        timer.join()
    assert seen == [Event(1, readable=True), Event(2, readable=True)]
    daemon.close_all_and_check_fds()


def test_on_refuses_what_is_not_a_token_or_a_callback(daemon):
    c = daemon.client()
    for token in ("1", -1, True, 1.0):
        with pytest.raises(TypeError):
            c.on(token, print)
    with pytest.raises(TypeError):
        c.on(1, "not callable")
    with pytest.raises(TypeError):
        c.on_notice(42)
    daemon.close_all_and_check_fds()
