"""Python client for mio-daemon (protocol version 1).

Blocking::

    from mio_client import Client
    with Client(timeout=10) as c:            # seconds; every call waits at most this
        c.register(read_fd, token=1)
        event = c.next_event()                # Event(token=1, readable=True), or None
        if event is not None and event.is_readable:
            ...

asyncio, a callback per token::

    from mio_client import AsyncClient
    async with AsyncClient() as c:
        await c.register(read_fd, token=1)
        c.on(1, on_ready)                     # on_ready(event), may be async
        await c.run()                         # until the daemon closes the connection
"""

from ._framing import LineReader, FramingError, SCM_MAX_FD, encode, recv_chunk, send_line
from ._common import DEFAULT_TIMEOUT, PROTOCOL_VERSION
from .aio import AsyncClient
from .client import Client, connect
from .errors import ERROR_CODES, ConnectionClosed, MioError, ProtocolError
from .events import EVENT_FLAGS, AnyEvent, Event, Notice
from .paths import SYSTEM_SOCKET, resolve_socket_path

__version__ = "0.2.0"

__all__ = [
    "AnyEvent",
    "AsyncClient",
    "Client",
    "ConnectionClosed",
    "DEFAULT_TIMEOUT",
    "ERROR_CODES",
    "EVENT_FLAGS",
    "Event",
    "FramingError",
    "LineReader",
    "MioError",
    "Notice",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "SCM_MAX_FD",
    "SYSTEM_SOCKET",
    "connect",
    "encode",
    "recv_chunk",
    "resolve_socket_path",
    "send_line",
]
