"""asyncio client for mio-daemon.

asyncio streams cannot carry fds, so this client drives a non-blocking
socket itself: ``loop.add_reader`` + ``recvmsg`` in, ``sendmsg`` out.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from ._common import (
    CLIENT_NAME,
    PROTOCOL_VERSION,
    FdLike,
    InterestLike,
    RequestBuilder,
    check_reply,
    check_reply_id,
    decode_line,
    fd_of,
    hello_fields,
    interest_list,
    is_event,
)
from ._framing import FramingError, LineReader, close_fds, recv_chunk
from .errors import ConnectionClosed, MioError, ProtocolError
from .paths import resolve_socket_path

Reply = Tuple[Dict[str, Any], List[int]]


class AsyncClient:
    """An asyncio connection to mio-daemon.

    ``await client.request(...)`` and the op methods are coroutines; requests
    may be issued concurrently from several tasks (replies are matched in
    order). Events: ``await client.next_event(timeout)`` or
    ``async for event in client``.
    """

    def __init__(self, path: Optional[str] = None, *, timeout: Optional[float] = 30.0) -> None:
        self.path = resolve_socket_path(path)
        self.timeout = timeout
        self.sock: Optional[socket.socket] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._reader = LineReader()
        self._requests = RequestBuilder()
        self._open: Deque[Tuple[Any, "asyncio.Future[Reply]"]] = collections.deque()
        self._events: Deque[Dict[str, Any]] = collections.deque()
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
            await loop.sock_connect(sock, self.path)
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
        if self.sock is not None and self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
        self.sock = None
        self._finish(ConnectionClosed("client is closed"))

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
        if timeout is ...:
            timeout = self.timeout
        reply, got = await asyncio.wait_for(future, timeout)
        return check_reply(reply, got)

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
                await self._writable()
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
    ) -> Dict[str, Any]:
        return await self.request("hello", **hello_fields(session, persist, takeover, delivery, protocol, client))

    async def register(self, fd: FdLike, token: int, interest: InterestLike = ("readable",), mode: str = "edge") -> Dict[str, Any]:
        return await self.request("register", fds=[fd], token=token, interest=interest_list(interest), mode=mode)

    async def reregister(self, token: int, interest: InterestLike = ("readable",), mode: str = "edge") -> Dict[str, Any]:
        return await self.request("reregister", token=token, interest=interest_list(interest), mode=mode)

    async def deregister(self, token: int) -> Dict[str, Any]:
        return await self.request("deregister", token=token)

    async def waker(self, token: int) -> Dict[str, Any]:
        return await self.request("waker", token=token)

    async def wake(self, token: int, session: Optional[str] = None) -> Dict[str, Any]:
        if session is None:
            return await self.request("wake", token=token)
        return await self.request("wake", token=token, session=session)

    async def poll(self, timeout_ms: Optional[int] = None, max_events: Optional[int] = None, *, timeout: Any = ...) -> List[Dict[str, Any]]:
        fields: Dict[str, Any] = {}
        if timeout_ms is not None:
            fields["timeout_ms"] = timeout_ms
        if max_events is not None:
            fields["max_events"] = max_events
        if timeout is ...:
            timeout = None if timeout_ms is None or self.timeout is None else self.timeout + timeout_ms / 1000.0
        reply = await self.request("poll", timeout=timeout, **fields)
        return list(reply["events"])

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

    async def next_event(self, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The next event, or ``None`` after ``timeout`` seconds (``None``:
        wait forever). Raises :class:`ConnectionClosed` at end of stream once
        queued events are taken."""
        assert self._loop is not None, "not connected"
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

    def pending_events(self) -> List[Dict[str, Any]]:
        out = list(self._events)
        self._events.clear()
        return out

    def __aiter__(self) -> "AsyncClient":
        return self

    async def __anext__(self) -> Dict[str, Any]:
        try:
            event = await self.next_event(None)
        except ConnectionClosed:
            raise StopAsyncIteration
        assert event is not None
        return event

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
            self._events.append(obj)
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


__all__ = ["AsyncClient", "connect", "MioError", "ConnectionClosed", "ProtocolError"]
