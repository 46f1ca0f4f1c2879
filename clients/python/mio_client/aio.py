"""asyncio client for mio-daemon.

asyncio streams cannot carry fds, so this client drives a non-blocking
socket itself: ``loop.add_reader`` + ``recvmsg`` in, ``sendmsg`` out.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import socket
from typing import Any, AsyncIterator, Awaitable, Deque, Dict, List, Optional, Sequence, Tuple, TypeVar

from ._callbacks import Callback, Callbacks
from ._common import (
    CLIENT_NAME,
    DEFAULT_TIMEOUT,
    PROTOCOL_VERSION,
    FdLike,
    InterestLike,
    RequestBuilder,
    check_reply,
    check_reply_id,
    decode_line,
    fd_of,
    hello_fields,
    timer_fields,
    interest_list,
    is_event,
    poll_fields,
    reply_wait,
    resolve_timeout,
    seconds,
)
from ._framing import FramingError, LineReader, close_fds, recv_chunk
from .errors import ConnectionClosed, MioError, ProtocolError
from .events import AnyEvent, Event, Notice, event_from_line
from .paths import resolve_socket_path

Reply = Tuple[Dict[str, Any], List[int]]
T = TypeVar("T")


async def _within(awaitable: Awaitable[T], timeout: Optional[float], what: str) -> T:
    """``awaitable``, or the builtin :class:`TimeoutError` after ``timeout``
    seconds (asyncio's own is a different class before Python 3.11)."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no {what} from mio-daemon within {timeout} s") from None


class AsyncClient:
    """An asyncio connection to mio-daemon.

    ``await client.request(...)`` and the op methods are coroutines; requests
    may be issued concurrently from several tasks (replies are matched in
    order). Events, as :class:`Event` and :class:`Notice` values:
    ``await client.next_event()``, ``async for event in client``, or a
    callback per token with :meth:`on` and :meth:`run`.

    ``timeout`` (seconds, ``None`` = for ever) bounds every wait, as in
    :class:`Client`: connecting, each request (then :class:`TimeoutError`),
    :meth:`next_event` (then ``None``). A call may pass its own ``timeout``.
    """

    def __init__(self, path: Optional[str] = None, *, timeout: Optional[float] = DEFAULT_TIMEOUT) -> None:
        self.path = resolve_socket_path(path)
        self.timeout = seconds(timeout)
        self.sock: Optional[socket.socket] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._reader = LineReader()
        self._requests = RequestBuilder()
        self._open: Deque[Tuple[Any, "asyncio.Future[Reply]"]] = collections.deque()
        self._events: Deque[AnyEvent] = collections.deque()
        self._callbacks = Callbacks()
        self._event_waiter: Optional["asyncio.Future[None]"] = None
        self._send_lock: Optional[asyncio.Lock] = None
        self._eof = False
        self._error: Optional[BaseException] = None
        #: Replies that arrived when no request was open.
        self.stray_replies: Deque[Dict[str, Any]] = collections.deque()

    # -- connection ---------------------------------------------------------

    async def connect(self) -> "AsyncClient":
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await _within(loop.sock_connect(sock, self.path), self.timeout, f"connection at {self.path}")
        except BaseException:
            sock.close()
            raise
        self._loop = loop
        self.sock = sock
        self._send_lock = asyncio.Lock()
        loop.add_reader(sock.fileno(), self._on_readable)
        return self

    async def __aenter__(self) -> "AsyncClient":
        if self.sock is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._close_socket()
        self._finish(ConnectionClosed("client is closed"))

    def _close_socket(self) -> None:
        if self.sock is not None and self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
        self.sock = None

    def shutdown_write(self) -> None:
        self._socket().shutdown(socket.SHUT_WR)

    def fileno(self) -> int:
        return self._socket().fileno()

    @property
    def at_eof(self) -> bool:
        return self._eof

    def _socket(self) -> socket.socket:
        if self.sock is None:
            raise ConnectionClosed("client is closed")
        return self.sock

    # -- requests -----------------------------------------------------------

    async def request_with_fds(self, op: str, /, *, fds: Sequence[FdLike] = (), timeout: Any = ..., **fields: Any) -> Reply:
        """Send a request and wait for ``(reply, fds)``. Raises
        :class:`MioError` on ``ok:false``. The caller owns the fds."""
        if self._eof:
            raise self._error or ConnectionClosed("daemon closed the connection")
        assert self._loop is not None and self._send_lock is not None, "not connected"
        timeout = resolve_timeout(timeout, self.timeout)
        reply, got = await _within(self._round_trip(op, fds, fields), timeout, f"reply to {op!r}")
        return check_reply(reply, got)

    async def _round_trip(self, op: str, fds: Sequence[FdLike], fields: Dict[str, Any]) -> Reply:
        assert self._loop is not None and self._send_lock is not None
        request_id, line = self._requests.build(op, dict(fields))
        future: "asyncio.Future[Reply]" = self._loop.create_future()
        async with self._send_lock:
            self._open.append((request_id, future))
            try:
                await self._send(line, [fd_of(f) for f in fds])
            except BaseException:
                if (request_id, future) in self._open:
                    self._open.remove((request_id, future))
                raise
        # Cancelled here (a timeout), the future is cancelled too, and the
        # reply is dropped when it comes: later requests still match.
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                close_fds(future.result()[1])  # the reply came just as the wait ended
            raise

    async def request(self, op: str, /, *, fds: Sequence[FdLike] = (), timeout: Any = ..., **fields: Any) -> Dict[str, Any]:
        reply, got = await self.request_with_fds(op, fds=fds, timeout=timeout, **fields)
        close_fds(got)
        return reply

    async def _send(self, line: bytes, fds: List[int]) -> None:
        view = memoryview(line)
        pending_fds = fds
        while view:
            sock = self._socket()
            try:
                if pending_fds:
                    sent = socket.send_fds(sock, [view], pending_fds)
                else:
                    sent = sock.send(view)
            except (BlockingIOError, InterruptedError):
                try:
                    await self._writable()
                except asyncio.CancelledError:
                    if len(view) < len(line):
                        # Half a line went out: whatever is sent next would
                        # continue it. The connection cannot be used again.
                        self._stop_reading()
                        self._finish(ConnectionClosed("a request was cut off in the middle of its line; the connection is closed"))
                        self._close_socket()
                    raise
                continue
            pending_fds = []
            view = view[sent:]

    async def _writable(self) -> None:
        assert self._loop is not None
        loop = self._loop
        fd = self._socket().fileno()
        future: "asyncio.Future[None]" = loop.create_future()

        def ready() -> None:
            if not future.done():
                future.set_result(None)

        loop.add_writer(fd, ready)
        try:
            await future
        finally:
            loop.remove_writer(fd)

    # -- ops (docs/protocol.md, "Operations") ---------------------------------

    async def hello(
        self,
        session: Optional[str] = None,
        *,
        persist: Optional[bool] = None,
        takeover: Optional[bool] = None,
        delivery: Optional[str] = None,
        protocol: Optional[int] = PROTOCOL_VERSION,
        client: Optional[str] = CLIENT_NAME,
        lease: Optional[float] = None,
        remove_lease: bool = False,
    ) -> Dict[str, Any]:
        """``lease``: with ``persist``, end the session after this many
        seconds (rounded up) with no connection; ``remove_lease=True``
        removes the session's lease; neither keeps it as it is."""
        return await self.request("hello", **hello_fields(session, persist, takeover, delivery, protocol, client, lease, remove_lease))

    async def register(self, fd: FdLike, token: int, interest: InterestLike = ("readable",), mode: str = "edge") -> Dict[str, Any]:
        return await self.request("register", fds=[fd], token=token, interest=interest_list(interest), mode=mode)

    async def reregister(self, token: int, interest: InterestLike = ("readable",), mode: str = "edge") -> Dict[str, Any]:
        return await self.request("reregister", token=token, interest=interest_list(interest), mode=mode)

    async def deregister(self, token: int) -> Dict[str, Any]:
        return await self.request("deregister", token=token)

    async def store(self, fd: FdLike, token: int) -> Dict[str, Any]:
        """Hand ``fd`` (any kind: a memfd, a regular file, a directory) to the
        daemon to hold under ``token``, never polled."""
        return await self.request("store", fds=[fd], token=token)

    async def timer(self, token: int, after: float, every: Optional[float] = None) -> Dict[str, Any]:
        """A timer of the daemon's: a readable event for ``token`` after
        ``after`` seconds, then every ``every`` seconds."""
        return await self.request("timer", token=token, **timer_fields(after, every))

    async def waker(self, token: int) -> Dict[str, Any]:
        return await self.request("waker", token=token)

    async def wake(self, token: int, session: Optional[str] = None) -> Dict[str, Any]:
        if session is None:
            return await self.request("wake", token=token)
        return await self.request("wake", token=token, session=session)

    async def poll(self, timeout: Optional[float] = None, max_events: Optional[int] = None, *, timeout_ms: Optional[int] = None) -> List[Event]:
        """As :meth:`Client.poll`: ``timeout`` in seconds, ``None`` for ever."""
        fields, poll_timeout = poll_fields(timeout, max_events, timeout_ms)
        reply = await self.request("poll", timeout=reply_wait(poll_timeout, self.timeout), **fields)
        return [Event.from_wire(obj) for obj in reply["events"]]

    async def fetch(self, token: int, deregister: bool = False) -> int:
        """Get the held fd back; the caller owns the returned fd."""
        reply, fds = await self.request_with_fds("fetch", token=token, deregister=deregister)
        if len(fds) != 1:
            close_fds(fds)
            raise ProtocolError(f"fetch reply carried {len(fds)} fds, expected 1: {reply!r}")
        return fds[0]

    async def list(self) -> List[Dict[str, Any]]:
        return [dict(r) for r in (await self.request("list"))["registrations"]]

    async def stats(self) -> Dict[str, Any]:
        return dict((await self.request("stats"))["stats"])

    async def end(self) -> Dict[str, Any]:
        return await self.request("end")

    async def ping(self) -> Dict[str, Any]:
        return await self.request("ping")

    # -- events -------------------------------------------------------------

    async def next_event(self, timeout: Any = ...) -> Optional[AnyEvent]:
        """The next :class:`Event` or :class:`Notice`, or ``None`` after
        ``timeout`` seconds (default: the client's timeout; ``None``: wait
        for ever). Raises :class:`ConnectionClosed` at end of stream once
        queued events are taken."""
        assert self._loop is not None, "not connected"
        timeout = resolve_timeout(timeout, self.timeout)
        deadline = None if timeout is None else self._loop.time() + timeout
        while not self._events:
            if self._eof:
                raise self._error or ConnectionClosed("daemon closed the connection")
            if self._event_waiter is None or self._event_waiter.done():
                self._event_waiter = self._loop.create_future()
            remaining = None if deadline is None else deadline - self._loop.time()
            if remaining is not None and remaining <= 0:
                return None
            try:
                await asyncio.wait_for(asyncio.shield(self._event_waiter), remaining)
            except asyncio.TimeoutError:
                return None
        return self._events.popleft()

    async def events(self, timeout: Any = ...) -> AsyncIterator[AnyEvent]:
        """Yield events until none arrives for ``timeout`` seconds (or EOF),
        as :meth:`Client.events`."""
        while True:
            try:
                event = await self.next_event(timeout)
            except ConnectionClosed:
                return
            if event is None:
                return
            yield event

    def pending_events(self) -> List[AnyEvent]:
        out = list(self._events)
        self._events.clear()
        return out

    def __aiter__(self) -> "AsyncClient":
        return self

    async def __anext__(self) -> AnyEvent:
        """Every event until the daemon closes the connection (no timeout)."""
        try:
            event = await self.next_event(None)
        except ConnectionClosed:
            raise StopAsyncIteration
        assert event is not None
        return event

    # -- callbacks ----------------------------------------------------------

    def on(self, token: int, callback: Callback) -> None:
        """Have :meth:`run` call ``callback(event)`` for each event of
        ``token``; a coroutine function's coroutine is awaited."""
        self._callbacks.on(token, callback)

    def off(self, token: int) -> None:
        self._callbacks.off(token)

    def on_notice(self, callback: Optional[Callback]) -> None:
        """Have :meth:`run` call ``callback(notice)`` for ``shutdown`` and
        ``session_taken`` instead of returning it."""
        self._callbacks.on_notice(callback)

    @property
    def unhandled_events(self) -> int:
        """Events :meth:`run` met for tokens without a callback (dropped)."""
        return self._callbacks.unhandled

    async def run(self) -> Optional[Notice]:
        """Call the :meth:`on` callbacks, event by event, in arrival order
        (a callback that returns an awaitable is awaited before the next
        event). Returns ``None`` when the daemon closes the connection or a
        callback called :meth:`stop`, or the first :class:`Notice` that has
        no :meth:`on_notice` callback. An exception in a callback ends
        ``run`` and propagates; cancelling the task ends it too."""
        self._callbacks.stopping = False
        while not self._callbacks.stopping:
            try:
                event = await self.next_event(None)
            except ConnectionClosed:
                return None
            assert event is not None
            callback = self._callbacks.target(event)
            if callback is not None:
                result = callback(event)
                if inspect.isawaitable(result):
                    await result
            elif isinstance(event, Notice):
                return event
        return None

    def stop(self) -> None:
        """End :meth:`run` after the callback that calls this."""
        self._callbacks.stopping = True

    # -- reading ------------------------------------------------------------

    def _on_readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            data, fds = recv_chunk(sock, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except (ConnectionResetError, BrokenPipeError):
            data, fds = b"", []
        except FramingError as exc:
            self._stop_reading()
            self._finish(exc)
            return
        if not data:
            close_fds(fds)
            self._stop_reading()
            self._finish(self._stray_error() or ConnectionClosed("daemon closed the connection"))
            return
        try:
            for line, line_fds in self._reader.feed(data, fds):
                self._dispatch(line, line_fds)
        except ProtocolError as exc:
            self._stop_reading()
            self._finish(exc)

    def _stop_reading(self) -> None:
        if self.sock is not None and self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())

    def _stray_error(self) -> Optional[MioError]:
        if self.stray_replies and self.stray_replies[-1].get("ok") is False:
            return MioError.from_reply(self.stray_replies[-1])
        return None

    def _dispatch(self, line: bytes, fds: List[int]) -> None:
        if not line.strip():
            close_fds(fds)
            return
        obj = decode_line(line)
        if is_event(obj):
            close_fds(fds)
            self._events.append(event_from_line(obj))
            if self._event_waiter is not None and not self._event_waiter.done():
                self._event_waiter.set_result(None)
            return
        if not self._open:
            close_fds(fds)
            self.stray_replies.append(obj)
            return
        request_id, future = self._open.popleft()
        check_reply_id(request_id, obj)
        if future.done():  # the caller gave up waiting
            close_fds(fds)
        else:
            future.set_result((obj, fds))

    def _finish(self, error: BaseException) -> None:
        self._eof = True
        if self._error is None:
            self._error = error
        self._reader.discard()
        while self._open:
            _, future = self._open.popleft()
            if not future.done():
                future.set_exception(error)
        if self._event_waiter is not None and not self._event_waiter.done():
            self._event_waiter.set_result(None)


async def connect(path: Optional[str] = None, **kwargs: Any) -> AsyncClient:
    """Create and connect an :class:`AsyncClient`."""
    return await AsyncClient(path, **kwargs).connect()


__all__ = ["AsyncClient", "connect", "MioError", "ConnectionClosed", "ProtocolError", "Event", "Notice"]
