"""One mio-daemon process under test: started with the test's flags and
environment on a socket of its own, ready once it answers a ping, watched
through /proc, stopped with SIGTERM. Every suite and the soak use this."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mio_testkit import ProcessWatch, listening_socket_fd_in
from raw_connection import RawConnection
from timing import FD_SETTLE_S, PING_S, TIME_SCALE, WAIT_S, wait_until

#: Exit status recorded for a daemon that ignored SIGTERM and was killed.
KILLED = -999
#: Default RSS allowance over the baseline taken after start.
RSS_SLACK_MIB = 32

#: Inherited from the test's environment, these would change how the daemon
#: starts (socket path, activation, notification): a test sets them itself.
_STARTUP_VARIABLES = ("MIO_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
_LISTEN_FDS_EXEC = str(pathlib.Path(__file__).resolve().parent / "listen_fds_exec.py")


class Daemon(ProcessWatch):
    """A mio-daemon in ``workdir``: its socket is ``workdir/mio.sock`` unless
    ``socket_path`` says otherwise, its stderr and stdout go to
    ``stderr.log``/``stdout.log`` there.

    - ``args``: extra flags; ``log_level``: ``--log-level`` (None: no flag);
    - ``env``: variables for the daemon (the startup ones of the test's own
      environment are removed first);
    - ``nofile``: run under ``prlimit --nofile=N:N``;
    - ``listen_fds``: ``[(fd, name), …]`` handed over as systemd does
      (socket activation, the fd store); ``socket_flag=False`` leaves out
      ``--socket`` (the unit files do);
    - ``wrapper``: a command that execs the daemon's command line
      (``systemd-socket-activate -l PATH``);
    - ``raw_strict``: the default ``strict`` of :meth:`raw` connections;
    - ``popen``: passed to ``subprocess.Popen`` (``preexec_fn``, …).
    """

    def __init__(
        self,
        binary: str,
        workdir: pathlib.Path,
        args: Sequence[Any] = (),
        *,
        socket_path: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        log_level: Optional[str] = "debug",
        nofile: Optional[int] = None,
        listen_fds: Sequence[Tuple[int, str]] = (),
        socket_flag: bool = True,
        wrapper: Sequence[str] = (),
        raw_strict: bool = True,
        popen: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.binary = binary
        self.workdir = pathlib.Path(workdir)
        self.socket_path = socket_path or str(self.workdir / "mio.sock")
        self.args = [str(a) for a in args]
        self.extra_env = dict(env or {})
        self.log_level = log_level
        self.nofile = nofile
        self.listen_fds = list(listen_fds)
        self.socket_flag = socket_flag
        self.wrapper = list(wrapper)
        self.raw_strict = raw_strict
        self.popen_kwargs = dict(popen or {})
        self.stderr_path = self.workdir / "stderr.log"
        self.stdout_path = self.workdir / "stdout.log"
        self.proc: Optional[subprocess.Popen] = None
        self.returncode: Optional[int] = None
        #: The daemon's fd count with no client connected, taken at start.
        self.fd_baseline = -1
        self.baseline_targets: List[str] = []
        self.rss_baseline_kib = -1
        #: Whether the test harness should require exit status 0 at the end.
        self.expect_exit_zero = True
        #: Every connection this object opened (closed by ``close_connections``).
        self.connections: List[Any] = []

    # -- life cycle ----------------------------------------------------------

    @property
    def command(self) -> List[str]:
        cmd = [self.binary]
        if self.socket_flag:
            cmd += ["--socket", self.socket_path]
        if self.log_level is not None:
            cmd += ["--log-level", self.log_level]
        cmd += self.args
        if self.listen_fds:
            pairs = [f"{fd}:{name}" for fd, name in self.listen_fds]
            cmd = [sys.executable, _LISTEN_FDS_EXEC, *pairs, "--", *cmd]
        if self.nofile is not None:
            cmd = ["prlimit", f"--nofile={self.nofile}:{self.nofile}", "--", *cmd]
        return self.wrapper + cmd

    def start(self, wait: bool = True, timeout: float = 10.0 * TIME_SCALE) -> "Daemon":
        env = dict(os.environ)
        for name in _STARTUP_VARIABLES:
            env.pop(name, None)
        env.setdefault("SWIFT_BACKTRACE", "enable=no")
        env.update(self.extra_env)
        popen = dict(self.popen_kwargs)
        if self.listen_fds:
            popen["pass_fds"] = tuple(popen.get("pass_fds", ())) + tuple(fd for fd, _ in self.listen_fds)
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, **popen)
        if wait:
            self.wait_ready(timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the daemon was not started"
        return self.proc.pid

    def wait_ready(self, timeout: float = 10.0 * TIME_SCALE) -> None:
        """Wait until the socket answers a ping; then record the baselines:
        the fd count with no client connected (measured with the probe
        connection open, minus one), the fd targets and the RSS."""
        end = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"mio-daemon exited with status {self.proc.returncode} during start-up:\n{self.stderr_tail()}")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.settimeout(max(0.1, min(1.0, end - time.monotonic())))
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
                    self.rss_baseline_kib = self.rss_kib()
                    return
            except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, socket.timeout):
                pass
            finally:
                probe.close()
            if time.monotonic() >= end:
                raise AssertionError(f"mio-daemon did not answer a ping within {timeout} s:\n{self.stderr_tail()}")
            time.sleep(0.01)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = WAIT_S) -> int:
        """Wait for the daemon to exit by itself; its exit status."""
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"mio-daemon did not exit within {timeout} s:\n{self.stderr_tail()}")
        return self.returncode

    def stop(self, signum: int = signal.SIGTERM, timeout: float = WAIT_S) -> int:
        """Signal (if still running) and wait; the exit status (negative:
        killed by a signal; ``KILLED``: ignored ``signum`` and was SIGKILLed)."""
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

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP for the ``with`` block (the kernel still accepts
        connections and buffers requests, nothing is answered), SIGCONT
        after it."""
        self.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: self.state() == "T", what="the daemon to stop (SIGSTOP)")
            yield
        finally:
            self.send_signal(signal.SIGCONT)

    def stderr_tail(self, limit: int = 30000) -> str:
        try:
            data = self.stderr_path.read_bytes()
        except OSError:
            return "(no stderr file)"
        text = data[-limit:].decode("utf-8", "replace")
        return text or "(empty)"

    # -- connections ---------------------------------------------------------

    def client(self, **kwargs: Any) -> Any:
        """A ``mio_client.Client`` on this daemon, closed at teardown."""
        from mio_client import Client

        kwargs.setdefault("timeout", WAIT_S)
        c = Client(self.socket_path, **kwargs)
        self.connections.append(c)
        return c

    def raw(self, timeout: float = WAIT_S, *, strict: Optional[bool] = None) -> RawConnection:
        """A :class:`RawConnection` on this daemon, closed at teardown."""
        r = RawConnection(self.socket_path, timeout, strict=self.raw_strict if strict is None else strict)
        self.connections.append(r)
        return r

    def close_connections(self) -> None:
        for c in self.connections:
            try:
                c.close()
            except OSError:
                pass
        self.connections.clear()

    @property
    def client_env(self) -> Dict[str, str]:
        """The environment for a program that talks to this daemon (mioctl,
        the examples, the recipes): ``MIO_SOCKET``, and mioctl on ``PATH``
        and in ``$MIOCTL``."""
        from binaries import mioctl_binary

        mioctl = mioctl_binary()
        return dict(os.environ, MIO_SOCKET=self.socket_path, MIOCTL=mioctl,
                    PATH=f"{os.path.dirname(mioctl)}:{os.environ.get('PATH', '')}")

    # -- fds and memory ------------------------------------------------------

    def expect_fd_count(self, expected: int, timeout: float = FD_SETTLE_S, what: str = "") -> None:
        """Wait (closes are asynchronous to us) until the daemon has exactly
        ``expected`` fds open; on failure, name the ones not in the baseline."""
        if what and not what.endswith(" "):
            what += " "
        self.wait_fd_count(expected, timeout, what, self.fd_baseline, self.baseline_targets)

    def settled_fd_count(self, expected: int, timeout: float = FD_SETTLE_S) -> int:
        """The fd count once it reached ``expected``, or when the time ran out
        (for ``assert daemon.settled_fd_count(n) == n``)."""
        try:
            self.expect_fd_count(expected, timeout)
        except AssertionError:
            pass
        return self.fd_count()

    def assert_fds_released(self, open_connections: int = 0, held: int = 0, timeout: float = FD_SETTLE_S) -> None:
        """The fd count returns to the baseline plus the connections still
        open plus ``held``: the client fds the daemon should still hold (and
        the eventfd of each waker)."""
        self.expect_fd_count(self.fd_baseline + open_connections + held, timeout,
                             f"with {open_connections} connection(s) and {held} held fd(s) ")

    def close_all_and_check_fds(self, held: int = 0, timeout: float = FD_SETTLE_S) -> None:
        """Close every connection this test opened, then wait for the fd count
        to return to the baseline (plus fds held by persistent sessions)."""
        self.close_connections()
        self.assert_fds_released(0, held, timeout)

    def listening_socket_fd_in_daemon(self) -> int:
        """The daemon's fd number of its listening socket."""
        return listening_socket_fd_in(self.pid, self.socket_path)

    def assert_rss_bounded(self, slack_mib: float = RSS_SLACK_MIB) -> int:
        rss = self.rss_kib()
        limit = self.rss_baseline_kib + int(slack_mib * 1024)
        assert rss < limit, f"daemon RSS {rss} KiB, baseline {self.rss_baseline_kib} KiB, allowed < {limit} KiB"
        return rss

    # -- health --------------------------------------------------------------

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

    def assert_healthy(self, *, rss_slack_mib: float = RSS_SLACK_MIB, extra_fds: int = 0, fd_timeout: float = FD_SETTLE_S) -> None:
        """What every abuse test ends with: (a) alive and answering a fresh
        client's ping in time, (b) the fd count back at the baseline (plus
        ``extra_fds`` still legitimately open), (c) RSS bounded."""
        # the fds first: closes reach the daemon asynchronously, and a
        # connection cap counts connections until it has seen them close
        assert self.alive(), f"mio-daemon died (status {self.proc.poll() if self.proc else None}):\n{self.stderr_tail()}"
        self.expect_fd_count(self.fd_baseline + extra_fds, fd_timeout)
        self.ping_fresh()
        self.expect_fd_count(self.fd_baseline + extra_fds, fd_timeout, what="after the health ping ")
        self.assert_rss_bounded(rss_slack_mib)
        assert self.alive(), f"mio-daemon died:\n{self.stderr_tail()}"
