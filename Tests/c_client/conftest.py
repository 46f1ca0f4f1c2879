"""Fixtures for the libmio-client tests: the library and its C test programs
built by its Makefile, and real daemons (``$MIO_DAEMON_BIN``, else
``<repo>/.build/debug/mio-daemon``), each checked to hold exactly as many
fds at the end of a test as it did at its start."""

from __future__ import annotations

import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, Iterator, List, Optional

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "common"))

from mio_testkit import ProcessWatch  # noqa: E402
from mio_testkit import pytest_runtest_call, pytest_runtest_makereport  # noqa: E402,F401  (hooks)

C_CLIENT = REPO / "clients" / "c"
C_BUILD = C_CLIENT / "build"


def daemon_binary() -> str:
    return os.environ.get("MIO_DAEMON_BIN") or str(REPO / ".build" / "debug" / "mio-daemon")


class Daemon(ProcessWatch):
    """One mio-daemon on ``socket_path``, up once the socket accepts."""

    def __init__(self, socket_path: str, log_path: pathlib.Path, args: List[str] = ()) -> None:
        self.socket = socket_path
        self.stderr_path = str(log_path)
        self._log = open(log_path, "w+")
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC")}
        self.proc = subprocess.Popen([daemon_binary(), "--socket", socket_path, "--log-level", "debug", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log, env=env)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"mio-daemon exited {self.proc.returncode} at start: {self.stderr_tail()}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.connect(socket_path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"mio-daemon does not listen on {socket_path}")
                time.sleep(0.01)
        # The probe's connection is gone once the count settles.
        time.sleep(0.05)
        self.baseline = self.fd_count()
        self.baseline_targets = self.fd_targets()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_tail(self, limit: int = 6000) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-limit:]

    def assert_fds_at_baseline(self) -> None:
        self.wait_fd_count(self.baseline, 5.0, "after the test ", self.baseline,
                           baseline_targets=self.baseline_targets)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mio-daemon ignored SIGTERM for 10 s")
        return self.proc.returncode


@pytest.fixture(scope="session")
def c_build() -> pathlib.Path:
    """The library and the test programs, built (or found up to date) by make."""
    binary = daemon_binary()
    if not os.access(binary, os.X_OK):
        pytest.exit(f"mio-daemon not found at {binary}: build it (swift build) or set MIO_DAEMON_BIN", returncode=3)
    done = subprocess.run(["make", "-s", "-C", str(C_CLIENT), "all", "tests"], capture_output=True, text=True)
    assert done.returncode == 0, f"building libmio-client failed:\n{done.stdout}\n{done.stderr}"
    return C_BUILD


@pytest.fixture
def start_daemon(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator:
    """start_daemon(socket_path=None, args=()) -> Daemon. At the end of the
    test each one still running must be back at its fd baseline, and must
    exit 0 on SIGTERM."""
    started: List[Daemon] = []

    def start(socket_path: Optional[str] = None, args: List[str] = ()) -> Daemon:
        path = socket_path or str(tmp_path / f"mio{len(started)}.sock")
        d = Daemon(path, tmp_path / f"daemon{len(started)}.log", list(args))
        started.append(d)
        request.node._mio_daemons = started  # for the failure report hook
        return d

    yield start
    problems = []
    for d in started:
        if d.proc.poll() is None:
            try:
                d.assert_fds_at_baseline()
            except AssertionError as error:
                problems.append(str(error))
        code = d.stop()
        if code != 0:
            problems.append(f"mio-daemon exited {code}")
    assert not problems, "; ".join(problems)


@pytest.fixture
def daemon(start_daemon) -> Daemon:
    return start_daemon()


# --------------------------------------------------------------- other uids

def other_uid() -> Optional[int]:
    """A uid to run clients as that is not ours: nobody when we are root;
    None when we are not (then tests use our own uid where they can)."""
    if os.getuid() != 0:
        return None
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


@pytest.fixture
def public_dir() -> Iterator[pathlib.Path]:
    """A directory under /tmp any uid can enter (pytest's tmp_path is 0700)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="mio-c-client-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_as(uid: Optional[int], argv: List[str], env: Dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs argv as uid (None: as ourselves) with exactly env."""
    gid = None
    if uid is not None:
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            gid = uid

    def drop() -> None:
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=drop)
