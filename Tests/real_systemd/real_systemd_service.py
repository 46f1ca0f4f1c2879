"""mio-daemon.service as the container's systemd runs it: its state, its
fd store, and the ways a test ends it (restart, a signal, the watchdog)."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional

from real_systemd_client import ContainerClient
from real_systemd_container import NspawnContainer

SERVICE = "mio-daemon.service"
SOCKET = "mio-daemon.socket"
DROPIN_DIR = f"/run/systemd/system/{SERVICE}.d"


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class MioService:
    def __init__(self, container: NspawnContainer, client: ContainerClient):
        self.container = container
        self.client = client

    # --- what systemd says ------------------------------------------------

    def show(self, *properties: str, unit: str = SERVICE) -> Dict[str, str]:
        out = self.container.run(["systemctl", "show", unit, *[f"--property={p}" for p in properties]]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def main_pid(self) -> int:
        return int(self.show("MainPID")["MainPID"])

    def fd_store_count(self) -> int:
        """How many fds PID 1 holds in the unit's fd store."""
        return int(self.show("NFileDescriptorStore")["NFileDescriptorStore"])

    def running_pid(self) -> int:
        """The main pid when the unit is active and running, else 0."""
        state = self.show("ActiveState", "SubState", "MainPID")
        return int(state["MainPID"]) if (state["ActiveState"], state["SubState"]) == ("active", "running") else 0

    def daemon_fd_count(self) -> int:
        return self.client.fd_count(self.main_pid())

    def journal(self) -> str:
        return self.container.journal(SERVICE)

    # --- what a test does to it -------------------------------------------

    def fresh(self) -> int:
        """A daemon with nothing: stop the service (systemd 252 then drops its
        fd store), clear failed states, start it by a first connection.
        Returns its fd count once that connection is gone: the baseline every
        test comes back to."""
        self.container.run(["systemctl", "stop", SERVICE])
        self.container.run(["systemctl", "reset-failed", SERVICE, SOCKET], check=False)
        self.container.run(["systemctl", "start", SOCKET])
        assert self.fd_store_count() == 0
        self.client.call("connect", conn="probe", hello={"op": "ping"})
        self.client.call("close", conn="probe")
        pid = wait_until(self.running_pid, 10, "the daemon to start on the first connection")
        return self.settled_fd_count(pid)

    def settled_fd_count(self, pid: Optional[int] = None) -> int:
        """The daemon's fd count once it has stopped changing (closed
        connections are reaped by the daemon's event loop, not at once)."""
        pid = pid or self.main_pid()
        samples = [self.client.fd_count(pid)]
        deadline = time.monotonic() + 5
        while len(samples) < 4 or len(set(samples[-4:])) > 1:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
            samples.append(self.client.fd_count(pid))
        return samples[-1]

    def restart(self) -> int:
        """`systemctl restart` (a clean stop, then a start that waits for
        READY=1); returns the new main pid."""
        old = self.main_pid()
        self.container.run(["systemctl", "restart", SERVICE])
        pid = self.running_pid()
        assert pid and pid != old, f"restart left the service at pid {pid} (was {old})"
        return pid

    def kill(self, signal_name: str) -> int:
        """`systemctl kill -s SIGNAL` to the main process; returns its pid."""
        pid = self.main_pid()
        assert pid, "the service is not running"
        self.container.run(["systemctl", "kill", "--kill-who=main", "-s", signal_name, SERVICE])
        return pid

    def wait_gone(self, pid: int, timeout: float) -> Optional[float]:
        """When (CLOCK_MONOTONIC) process ``pid`` of the container ended; None if it did not within ``timeout``."""
        result = self.client.call("wait_pid_gone", pid=pid, timeout=timeout)
        return result["t"] if result["gone"] else None

    def wait_restarted(self, old_pid: int, timeout: float) -> Optional[float]:
        """When a new main process (not ``old_pid``) was running (READY=1 seen); None if not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.running_pid()
            if pid and pid != old_pid:
                return time.monotonic()
            time.sleep(0.02)
        return None

    def add_dropin(self, name: str, text: str) -> None:
        self.container.run(["install", "-D", "-m", "0644", "/dev/stdin", f"{DROPIN_DIR}/{name}.conf"], input=text)
        self.container.run(["systemctl", "daemon-reload"])

    def remove_dropin(self, name: str) -> None:
        self.container.run(["rm", "-f", f"{DROPIN_DIR}/{name}.conf"])
        self.container.run(["systemctl", "daemon-reload"])
