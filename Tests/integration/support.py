"""Helpers for the integration tests: the daemon process, raw connections
that control the exact bytes and fd placement, fd factories."""

from __future__ import annotations

import array
import json
import os
import pathlib
import select
import signal
import socket
import subprocess
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from mio_testkit import (ProcessWatch, drain, eventfd, inotify, line, pidfd_getfd, signalfd, timerfd,
                         wait_readable)
from mio_testkit import wait_until as _wait_until
from mio_client import Client
from mio_client._framing import LineReader, close_fds, recv_chunk


def daemon_binary_path(repo_root: pathlib.Path) -> str:
    return os.environ.get("MIO_DAEMON_BIN") or str(repo_root / ".build" / "debug" / "mio-daemon")


def _sanitizer(binary: str) -> Optional[str]:
    """"asan"/"tsan" when the binary is built with a sanitizer, else None."""
    try:
        with open(binary, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"__asan_init" in data:
        return "asan"
    if b"__tsan_init" in data:
        return "tsan"
    return None


#: The sanitizer the daemon under test is built with, if any: memory bounds
#: are not checked then (ASan's quarantine), and time bounds are stretched.
SANITIZER = _sanitizer(daemon_binary_path(pathlib.Path(__file__).resolve().parents[2]))
#: Multiplier for time bounds ("answers within 1 s"): $MIO_TEST_TIME_SCALE,
#: else 5 under a sanitizer, else 1.
TIME_SCALE = float(os.environ.get("MIO_TEST_TIME_SCALE") or (5 if SANITIZER else 1))

#: Time to wait for something that should happen (a reply, an event).
WAIT_S = 5.0 * TIME_SCALE
#: Time to watch for something that must not happen.
QUIET_S = 0.3 * TIME_SCALE

#: Exit status recorded for a daemon that ignored SIGTERM and was killed.
KILLED = -999

FLAGS = ("readable", "writable", "error", "read_closed", "write_closed", "priority")


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT_S, interval: float = 0.01, what: str = "condition") -> Any:
    """mio_testkit's, with the sanitizer-scaled default wait."""
    return _wait_until(predicate, timeout, interval, what)


# --------------------------------------------------------------------------
# The daemon process


class Daemon(ProcessWatch):
    def __init__(
        self,
        binary: str,
        workdir: pathlib.Path,
        args: List[str],
        *,
        socket_path: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        popen: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.socket_path = socket_path or str(workdir / "mio.sock")
        self.args = args
        self.env = env
        self.popen_kwargs = popen or {}
        self.stderr_path = workdir / "stderr.log"
        self.stdout_path = workdir / "stdout.log"
        self.proc: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None
        self.fd_baseline = -1
        self.baseline_targets: List[str] = []
        self.expect_exit_zero = True
        self._clients: List[Any] = []

    # -- life cycle ----------------------------------------------------------

    @property
    def command(self) -> List[str]:
        return [self.binary, "--socket", self.socket_path, "--log-level", "debug", *self.args]

    def start(self, wait: bool = True) -> "Daemon":
        env = dict(os.environ)
        env.pop("MIO_SOCKET", None)
        env.pop("LISTEN_FDS", None)
        env.pop("LISTEN_PID", None)
        env.pop("NOTIFY_SOCKET", None)
        env.setdefault("SWIFT_BACKTRACE", "enable=no")
        if self.env:
            env.update(self.env)
        command = self.popen_kwargs.pop("command", None) or self.command
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, **self.popen_kwargs)
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_ready(self, timeout: float = 10.0 * TIME_SCALE) -> None:
        """Wait until the socket accepts a connection and answers a ping;
        then record the fd baseline: the daemon's fd count without client
        connections (measured with the probe connection open, minus one)."""
        end = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"mio-daemon exited with status {self.proc.returncode} during start-up:\n{self.stderr_tail()}")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(max(0.1, end - time.monotonic()))
                probe.connect(self.socket_path)
                probe.sendall(b'{"op":"ping","id":"ready"}\n')
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = probe.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
                if reply.endswith(b"\n"):
                    self.fd_baseline = self.fd_count() - 1
                    probe.close()
                    # tests start with no connection open
                    self.expect_fd_count(self.fd_baseline, what="after the readiness probe closed ")
                    self.baseline_targets = self.fd_targets()
                    return
            except (FileNotFoundError, ConnectionRefusedError, socket.timeout):
                pass
            finally:
                probe.close()
            if time.monotonic() >= end:
                raise AssertionError(f"mio-daemon did not accept a connection within {timeout} s:\n{self.stderr_tail()}")
            time.sleep(0.01)

    def send_signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = WAIT_S) -> int:
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"mio-daemon did not exit within {timeout} s:\n{self.stderr_tail()}")
        return self.returncode

    def stop(self, signum: int = signal.SIGTERM, timeout: float = WAIT_S) -> int:
        """Stop (if running) and return the exit status (negative: killed by signal)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.returncode = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = KILLED
        else:
            self.returncode = self.proc.returncode
        return self.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self, limit: int = 30000) -> str:
        try:
            data = self.stderr_path.read_bytes()
        except OSError:
            return "(no stderr file)"
        text = data[-limit:].decode("utf-8", "replace")
        return text if text else "(empty)"

    # -- connections ---------------------------------------------------------

    def client(self, **kwargs: Any) -> Client:
        kwargs.setdefault("timeout", WAIT_S)
        c = Client(self.socket_path, **kwargs)
        self._clients.append(c)
        return c

    def raw(self, **kwargs: Any) -> "Raw":
        r = Raw(self.socket_path, **kwargs)
        self._clients.append(r)
        return r

    def close_clients(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except OSError:
                pass
        self._clients.clear()

    # -- /proc -----------------------------------------------------------------

    def expect_fd_count(self, expected: int, timeout: float = 2.0 * TIME_SCALE, what: str = "") -> None:
        """Wait (closes are asynchronous to us) until the daemon has exactly
        ``expected`` fds open."""
        self.wait_fd_count(expected, timeout, what, self.fd_baseline, self.baseline_targets)

    def assert_fds_released(self, open_connections: int = 0, held: int = 0, timeout: float = 2.0 * TIME_SCALE) -> None:
        """The fd count returns to the baseline plus the connections still
        open plus ``held``: the client fds the daemon should still hold (and
        the eventfd of each waker)."""
        self.expect_fd_count(self.fd_baseline + open_connections + held, timeout, f"with {open_connections} connection(s) and {held} held fd(s) ")

    def close_all_and_check_fds(self, held: int = 0, timeout: float = 2.0 * TIME_SCALE) -> None:
        """Close every connection this test opened, then wait for the fd count
        to return to the baseline (plus fds held by persistent sessions)."""
        self.close_clients()
        self.assert_fds_released(0, held, timeout)

    def listening_socket_fd_in_daemon(self) -> int:
        """The daemon's fd number of its listening socket (found by inode in
        /proc/net/unix)."""
        inodes = {}
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) >= 8 and parts[7] == self.socket_path and parts[5] == "01":  # SS_UNCONNECTED (listening)
                    inodes[parts[6]] = True
        for name in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(name)
        raise AssertionError("listening socket not found among the daemon's fds")


# --------------------------------------------------------------------------
# Raw connections


class Raw:
    """A connection that sends exactly the bytes and fds a test gives it and
    reads lines (with any fds) in arrival order."""

    def __init__(self, path: str, timeout: float = WAIT_S) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.timeout = timeout
        self.reader = LineReader()
        self.lines: List[Tuple[bytes, List[int]]] = []
        self.eof = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
        for _, fds in self.lines:
            close_fds(fds)
        self.lines.clear()
        self.reader.discard()

    # -- sending -----------------------------------------------------------

    def send(self, data: bytes, fds: Sequence[int] = ()) -> None:
        """One ``sendmsg()`` with ``data`` and ``fds`` (all of ``data`` must go)."""
        if fds:
            sent = socket.send_fds(self.sock, [data], list(fds))
            assert sent == len(data), f"short sendmsg: {sent} of {len(data)}"
        else:
            self.sock.sendall(data)

    def send_json(self, obj: Dict[str, Any], fds: Sequence[int] = ()) -> None:
        self.send(json.dumps(obj, separators=(",", ":")).encode() + b"\n", fds)

    def send_multi_rights(self, data: bytes, fd_groups: Sequence[Sequence[int]]) -> None:
        """One ``sendmsg()`` with one SCM_RIGHTS header per group."""
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", group)) for group in fd_groups]
        sent = self.sock.sendmsg([data], anc)
        assert sent == len(data)

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    # -- receiving ---------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        """Read once; False on timeout. Sets ``eof`` at end of stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if not wait_readable(self.sock.fileno(), remaining):
            return False
        try:
            data, fds = recv_chunk(self.sock, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except ConnectionResetError:
            data, fds = b"", []
        if not data:
            self.eof = True
            return True
        self.lines.extend(self.reader.feed(data, fds))
        return True

    def read_line_fds(self, timeout: Optional[float] = None) -> Tuple[bytes, List[int]]:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.lines:
            if self.eof:
                raise EOFError("daemon closed the connection")
            if not self._fill(deadline) and time.monotonic() >= deadline:
                raise AssertionError(f"no line from the daemon within {timeout or self.timeout} s")
        return self.lines.pop(0)

    def read_line(self, timeout: Optional[float] = None) -> bytes:
        line, fds = self.read_line_fds(timeout)
        assert not fds, f"unexpected fds {fds} with line {line!r}"
        return line

    def read_json(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        line = self.read_line(timeout)
        return json.loads(line)

    def read_reply(self, timeout: Optional[float] = None, events: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
        """The next reply (a line without ``"event"``); events before it go
        to ``events`` if given, else fail the test."""
        while True:
            obj = self.read_json(timeout)
            if "event" in obj:
                if events is None:
                    raise AssertionError(f"expected a reply, got event {obj}")
                events.append(obj)
                continue
            return obj

    def request(self, obj: Dict[str, Any], fds: Sequence[int] = (), timeout: Optional[float] = None) -> Dict[str, Any]:
        self.send_json(obj, fds)
        return self.read_reply(timeout)

    def read_all(self, quiet: float = QUIET_S, limit: float = WAIT_S * 2) -> List[Dict[str, Any]]:
        """Every line until none arrives for ``quiet`` seconds."""
        out = []
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

    def expect_silence(self, duration: float = QUIET_S) -> None:
        """Nothing arrives for ``duration`` seconds."""
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
        """Read until end of stream; returns the lines read meanwhile."""
        deadline = time.monotonic() + timeout
        out = []
        while not self.eof:
            if not self._fill(deadline) and time.monotonic() >= deadline:
                raise AssertionError(f"connection not closed by the daemon within {timeout} s")
        for line, fds in self.lines:
            close_fds(fds)
            out.append(line)
        self.lines.clear()
        return out


def error_code(reply: Dict[str, Any]) -> Optional[str]:
    if reply.get("ok") is False:
        return reply.get("error", {}).get("code")
    return None


def assert_error(reply: Dict[str, Any], code: str, request_id: Any = ..., has_id: Optional[bool] = None) -> None:
    assert reply.get("ok") is False, f"expected error {code}, got {reply}"
    error = reply.get("error")
    assert isinstance(error, dict), reply
    assert error.get("code") == code, f"expected error {code}, got {reply}"
    assert isinstance(error.get("message"), str), reply
    if request_id is not ...:
        assert reply.get("id") == request_id and "id" in reply, reply
    if has_id is False:
        assert "id" not in reply, f"reply must have no id: {reply}"


def assert_ok(reply: Dict[str, Any], request_id: Any = ...) -> None:
    assert reply.get("ok") is True, f"expected ok, got {reply}"
    assert "error" not in reply, reply
    if request_id is not ...:
        assert "id" in reply and reply["id"] == request_id, reply


def ready(token: int, **flags: bool) -> Dict[str, Any]:
    """A full event object: the given flags true, the others false."""
    ev: Dict[str, Any] = {"event": "ready", "token": token}
    for name in FLAGS:
        ev[name] = bool(flags.get(name, False))
    return ev


# --------------------------------------------------------------------------
# fds of every kind


class Fds:
    """Creates fds and closes them all at the end of the test."""

    def __init__(self) -> None:
        self.fds: List[int] = []
        self.objects: List[Any] = []

    def own(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    def keep(self, obj: Any) -> Any:
        self.objects.append(obj)
        return obj

    def pipe(self, nonblocking: bool = True) -> Tuple[int, int]:
        flags = os.O_CLOEXEC | (os.O_NONBLOCK if nonblocking else 0)
        r, w = os.pipe2(flags)
        return self.own(r), self.own(w)

    def socketpair(self) -> Tuple[socket.socket, socket.socket]:
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        self.keep(a)
        self.keep(b)
        return a, b

    def close(self, fd: int) -> None:
        if fd in self.fds:
            self.fds.remove(fd)
        os.close(fd)

    def close_all(self) -> None:
        close_fds(self.fds)
        self.fds.clear()
        for obj in self.objects:
            try:
                obj.close()
            except OSError:
                pass
        self.objects.clear()


__all__ = [
    "Daemon",
    "Raw",
    "Fds",
    "WAIT_S",
    "QUIET_S",
    "SANITIZER",
    "TIME_SCALE",
    "FLAGS",
    "assert_error",
    "assert_ok",
    "daemon_binary_path",
    "drain",
    "error_code",
    "eventfd",
    "inotify",
    "line",
    "pidfd_getfd",
    "ready",
    "signalfd",
    "timerfd",
    "wait_readable",
    "wait_until",
]
