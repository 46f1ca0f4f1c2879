"""The daemon as /proc shows it, and fds of every kind to give it: what the
suites share besides the daemon process (daemon.py) and the raw connection
(raw_connection.py)."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import time
from typing import Any, Iterable, List, Optional, Sequence, Tuple

CLK_TCK = os.sysconf("SC_CLK_TCK")


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

    def state(self) -> str:
        """The one-letter process state of /proc/<pid>/stat ("S", "R", "T", …)."""
        with open(f"/proc/{self.pid}/stat") as f:
            data = f.read()
        return data[data.rindex(")") + 2]

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

libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_getfd = 438  # x86_64 and arm64


def libc_check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def timerfd() -> int:
    if hasattr(os, "timerfd_create"):
        return os.timerfd_create(time.CLOCK_MONOTONIC, os.TFD_NONBLOCK | os.TFD_CLOEXEC)  # type: ignore[attr-defined]
    return libc_check(libc.timerfd_create(time.CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC), "timerfd_create")


def inotify() -> int:
    return libc_check(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC), "inotify_init1")


def eventfd(initval: int = 0) -> int:
    return os.eventfd(initval, os.EFD_NONBLOCK | os.EFD_CLOEXEC)


def signalfd(signals: Iterable[int] = (signal.SIGUSR2,)) -> int:
    """A signalfd for the given signals (ctypes; the mask is a 1024-bit set)."""
    bits = 8 * ctypes.sizeof(ctypes.c_ulong)
    mask = (ctypes.c_ulong * (1024 // bits))()
    for s in signals:
        mask[(s - 1) // bits] |= 1 << ((s - 1) % bits)
    return libc_check(libc.signalfd(-1, ctypes.byref(mask), os.O_NONBLOCK | os.O_CLOEXEC), "signalfd")


def pidfd_getfd(pid: int, target_fd: int) -> int:
    """A duplicate of another process's fd (needs ptrace rights: root)."""
    pidfd = os.pidfd_open(pid)
    try:
        libc.syscall.restype = ctypes.c_long
        return libc_check(libc.syscall(ctypes.c_long(SYS_pidfd_getfd), ctypes.c_int(pidfd), ctypes.c_int(target_fd),
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


def cpu_seconds(pid: int) -> float:
    """User and system CPU time `pid` has used so far (all its threads)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def close_quietly(fds: Sequence[int]) -> None:
    """Close every fd in ``fds``, ignoring ones already closed."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# --------------------------------------------------------------------------
# fds a test makes and must not leak


class Fds:
    """Makes fds of every kind for a test and closes them all at its end."""

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
        close_quietly(self.fds)
        self.fds.clear()
        for obj in self.objects:
            try:
                obj.close()
            except OSError:
                pass
        self.objects.clear()


class PipeProbes:
    """Pipes whose write ends are given to the daemon; the read ends stay
    here. Once every copy of a write end is closed, its read end sees
    POLLHUP: that proves the daemon (and the socket queues) let go."""

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

    def assert_released(self, timeout: float = 3.0, what: str = "") -> None:
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
