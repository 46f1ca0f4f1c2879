"""Helpers for the hostile-client suite: the daemon process and its /proc
measurements, raw connections that control the exact bytes and fds sent,
and fd probes that show when every copy of an fd has been closed.

Self-contained: nothing here imports the project's Python client.
"""

from __future__ import annotations

import array
import json
import os
import pathlib
import select
import signal
import socket
import struct
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from mio_testkit import (ProcessWatch, _check, _libc, eventfd, line, listening_socket_fd_in, pidfd_getfd,  # noqa: F401
                         signalfd, wait_readable, wait_until)

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]

#: Time to wait for something that should happen (a reply, an event).
WAIT_S = 5.0
#: The daemon must answer a fresh client's ping within this.
PING_S = 1.0
#: The daemon's fd count must be back at its baseline within this.
FD_SETTLE_S = 3.0
#: Default RSS allowance over the baseline taken after start.
RSS_SLACK_MIB = 32

SCM_MAX_FD = 253
INT_SIZE = array.array("i").itemsize
ANCILLARY_SIZE = socket.CMSG_SPACE(SCM_MAX_FD * INT_SIZE) + 256
MSG_CMSG_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0x40000000)

EVENT_FLAGS = ("readable", "writable", "error", "read_closed", "write_closed", "priority")

_MISSING = object()


def daemon_binary_path() -> str:
    return os.environ.get("MIO_DAEMON_BIN") or str(REPO_ROOT / ".build" / "debug" / "mio-daemon")


def close_quietly(fds: Sequence[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# --------------------------------------------------------------------------
# The daemon process


class Daemon(ProcessWatch):
    """One mio-daemon process on a socket in ``workdir``."""

    def __init__(self, binary: str, workdir: pathlib.Path, args: Sequence[str] = (), *, nofile: Optional[int] = None, log_level: str = "debug") -> None:
        self.binary = binary
        self.workdir = workdir
        self.socket_path = str(workdir / "mio.sock")
        self.args = [str(a) for a in args]
        self.nofile = nofile
        self.log_level = log_level
        self.stderr_path = workdir / "stderr.log"
        self.proc: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None
        self.fd_baseline = -1
        self.rss_baseline_kib = -1
        self.baseline_targets: List[str] = []
        self.conns: List["Conn"] = []

    # -- life cycle ------------------------------------------------------------

    @property
    def command(self) -> List[str]:
        cmd = [self.binary, "--socket", self.socket_path, "--log-level", self.log_level, *self.args]
        if self.nofile is not None:
            cmd = ["prlimit", f"--nofile={self.nofile}:{self.nofile}", "--", *cmd]
        return cmd

    def start(self, timeout: float = 10.0) -> "Daemon":
        env = dict(os.environ)
        for name in ("MIO_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(name, None)
        env.setdefault("SWIFT_BACKTRACE", "enable=no")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env, close_fds=True)
        self._wait_ready(timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"mio-daemon exited with status {self.proc.returncode} during start-up:\n{self.stderr_tail()}")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(1.0)
                probe.connect(self.socket_path)
                probe.sendall(b'{"op":"ping","id":"ready"}\n')
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = probe.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
                if reply.endswith(b"\n"):
                    with_probe = self.fd_count()
                    probe.close()
                    self.fd_baseline = with_probe - 1
                    self.expect_fds(self.fd_baseline, what="after the readiness probe closed")
                    self.baseline_targets = self.fd_targets()
                    self.rss_baseline_kib = self.rss_kib()
                    return
            except (FileNotFoundError, ConnectionRefusedError, socket.timeout, ConnectionResetError):
                pass
            finally:
                probe.close()
            if time.monotonic() >= end:
                raise AssertionError(f"mio-daemon did not answer within {timeout} s:\n{self.stderr_tail()}")
            time.sleep(0.01)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM and wait; the exit status (negative: killed by a signal,
        -999: had to be SIGKILLed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.returncode = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = -999
        else:
            self.returncode = self.proc.returncode
        return self.returncode

    def stderr_tail(self, limit: int = 20000) -> str:
        try:
            data = self.stderr_path.read_bytes()
        except OSError:
            return "(no stderr file)"
        text = data[-limit:].decode("utf-8", "replace")
        return text or "(empty)"

    # -- /proc -----------------------------------------------------------------

    def expect_fds(self, expected: int, timeout: float = FD_SETTLE_S, what: str = "") -> None:
        self.wait_fd_count(expected, timeout, what + " ", self.fd_baseline, self.baseline_targets)

    # -- the four checks -------------------------------------------------------

    def ping_fresh(self, timeout: float = PING_S) -> float:
        """A brand-new connection's ping is answered within ``timeout`` s;
        returns the time it took."""
        assert self.alive(), f"mio-daemon died (status {self.proc.poll() if self.proc else None}):\n{self.stderr_tail()}"
        start = time.monotonic()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect(self.socket_path)
            s.sendall(b'{"op":"ping","id":"health"}\n')
            buf = b""
            while b"\n" not in buf:
                remaining = start + timeout - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no ping reply from a fresh client within {timeout} s (got {buf[:200]!r})")
                s.settimeout(remaining)
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    raise AssertionError(f"no ping reply from a fresh client within {timeout} s (got {buf[:200]!r})")
                if not chunk:
                    raise AssertionError(f"daemon closed a fresh client's connection (got {buf[:200]!r})")
                buf += chunk
        finally:
            s.close()
        first = json.loads(buf.split(b"\n", 1)[0])
        assert first == {"id": "health", "ok": True}, first
        return time.monotonic() - start

    def assert_rss_bounded(self, slack_mib: float = RSS_SLACK_MIB) -> int:
        rss = self.rss_kib()
        limit = self.rss_baseline_kib + int(slack_mib * 1024)
        assert rss < limit, f"daemon RSS {rss} KiB, baseline {self.rss_baseline_kib} KiB, allowed < {limit} KiB"
        return rss

    def assert_healthy(self, *, rss_slack_mib: float = RSS_SLACK_MIB, extra_fds: int = 0, fd_timeout: float = FD_SETTLE_S) -> None:
        """(a) alive and answering a fresh client's ping within ~1 s,
        (b) fd count back to the baseline (+ ``extra_fds`` still legitimately
        open), (c) RSS bounded."""
        # first the fds (closes reach the daemon asynchronously, and a
        # connection cap counts connections until it has seen them close)
        assert self.alive(), f"mio-daemon died (status {self.proc.poll() if self.proc else None}):\n{self.stderr_tail()}"
        self.expect_fds(self.fd_baseline + extra_fds, fd_timeout)
        self.ping_fresh()
        self.expect_fds(self.fd_baseline + extra_fds, fd_timeout, what="after the health ping")
        self.assert_rss_bounded(rss_slack_mib)
        assert self.alive(), f"mio-daemon died:\n{self.stderr_tail()}"

    # -- connections -----------------------------------------------------------

    def conn(self, timeout: float = WAIT_S) -> "Conn":
        c = Conn(self.socket_path, timeout)
        self.conns.append(c)
        return c

    def close_conns(self) -> None:
        for c in self.conns:
            c.close()
        self.conns.clear()


# --------------------------------------------------------------------------
# Raw connections


class Conn:
    """A connection that sends exactly the bytes and fds a test gives it and
    reads lines in arrival order (fds that come back are closed)."""

    def __init__(self, path: str, timeout: float = WAIT_S) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.timeout = timeout
        self.buf = b""
        self.lines: List[bytes] = []
        self.events: List[Dict[str, Any]] = []
        self.eof = False
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()

    def hangup(self) -> None:
        """Shut down both directions, then close: also wakes a thread of
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

    # -- sending -------------------------------------------------------------

    def send(self, data: bytes, fds: Sequence[int] = ()) -> None:
        """One ``sendmsg()`` carrying ``data`` and ``fds`` (the rest of a
        large ``data`` follows without fds)."""
        if fds:
            sent = self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", list(fds)))])
            if sent < len(data):
                self.sock.sendall(data[sent:])
        else:
            self.sock.sendall(data)

    def send_groups(self, data: bytes, groups: Sequence[Sequence[int]]) -> None:
        """One ``sendmsg()`` with one SCM_RIGHTS header per group."""
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", list(g))) for g in groups]
        sent = self.sock.sendmsg([data], anc)
        if sent < len(data):
            self.sock.sendall(data[sent:])

    def send_json(self, obj: Dict[str, Any], fds: Sequence[int] = ()) -> None:
        self.send(line(obj), fds)

    # -- receiving -----------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if not wait_readable(self.sock.fileno(), remaining):
            return False
        try:
            data, anc, _flags, _ = self.sock.recvmsg(1 << 16, ANCILLARY_SIZE, MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            data, anc = b"", []
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % INT_SIZE
                close_quietly(array.array("i", payload[:usable]))
        if not data:
            self.eof = True
            return True
        self.buf += data
        if b"\n" in self.buf:
            *done, self.buf = self.buf.split(b"\n")
            self.lines.extend(done)
        return True

    def read_line(self, timeout: Optional[float] = None) -> bytes:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.lines:
            if self.eof:
                raise EOFError(f"daemon closed the connection (unterminated tail {self.buf[:200]!r})")
            if not self._fill(deadline) and time.monotonic() >= deadline:
                raise AssertionError(f"no line from the daemon within {self.timeout if timeout is None else timeout} s")
        return self.lines.pop(0)

    def read_obj(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        text = self.read_line(timeout)
        obj = json.loads(text)
        assert isinstance(obj, dict), text
        return obj

    def reply(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The next reply; events before it are kept in ``self.events``."""
        while True:
            obj = self.read_obj(timeout)
            if "event" in obj:
                self.events.append(obj)
                continue
            return obj

    def request(self, obj: Dict[str, Any], fds: Sequence[int] = (), timeout: Optional[float] = None) -> Dict[str, Any]:
        self.send_json(obj, fds)
        return self.reply(timeout)

    def ok(self, obj: Dict[str, Any], fds: Sequence[int] = ()) -> Dict[str, Any]:
        r = self.request(obj, fds)
        assert r.get("ok") is True, f"{obj} → {r}"
        return r

    def expect_error(self, code: str, id: Any = _MISSING, timeout: Optional[float] = None) -> Dict[str, Any]:
        r = self.reply(timeout)
        assert r.get("ok") is False, f"expected error {code}, got {r}"
        assert r["error"]["code"] == code, f"expected error {code}, got {r}"
        if id is None:
            assert "id" not in r, f"expected no id: {r}"
        elif id is not _MISSING:
            assert r.get("id") == id, f"expected id {id!r}: {r}"
        return r

    def ping(self, id: Any = "p", timeout: Optional[float] = None) -> None:
        r = self.request({"op": "ping", "id": id}, timeout=timeout)
        assert r == {"id": id, "ok": True}, r

    def expect_eof(self, timeout: float = WAIT_S) -> List[bytes]:
        """Read until the daemon closes; returns the lines that came first."""
        deadline = time.monotonic() + timeout
        seen: List[bytes] = []
        while True:
            seen.extend(self.lines)
            self.lines.clear()
            if self.eof:
                return seen
            if not self._fill(deadline) and time.monotonic() >= deadline:
                raise AssertionError(f"daemon did not close the connection within {timeout} s (lines: {seen[:5]})")

    def collect_events(self, quiet: float = 0.3, limit: float = WAIT_S) -> List[Dict[str, Any]]:
        """Read events until nothing arrives for ``quiet`` s (at most
        ``limit`` s); they are added to and returned from ``self.events``."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            while self.lines:
                obj = json.loads(self.lines.pop(0))
                assert "event" in obj, f"unexpected reply {obj}"
                self.events.append(obj)
            if self.eof:
                break
            if not self._fill(min(end, time.monotonic() + quiet)):
                break
        return self.events


# --------------------------------------------------------------------------
# fd probes


class PipeProbes:
    """Pipes whose write ends are given to the daemon; the read ends stay
    here. Once every copy of a write end is closed, its read end sees
    POLLHUP/EOF: that proves the daemon (and the socket queues) let go."""

    def __init__(self) -> None:
        self.read_ends: List[int] = []
        self.write_ends: List[int] = []

    def make(self, n: int = 1) -> List[int]:
        """``n`` new write ends to send (close them with ``drop_ours``
        after sending)."""
        out = []
        for _ in range(n):
            r, w = os.pipe()
            self.read_ends.append(r)
            self.write_ends.append(w)
            out.append(w)
        return out

    def drop_ours(self, fds: Optional[Sequence[int]] = None) -> None:
        """Close our copies of write ends (all of them by default)."""
        targets = list(self.write_ends if fds is None else fds)
        for fd in targets:
            if fd in self.write_ends:
                self.write_ends.remove(fd)
                os.close(fd)

    def released(self) -> List[bool]:
        poller = select.poll()
        for r in self.read_ends:
            poller.register(r, select.POLLIN)
        hup = {fd for fd, ev in poller.poll(0) if ev & select.POLLHUP}
        return [r in hup for r in self.read_ends]

    def assert_released(self, timeout: float = FD_SETTLE_S, what: str = "") -> None:
        end = time.monotonic() + timeout
        while True:
            state = self.released()
            if all(state):
                return
            if time.monotonic() >= end:
                raise AssertionError(f"{state.count(False)} of {len(state)} fds sent to the daemon are still open somewhere {what}")
            time.sleep(0.02)

    def assert_held(self, what: str = "") -> None:
        state = self.released()
        assert not any(state), f"{state.count(True)} of {len(state)} fds were closed, expected held {what}"

    def close(self) -> None:
        close_quietly(self.read_ends + self.write_ends)
        self.read_ends.clear()
        self.write_ends.clear()
