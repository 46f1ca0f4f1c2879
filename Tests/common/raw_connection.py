"""A connection to the daemon that controls the exact bytes and fd placement
(docs/protocol.md, "Connecting and framing" and "Passing file
descriptors"): the tests' way of talking to the daemon below any client
library. The line splitting and fd attachment are the Python client's
(``mio_client._framing``), which its own unit tests pin down."""

from __future__ import annotations

import array
import json
import socket
import struct
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mio_client._framing import LineReader, close_fds, recv_chunk
from replies import assert_error
from timing import QUIET_S, WAIT_S, wait_readable

#: The kernel's limit on fds in one SCM_RIGHTS message.
SCM_MAX_FD = 253

_MISSING = object()


def line(obj: Dict[str, Any]) -> bytes:
    """One request line, compact, with its newline."""
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


class RawConnection:
    """Sends exactly the bytes and fds a test gives it; reads lines, with the
    fds that came with each, in arrival order.

    ``strict`` (the default, for tests of documented behaviour): a line that
    brings fds where ``read_line``/``read_json`` expected none fails the
    test, and so does an event where ``read_reply`` expected a reply (unless
    it is given a list for events). Not strict (for abuse tests, where only
    what the test looks at matters): such fds are closed, and events met on
    the way to a reply are kept in ``events``.
    """

    def __init__(self, path: str, timeout: float = WAIT_S, *, strict: bool = True) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self.timeout = timeout
        self.strict = strict
        self.reader = LineReader()
        #: Lines read from the socket and not taken yet, with their fds.
        self.lines: List[Tuple[bytes, List[int]]] = []
        #: Events ``read_reply`` passed over (not strict only).
        self.events: List[Dict[str, Any]] = []
        self.eof = False
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    # -- ending ------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.sock.close()
        for _, fds in self.lines:
            close_fds(fds)
        self.lines.clear()
        self.reader.discard()

    def hangup(self) -> None:
        """Shut down both directions, then close: this also wakes a thread of
        ours blocked in ``sendall`` on this socket (a plain close would wait
        for it)."""
        if not self.closed:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close()

    def abort(self) -> None:
        """Close with SO_LINGER 0: the daemon's next write fails with
        ECONNRESET/EPIPE."""
        if not self.closed:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close()

    def shutdown_write(self) -> None:
        """End of input: the daemon answers what it has and keeps sending
        events."""
        self.sock.shutdown(socket.SHUT_WR)

    # -- sending -----------------------------------------------------------

    def send(self, data: bytes, fds: Sequence[int] = ()) -> None:
        """One ``sendmsg()`` carrying ``data`` and ``fds``; if the kernel takes
        only part of a large ``data``, the rest follows without fds."""
        if fds:
            sent = self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", list(fds)))])
            if sent < len(data):
                self.sock.sendall(data[sent:])
        else:
            self.sock.sendall(data)

    def send_json(self, obj: Dict[str, Any], fds: Sequence[int] = ()) -> None:
        self.send(line(obj), fds)

    def send_groups(self, data: bytes, groups: Sequence[Sequence[int]]) -> None:
        """One ``sendmsg()`` with one SCM_RIGHTS header per group of fds."""
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", list(group))) for group in groups]
        sent = self.sock.sendmsg([data], anc)
        if sent < len(data):
            self.sock.sendall(data[sent:])

    # -- receiving: lines ----------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        """Read once, waiting until ``deadline``; False on timeout. Sets
        ``eof`` at end of stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if not wait_readable(self.sock.fileno(), remaining):
            return False
        try:
            data, fds = recv_chunk(self.sock, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            data, fds = b"", []
        if not data:
            close_fds(fds)
            self.eof = True
            return True
        self.lines.extend(self.reader.feed(data, fds))
        return True

    def _timeout(self, timeout: Optional[float]) -> float:
        return self.timeout if timeout is None else timeout

    def read_line_fds(self, timeout: Optional[float] = None) -> Tuple[bytes, List[int]]:
        """The next line and the fds that came with it (the caller's to close)."""
        deadline = time.monotonic() + self._timeout(timeout)
        while not self.lines:
            if self.eof:
                raise EOFError(f"daemon closed the connection (unterminated tail: {self.reader.pending_bytes} bytes)")
            if not self._fill(deadline) and time.monotonic() >= deadline:
                raise AssertionError(f"no line from the daemon within {self._timeout(timeout)} s")
        return self.lines.pop(0)

    def read_line(self, timeout: Optional[float] = None) -> bytes:
        text, fds = self.read_line_fds(timeout)
        if fds:
            close_fds(fds)
            assert not self.strict, f"unexpected fds {fds} with line {text!r}"
        return text

    def read_json(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        text = self.read_line(timeout)
        obj = json.loads(text)
        assert isinstance(obj, dict), text
        return obj

    # -- receiving: replies and events ----------------------------------------

    def read_reply(self, timeout: Optional[float] = None, events: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
        """The next reply (a line without ``"event"``). Events before it go to
        ``events`` if given; else, strict, they fail the test, and not
        strict, they go to ``self.events``."""
        while True:
            obj = self.read_json(timeout)
            if "event" not in obj:
                return obj
            if events is not None:
                events.append(obj)
            elif self.strict:
                raise AssertionError(f"expected a reply, got event {obj}")
            else:
                self.events.append(obj)

    def request(self, obj: Dict[str, Any], fds: Sequence[int] = (), timeout: Optional[float] = None) -> Dict[str, Any]:
        self.send_json(obj, fds)
        return self.read_reply(timeout)

    def ok(self, obj: Dict[str, Any], fds: Sequence[int] = ()) -> Dict[str, Any]:
        """``request``, and its reply must be ``ok:true``."""
        reply = self.request(obj, fds)
        assert reply.get("ok") is True, f"{obj} → {reply}"
        return reply

    def expect_error(self, code: str, id: Any = _MISSING, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The next reply is the error ``code``; with ``id`` it echoes that id
        (``id=None``: it has none)."""
        reply = self.read_reply(timeout)
        if id is _MISSING:
            assert_error(reply, code)
        elif id is None:
            assert_error(reply, code, has_id=False)
        else:
            assert_error(reply, code, id)
        return reply

    def ping(self, id: Any = "p", timeout: Optional[float] = None) -> None:
        reply = self.request({"op": "ping", "id": id}, timeout=timeout)
        assert reply == {"id": id, "ok": True}, reply

    def read_all(self, quiet: float = QUIET_S, limit: float = WAIT_S * 2) -> List[Dict[str, Any]]:
        """Every line until none arrives for ``quiet`` seconds (or end of
        stream); fails if the daemon is still sending after ``limit``."""
        out: List[Dict[str, Any]] = []
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                out.append(json.loads(self.read_line(min(quiet, max(0.01, end - time.monotonic())))))
            except AssertionError as exc:
                if "no line" in str(exc):
                    return out
                raise
            except EOFError:
                return out
        raise AssertionError(f"the daemon kept sending for {limit} s")

    def collect_events(self, quiet: float = QUIET_S, limit: float = WAIT_S) -> List[Dict[str, Any]]:
        """Read events until nothing arrives for ``quiet`` s (at most
        ``limit`` s); they are added to and returned in ``self.events``. A
        reply among them fails the test."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            while self.lines:
                text, fds = self.lines.pop(0)
                close_fds(fds)
                obj = json.loads(text)
                assert "event" in obj, f"unexpected reply {obj}"
                self.events.append(obj)
            if self.eof:
                break
            if not self._fill(min(end, time.monotonic() + quiet)):
                break
        return self.events

    def expect_silence(self, duration: float = QUIET_S) -> None:
        """Nothing arrives for ``duration`` seconds, and the connection stays open."""
        if self.lines:
            raise AssertionError(f"unexpected line: {self.lines[0][0]!r}")
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            self._fill(deadline)
            if self.lines:
                raise AssertionError(f"unexpected line: {self.lines[0][0]!r}")
            if self.eof:
                raise AssertionError("daemon closed the connection")

    def wait_eof(self, timeout: float = WAIT_S) -> List[bytes]:
        """Read until the daemon closes the connection; returns the lines that
        came first (their fds closed)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._fill(deadline) and time.monotonic() >= deadline:
                seen = [text for text, _ in self.lines[:5]]
                raise AssertionError(f"daemon did not close the connection within {timeout} s (lines: {seen})")
        out = []
        for text, fds in self.lines:
            close_fds(fds)
            out.append(text)
        self.lines.clear()
        return out
