"""Line framing with SCM_RIGHTS fd attachment (docs/protocol.md, "Connecting
and framing" and "How the daemon matches fds to lines").

Linux ends a ``recvmsg()`` on a stream socket at the end of the message that
carried fds, and never joins the fds of two messages. So the fds returned by
one ``recvmsg()`` belong to the last line that *begins* within the bytes that
call returned; if no line begins there, to the line that runs through them.
The daemon attaches fds to requests by this rule, and a client can attach the
fds of a ``fetch`` reply by the same rule (the daemon sends that reply line
alone in its ``sendmsg()``).
"""

from __future__ import annotations

import array
import json
import os
import socket
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: The kernel's limit on fds in one SCM_RIGHTS message.
SCM_MAX_FD = 253

#: Bytes read per ``recvmsg()``.
RECV_SIZE = 65536

_INT_SIZE = array.array("i").itemsize
#: Control buffer that fits SCM_MAX_FD fds (and, generously, more headers).
ANCILLARY_SIZE = socket.CMSG_SPACE(SCM_MAX_FD * _INT_SIZE) + 256

#: ``MSG_CMSG_CLOEXEC`` (Linux); the fds a client receives are close-on-exec.
MSG_CMSG_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0x40000000)


class FramingError(Exception):
    """The peer broke line framing (a line too long, fds truncated, …)."""


def close_fds(fds: Sequence[int]) -> None:
    """Close every fd in ``fds``, ignoring ones already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def encode(obj: Dict[str, Any]) -> bytes:
    """One JSON object as one line: compact, UTF-8, ended by ``\\n``."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def fds_from_ancillary(ancdata: List[Tuple[int, int, bytes]]) -> List[int]:
    """Every fd of every SCM_RIGHTS header of one ``recvmsg()`` result."""
    fds: List[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - (len(data) % _INT_SIZE)
            fds.extend(array.array("i", data[:usable]))
    return fds


def recv_chunk(sock: socket.socket, flags: int = 0) -> Tuple[bytes, List[int]]:
    """One ``recvmsg()``: the bytes and every fd that came with them.

    Raises :class:`FramingError` (after closing what did arrive) if the
    control data was truncated. ``b""`` means end of stream.
    """
    data, ancdata, msg_flags, _ = sock.recvmsg(RECV_SIZE, ANCILLARY_SIZE, MSG_CMSG_CLOEXEC | flags)
    fds = fds_from_ancillary(ancdata)
    if msg_flags & socket.MSG_CTRUNC:
        close_fds(fds)
        raise FramingError("control data truncated (MSG_CTRUNC): fds were lost")
    return data, fds


class LineReader:
    """Splits a byte stream into lines and attaches fds to them.

    ``feed(data, fds)`` takes the result of one ``recvmsg()`` and returns the
    lines it completed, each as ``(line_without_newline, fds)``. A ``\\r``
    before the ``\\n`` is removed. fds that arrive for a line that is not
    complete yet wait with that line.
    """

    def __init__(self, max_line: Optional[int] = None) -> None:
        self._buffer = bytearray()
        self._partial_fds: List[int] = []
        self.max_line = max_line

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unterminated line held so far."""
        return len(self._buffer)

    def feed(self, data: bytes, fds: Sequence[int] = ()) -> List[Tuple[bytes, List[int]]]:
        chunk_start = len(self._buffer)
        self._buffer += data
        chunk_end = len(self._buffer)

        # Start offsets (in the buffer) of complete lines, and where each ends.
        lines: List[Tuple[int, int]] = []
        start = 0
        while True:
            nl = self._buffer.find(b"\n", max(start, chunk_start))
            if nl < 0:
                break
            lines.append((start, nl))
            start = nl + 1
        partial_start = start

        # Which line gets this chunk's fds: the last that begins within the
        # chunk's bytes, else the one that runs through them.
        owner: Optional[int] = None  # index into lines, or len(lines) for the partial line
        if fds:
            for index in range(len(lines), -1, -1):
                begin = partial_start if index == len(lines) else lines[index][0]
                if index == len(lines) and partial_start >= chunk_end:
                    continue  # the partial line is empty: it does not begin in this chunk
                if chunk_start <= begin < chunk_end or (index == 0 and begin < chunk_start):
                    owner = index
                    break
            if owner is None:  # pragma: no cover - defensive; cannot happen with fds and data
                owner = len(lines)

        out: List[Tuple[bytes, List[int]]] = []
        for index, (begin, end) in enumerate(lines):
            line = bytes(self._buffer[begin:end])
            if line.endswith(b"\r"):
                line = line[:-1]
            line_fds: List[int] = []
            if index == 0 and self._partial_fds:
                line_fds.extend(self._partial_fds)
                self._partial_fds = []
            if owner == index:
                line_fds.extend(fds)
            out.append((line, line_fds))

        del self._buffer[:partial_start]
        if owner == len(lines):
            self._partial_fds.extend(fds)
        if self.max_line is not None and len(self._buffer) > self.max_line + 1:
            self.discard()
            raise FramingError(f"line longer than {self.max_line} bytes")
        return out

    def discard(self) -> List[int]:
        """Drop an unterminated line; close and return its fds."""
        fds = self._partial_fds
        self._buffer.clear()
        self._partial_fds = []
        close_fds(fds)
        return fds


def send_line(sock: socket.socket, line: bytes, fds: Sequence[int] = ()) -> None:
    """Send one line; with fds, in one ``sendmsg()`` of its own (docs/protocol.md,
    "Sending: one `sendmsg()` per `register`").

    If the kernel takes only part of the line (possible on a socket with a
    timeout), the rest follows without fds; the fds stay with the line
    because the line begins in the first part.
    """
    if fds:
        sent = socket.send_fds(sock, [line], list(fds))
        if sent < len(line):
            sock.sendall(line[sent:])
    else:
        sock.sendall(line)
