"""Blocking client for mio-daemon."""

from __future__ import annotations

import collections
import select
import socket
import time
from typing import Any, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

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
from ._framing import LineReader, close_fds, recv_chunk, send_line
from .errors import ConnectionClosed, MioError, ProtocolError
from .events import AnyEvent, Event, Notice, event_from_line
from .paths import resolve_socket_path

Reply = Tuple[Dict[str, Any], List[int]]


class _OpenRequest:
    """A request sent and not answered yet. One whose caller stopped
    waiting (timeout) stays in line, so that the replies after it still
    match; its reply is dropped when it comes."""

    __slots__ = ("request_id", "reply", "abandoned")

    def __init__(self, request_id: Any) -> None:
        self.request_id = request_id
        self.reply: Optional[Reply] = None
        self.abandoned = False


class Client:
    """A blocking connection to mio-daemon.

    Requests are answered in order; event lines that arrive between replies
    are queued and returned by :meth:`next_event` as :class:`Event` and
    :class:`Notice` values. Not thread-safe: use one ``Client`` per thread
    (a connection is cheap), or :class:`AsyncClient`.

    ``timeout`` (seconds, ``None`` = for ever) bounds every wait: connecting,
    each request, :meth:`next_event`. A call may pass its own ``timeout``.
    A request that runs out of time raises :class:`TimeoutError`; its late
    reply is dropped, and later requests still get theirs.
    """

    def __init__(self, path: Optional[str] = None, *, timeout: Optional[float] = DEFAULT_TIMEOUT, connect: bool = True) -> None:
        self.path = resolve_socket_path(path)
        self.timeout = seconds(timeout)
        self.sock: Optional[socket.socket] = None
        self._reader = LineReader()
        self._requests = RequestBuilder()
        self._events: Deque[AnyEvent] = collections.deque()
        self._open: Deque[_OpenRequest] = collections.deque()
        self._callbacks = Callbacks()
        #: Replies that arrived when no request was open (e.g. ``permission_denied``
        #: right after accept). Kept for inspection.
        self.stray_replies: Deque[Dict[str, Any]] = collections.deque()
        self._eof = False
        if connect:
            self.connect()

    # -- connection ---------------------------------------------------------

    def connect(self) -> "Client":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        return self

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._reader.discard()
        for entry in self._open:
            if entry.reply is not None:
                close_fds(entry.reply[1])
        self._open.clear()

    def shutdown_write(self) -> None:
        """Shut down the sending side: the daemon answers what it has and keeps
        sending events (docs/protocol.md, "End of input")."""
        self._socket().shutdown(socket.SHUT_WR)

    def fileno(self) -> int:
        return self._socket().fileno()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def at_eof(self) -> bool:
        """True once the daemon closed the connection."""
        return self._eof

    def _socket(self) -> socket.socket:
        if self.sock is None:
            raise ConnectionClosed("client is closed")
        return self.sock

    # -- requests -----------------------------------------------------------

    def send_request(self, op: str, /, *, fds: Sequence[FdLike] = (), **fields: Any) -> Any:
        """Send one request without waiting; returns its id. With fds, the
        line and its fds go in one ``sendmsg()`` of their own (docs/protocol.md,
        "Sending: one `sendmsg()` per `register`")."""
        request_id, line = self._requests.build(op, dict(fields))
        entry = _OpenRequest(request_id)
        self._open.append(entry)
        try:
            send_line(self._socket(), line, [fd_of(f) for f in fds])
        except BaseException:
            self._open.remove(entry)
            raise
        return request_id

    def wait_reply(self, request_id: Any, timeout: Any = ..., /) -> Reply:
        """Wait for the reply to ``request_id`` (sent with :meth:`send_request`).
        Returns ``(reply, fds)``; does not raise on ``ok:false``. Raises
        :class:`TimeoutError` after ``timeout`` seconds."""
        deadline = self._deadline(timeout)
        entry = next((e for e in self._open if e.request_id == request_id and not e.abandoned), None)
        if entry is None:
            raise ProtocolError(f"no open request with id {request_id!r}")
        while entry.reply is None:
            try:
                self._pump(deadline, what=f"reply to request {request_id!r}")
            except TimeoutError:
                entry.abandoned = True
                raise
        self._open.remove(entry)
        return entry.reply

    def request_with_fds(self, op: str, /, *, fds: Sequence[FdLike] = (), timeout: Any = ..., **fields: Any) -> Reply:
        """Send a request, wait for its reply; returns ``(reply, fds)``.
        Raises :class:`MioError` on ``ok:false``. The caller owns the fds."""
        timeout = resolve_timeout(timeout, self.timeout)  # a bad one is refused before anything is sent
        request_id = self.send_request(op, fds=fds, **fields)
        reply, got = self.wait_reply(request_id, timeout)
        return check_reply(reply, got)

    def request(self, op: str, /, *, fds: Sequence[FdLike] = (), timeout: Any = ..., **fields: Any) -> Dict[str, Any]:
        """Send a request, wait for its reply dict. Raises :class:`MioError`
        on ``ok:false``. fds that come with the reply are closed."""
        reply, got = self.request_with_fds(op, fds=fds, timeout=timeout, **fields)
        close_fds(got)
        return reply

    # -- ops (docs/protocol.md, "Operations") ---------------------------------

    def hello(
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
        return self.request("hello", **hello_fields(session, persist, takeover, delivery, protocol, client, lease, remove_lease))

    def register(self, fd: FdLike, token: int, interest: InterestLike = ("readable",), mode: str = "edge") -> Dict[str, Any]:
        """Register ``fd`` (the daemon receives a duplicate; the caller keeps
        and still owns its own)."""
        return self.request("register", fds=[fd], token=token, interest=interest_list(interest), mode=mode)

    def reregister(self, token: int, interest: InterestLike = ("readable",), mode: str = "edge") -> Dict[str, Any]:
        return self.request("reregister", token=token, interest=interest_list(interest), mode=mode)

    def deregister(self, token: int) -> Dict[str, Any]:
        return self.request("deregister", token=token)

    def store(self, fd: FdLike, token: int) -> Dict[str, Any]:
        """Hand ``fd`` (any kind: a memfd, a regular file, a directory) to the
        daemon to hold under ``token``, never polled."""
        return self.request("store", fds=[fd], token=token)

    def timer(self, token: int, after: float, every: Optional[float] = None) -> Dict[str, Any]:
        """A timer of the daemon's: a readable event for ``token`` after
        ``after`` seconds, then every ``every`` seconds."""
        return self.request("timer", token=token, **timer_fields(after, every))

    def waker(self, token: int) -> Dict[str, Any]:
        return self.request("waker", token=token)

    def wake(self, token: int, session: Optional[str] = None) -> Dict[str, Any]:
        if session is None:
            return self.request("wake", token=token)
        return self.request("wake", token=token, session=session)

    def poll(self, timeout: Optional[float] = None, max_events: Optional[int] = None, *, timeout_ms: Optional[int] = None) -> List[Event]:
        """Wait for readiness as mio's ``Poll::poll`` does (only in
        ``delivery="poll"`` sessions): ``timeout`` in seconds, ``None`` for
        ever, ``0`` return at once. The reply is awaited for that long plus
        the client's timeout. (``timeout_ms`` is 0.1's spelling.)"""
        fields, poll_timeout = poll_fields(timeout, max_events, timeout_ms)
        reply = self.request("poll", timeout=reply_wait(poll_timeout, self.timeout), **fields)
        return [Event.from_wire(obj) for obj in reply["events"]]

    def fetch(self, token: int, deregister: bool = False) -> int:
        """Get the held fd back (a duplicate). The caller owns the returned fd."""
        reply, fds = self.request_with_fds("fetch", token=token, deregister=deregister)
        if len(fds) != 1:
            close_fds(fds)
            raise ProtocolError(f"fetch reply carried {len(fds)} fds, expected 1: {reply!r}")
        return fds[0]

    def list(self) -> List[Dict[str, Any]]:
        return list(self.request("list")["registrations"])

    def stats(self) -> Dict[str, Any]:
        return dict(self.request("stats")["stats"])

    def end(self) -> Dict[str, Any]:
        return self.request("end")

    def ping(self) -> Dict[str, Any]:
        return self.request("ping")

    # -- events -------------------------------------------------------------

    def next_event(self, timeout: Any = ...) -> Optional[AnyEvent]:
        """The next :class:`Event` or :class:`Notice`, or ``None`` after
        ``timeout`` seconds (default: the client's timeout; ``None``: wait
        for ever). Raises :class:`ConnectionClosed` at end of stream once
        queued events are taken."""
        deadline = self._deadline(timeout)
        while not self._events:
            if self._eof:
                raise ConnectionClosed("daemon closed the connection")
            if not self._pump(deadline, what="event", raise_on_timeout=False):
                return None
        return self._events.popleft()

    def events(self, timeout: Any = ...) -> Iterator[AnyEvent]:
        """Yield events until none arrives for ``timeout`` seconds (or EOF)."""
        while True:
            try:
                event = self.next_event(timeout)
            except ConnectionClosed:
                return
            if event is None:
                return
            yield event

    def __iter__(self) -> Iterator[AnyEvent]:
        """Every event until the daemon closes the connection (no timeout),
        as ``async for`` on an :class:`AsyncClient`."""
        return self.events(None)

    def pending_events(self) -> List[AnyEvent]:
        """Take the events already queued, without waiting."""
        out = list(self._events)
        self._events.clear()
        return out

    # -- callbacks ----------------------------------------------------------

    def on(self, token: int, callback: Callback) -> None:
        """Have :meth:`run` call ``callback(event)`` for each event of ``token``."""
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

    def run(self) -> Optional[Notice]:
        """Call the :meth:`on` callbacks, event by event, in arrival order.
        Returns ``None`` when the daemon closes the connection or a callback
        called :meth:`stop`, or the first :class:`Notice` that has no
        :meth:`on_notice` callback. An exception in a callback ends ``run``
        and propagates."""
        self._callbacks.stopping = False
        while not self._callbacks.stopping:
            try:
                event = self.next_event(None)
            except ConnectionClosed:
                return None
            assert event is not None
            callback = self._callbacks.target(event)
            if callback is not None:
                callback(event)
            elif isinstance(event, Notice):
                return event
        return None

    def stop(self) -> None:
        """End :meth:`run` after the callback that calls this."""
        self._callbacks.stopping = True

    # -- internals ----------------------------------------------------------

    def _deadline(self, timeout: Any) -> Optional[float]:
        timeout = resolve_timeout(timeout, self.timeout)
        return None if timeout is None else time.monotonic() + timeout

    def _pump(self, deadline: Optional[float], what: str, raise_on_timeout: bool = True) -> bool:
        """Read once (waiting until ``deadline``) and dispatch what arrived.
        Returns False on timeout when ``raise_on_timeout`` is False."""
        sock = self._socket()
        if self._eof:
            self._fail_open()
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = poller.poll(None if remaining is None else int(remaining * 1000) + 1)
            if ready:
                break
            if deadline is not None and time.monotonic() >= deadline:
                if raise_on_timeout:
                    raise TimeoutError(f"no {what} from mio-daemon at {self.path} in time")
                return False
        try:
            data, fds = recv_chunk(sock)
        except (ConnectionResetError, BrokenPipeError):
            data, fds = b"", []
        if not data:
            close_fds(fds)
            self._eof = True
            self._reader.discard()
            self._fail_open()
            return True
        for line, line_fds in self._reader.feed(data, fds):
            self._dispatch(line, line_fds)
        return True

    def _fail_open(self) -> None:
        if any(entry.reply is None and not entry.abandoned for entry in self._open):
            if self.stray_replies:
                stray = self.stray_replies[-1]
                if stray.get("ok") is False:
                    raise MioError.from_reply(stray)
            raise ConnectionClosed("daemon closed the connection before replying")

    def _dispatch(self, line: bytes, fds: List[int]) -> None:
        if not line.strip():
            close_fds(fds)
            return
        obj = decode_line(line)
        if is_event(obj):
            close_fds(fds)
            self._events.append(event_from_line(obj))
            return
        for entry in self._open:
            if entry.reply is None:
                check_reply_id(entry.request_id, obj)
                if entry.abandoned:  # its caller gave up waiting
                    self._open.remove(entry)
                    close_fds(fds)
                else:
                    entry.reply = (obj, fds)
                return
        close_fds(fds)
        self.stray_replies.append(obj)


def connect(path: Optional[str] = None, **kwargs: Any) -> Client:
    """``Client(path, **kwargs)``."""
    return Client(path, **kwargs)


__all__ = ["Client", "connect", "MioError", "ConnectionClosed", "ProtocolError", "Event", "Notice"]
