"""What every pytest suite of mio-daemon needs, once: watching the daemon
process through /proc, waiting, making fds of each kind, and the pytest
hooks that show the daemon's stderr on failure and stop hung tests.

Each suite's conftest puts this folder on sys.path."""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

import pytest

CLK_TCK = os.sysconf("SC_CLK_TCK")


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` becomes readable within ``timeout`` s (poll, not select:
    fds above 1024 are common in these tests)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000)) + 1))


def line(obj: Dict[str, Any]) -> bytes:
    """One request line, compact, with its newline."""
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


class ProcessWatch:
    """The daemon as /proc shows it. A subclass gives ``pid``."""

    pid: int

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def fd_targets(self) -> List[str]:
        out = []
        for name in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                out.append(os.readlink(f"/proc/{self.pid}/fd/{name}"))
            except OSError:
                pass
        return sorted(out)

    def holds_target(self, target: str) -> bool:
        return target in self.fd_targets()

    def holds(self, fd: int) -> bool:
        """Whether the daemon has an fd open on the same object as our ``fd``
        (compared by the ``/proc`` link target, e.g. ``pipe:[1234]``)."""
        return self.holds_target(os.readlink(f"/proc/self/fd/{fd}"))

    def fds_on(self, fd: int) -> List[int]:
        """The daemon's fd numbers open on the same object as our ``fd``."""
        target = os.readlink(f"/proc/self/fd/{fd}")
        out = []
        for name in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                if os.readlink(f"/proc/{self.pid}/fd/{name}") == target:
                    out.append(int(name))
            except OSError:
                pass
        return out

    def fd_flags(self, daemon_fd: int) -> int:
        """The open flags of one of the daemon's fds (/proc/<pid>/fdinfo)."""
        with open(f"/proc/{self.pid}/fdinfo/{daemon_fd}") as f:
            for text in f:
                if text.startswith("flags:"):
                    return int(text.split()[1], 8)
        raise AssertionError("no flags in fdinfo")

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for text in f:
                if text.startswith("VmRSS:"):
                    return int(text.split()[1])
        raise AssertionError("no VmRSS in /proc/<pid>/status")

    def cpu_s(self) -> float:
        """utime + stime of the daemon, in seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            data = f.read()
        fields = data[data.rindex(")") + 2:].split()
        # fields[0] is field 3 (state); utime is field 14, stime field 15
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def cpu_over(self, seconds: float) -> float:
        before = self.cpu_s()
        time.sleep(seconds)
        return self.cpu_s() - before

    def wait_fd_count(self, expected: int, timeout: float, what: str = "", baseline: int = -1,
                      baseline_targets: Iterable[str] = ()) -> None:
        """Wait (closes are asynchronous to us) until the daemon has exactly
        ``expected`` fds open; on failure, name the ones not in the baseline."""
        end = time.monotonic() + timeout
        while True:
            now = self.fd_count()
            if now == expected:
                return
            if time.monotonic() >= end:
                extra = list(self.fd_targets())
                for t in baseline_targets:
                    if t in extra:
                        extra.remove(t)
                raise AssertionError(
                    f"daemon has {now} fds open, expected {expected} {what}(baseline {baseline}); "
                    f"not in the baseline: {extra[:40]}{' …' if len(extra) > 40 else ''}"
                )
            time.sleep(0.01)


# --------------------------------------------------------------------------
# fds of each kind

_libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_getfd = 438  # x86_64 and arm64


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def timerfd() -> int:
    if hasattr(os, "timerfd_create"):
        return os.timerfd_create(time.CLOCK_MONOTONIC, os.TFD_NONBLOCK | os.TFD_CLOEXEC)  # type: ignore[attr-defined]
    return _check(_libc.timerfd_create(time.CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC), "timerfd_create")


def inotify() -> int:
    return _check(_libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC), "inotify_init1")


def eventfd(initval: int = 0) -> int:
    return os.eventfd(initval, os.EFD_NONBLOCK | os.EFD_CLOEXEC)


def signalfd(signals: Iterable[int] = (signal.SIGUSR2,)) -> int:
    """A signalfd for the given signals (ctypes; the mask is a 1024-bit set)."""
    bits = 8 * ctypes.sizeof(ctypes.c_ulong)
    mask = (ctypes.c_ulong * (1024 // bits))()
    for s in signals:
        mask[(s - 1) // bits] |= 1 << ((s - 1) % bits)
    return _check(_libc.signalfd(-1, ctypes.byref(mask), os.O_NONBLOCK | os.O_CLOEXEC), "signalfd")


def pidfd_getfd(pid: int, target_fd: int) -> int:
    """A duplicate of another process's fd (needs ptrace rights: root)."""
    pidfd = os.pidfd_open(pid)
    try:
        _libc.syscall.restype = ctypes.c_long
        return _check(_libc.syscall(ctypes.c_long(SYS_pidfd_getfd), ctypes.c_int(pidfd), ctypes.c_int(target_fd),
                                    ctypes.c_uint(0)), "pidfd_getfd")
    finally:
        os.close(pidfd)


def drain(fd: int) -> int:
    """Read a non-blocking fd until EAGAIN; returns the bytes read."""
    total = 0
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return total
        if not chunk:
            return total
        total += len(chunk)


def listening_socket_fd_in(pid: int, path: str) -> int:
    """The fd number, in process ``pid``, of the listening socket bound to
    ``path`` (found by inode in /proc/net/unix)."""
    inodes = set()
    with open("/proc/net/unix") as f:
        next(f)
        for text in f:
            parts = text.split()
            if len(parts) >= 8 and parts[7] == path and parts[5] == "01":
                inodes.add(parts[6])
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return int(name)
    raise AssertionError("listening socket not found among the daemon's fds")


# --------------------------------------------------------------------------
# pytest hooks: a conftest imports them (`from mio_testkit import …`)

#: A test that runs longer than this fails instead of hanging the suite.
TEST_TIME_LIMIT_S = float(os.environ.get("MIO_TEST_TIME_LIMIT", "60"))


class TestTimeLimit(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On failure, the stderr of every daemon the test started (the test's
    daemons are in ``item._mio_daemons``; each has ``pid``, ``stderr_path``
    and ``stderr_tail()``)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for d in getattr(item, "_mio_daemons", []):
            try:
                pid = d.pid
            except Exception:
                pid = "?"
            report.sections.append((f"mio-daemon stderr (pid {pid}, {d.stderr_path})", d.stderr_tail()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A hung daemon fails the test instead of hanging the suite."""

    def expire(signum: int, frame: Any) -> None:
        raise TestTimeLimit(f"test ran longer than {TEST_TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIME_LIMIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
