"""A stand-in for the service manager's side of the notify protocol: a
NOTIFY_SOCKET receiver that keeps the notify lines and the fds of
FDSTORE=1. Starting the daemon with fds as systemd does is the Daemon's
``listen_fds`` (daemon.py)."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple


class FakeManager:
    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.05)
        self.messages: List[Tuple[float, str]] = []
        #: The fd store: name -> our copy of the fd.
        self.store: Dict[str, int] = {}
        self.lock = threading.Lock()
        self.running = True
        # A real manager reads at once; so does this one, in a thread: the
        # daemon's sd_notify waits while the socket's queue is full.
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.sock, 65536, 253)
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            with self.lock:
                self._take(data, fds)

    def pump(self, timeout: float = 0.0) -> None:
        """Lets the reader thread catch up for `timeout` seconds."""
        time.sleep(timeout)

    def _take(self, data: bytes, fds: List[int]) -> None:
        if True:
            text = data.decode()
            self.messages.append((time.monotonic(), text))
            fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
            if fields.get("FDSTOREREMOVE") == "1":
                old = self.store.pop(fields["FDNAME"], None)
                if old is not None:
                    os.close(old)
            if fields.get("FDSTORE") == "1":
                assert len(fds) == 1, text
                assert fields.get("FDPOLL") == "0", text
                old = self.store.pop(fields["FDNAME"], None)
                if old is not None:
                    os.close(old)
                self.store[fields["FDNAME"]] = fds[0]
            else:
                for fd in fds:
                    os.close(fd)

    def wait_for(self, line: str, timeout: float = 10.0) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.02)
            with self.lock:
                for at, text in self.messages:
                    if line in text.split("\n"):
                        return at
        raise AssertionError(f"no {line!r} from the daemon in {timeout} s; got {[t for _, t in self.messages]}")

    def wait_count(self, line: str, count: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while len([1 for _, l in self.lines(line) if l == line]) < count:
            assert time.monotonic() < end, f"fewer than {count} {line!r} in {timeout} s"
            time.sleep(0.02)

    def lines(self, prefix: str) -> List[Tuple[float, str]]:
        with self.lock:
            return [(at, line) for at, text in self.messages for line in text.split("\n") if line.startswith(prefix)]

    def settled_store(self, expected: Set[str], timeout: float = 5.0) -> Set[str]:
        """The store's names once they equal ``expected`` (or the time ran out)."""
        end = time.monotonic() + timeout
        while True:
            with self.lock:
                names = set(self.store)
            if names == expected or time.monotonic() > end:
                return names
            time.sleep(0.02)

    def take_store(self) -> Dict[str, int]:
        """The stored fds, now the caller's to close."""
        with self.lock:
            store, self.store = self.store, {}
        return store

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        for fd in self.store.values():
            os.close(fd)
        self.store.clear()
        self.sock.close()


class SocketActivated:
    """Daemons started as systemd starts the service: the listening socket
    passed as the .socket unit's (LISTEN_FDS), a FakeManager as
    NOTIFY_SOCKET, and at a restart the fd store's fds beside it."""

    def __init__(self, tmp_path: Any, daemon_factory: Callable[..., Any]) -> None:
        self.manager = FakeManager(str(tmp_path / "notify.sock"))
        self.socket_path = str(tmp_path / "mio.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.socket_path)
        self.listener.listen(16)
        self.daemon_factory = daemon_factory
        self.starts = 0

    def start(self, stored: Optional[Dict[str, int]] = None, **options: Any) -> Any:
        """A daemon given the listener and ``stored`` (name -> fd, closed here
        once passed on), READY=1 seen and its socket answering."""
        inherited = [(self.listener.fileno(), "mio-daemon.socket")] + sorted((fd, n) for n, fd in (stored or {}).items())
        options.setdefault("expect_exit_zero", False)
        daemon = self.daemon_factory(listen_fds=inherited, socket_path=self.socket_path, socket_flag=False,
                                     env={"NOTIFY_SOCKET": self.manager.path}, wait=False, **options)
        self.starts += 1
        self.manager.wait_count("READY=1", self.starts)
        daemon.wait_ready()
        for fd in (stored or {}).values():
            os.close(fd)
        return daemon

    def close(self) -> None:
        self.listener.close()
        self.manager.close()
