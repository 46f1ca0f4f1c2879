"""A stand-in for the service manager's side of the notify protocol: a
NOTIFY_SOCKET receiver that keeps the notify lines and the fds of
FDSTORE=1. Starting the daemon with fds as systemd does is the Daemon's
``listen_fds`` (daemon.py)."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Dict, List, Tuple


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
