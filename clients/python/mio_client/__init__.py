"""Python client for mio-daemon (protocol version 1).

Blocking::

    from mio_client import Client
    with Client() as c:
        c.register(read_fd, token=1)
        event = c.next_event(timeout=5)

asyncio::

    from mio_client import AsyncClient
    async with AsyncClient() as c:
        await c.register(read_fd, token=1)
        async for event in c:
            ...
"""

from ._framing import LineReader, FramingError, SCM_MAX_FD, encode, recv_chunk, send_line
from ._common import EVENT_FLAGS, PROTOCOL_VERSION
from .aio import AsyncClient
from .client import Client, connect
from .errors import ERROR_CODES, ConnectionClosed, MioError, ProtocolError
from .paths import SYSTEM_SOCKET, resolve_socket_path

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "ConnectionClosed",
    "ERROR_CODES",
    "EVENT_FLAGS",
    "FramingError",
    "LineReader",
    "MioError",
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
