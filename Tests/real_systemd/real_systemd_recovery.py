"""Measurements of how the daemon comes back, shared by the tests and by
measure_recovery.py (which prints them without pytest):

- SIGKILL with many registrations in persistent sessions: how many survive,
  and the time from the daemon's death to the first and last event delivered
  after the clients re-attach (readiness made while the daemon was down);
- a watchdog timeout (the daemon stopped with SIGSTOP under WatchdogSec=3s):
  the time to its end and to a new daemon.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from real_systemd_client import ContainerClient
from real_systemd_service import MioService

WATCHDOG_DROPIN = "watchdog-3s"
WATCHDOG_SEC = 3


@dataclass
class SigkillRecovery:
    sessions: int
    registrations_before: int
    store_before: int
    registrations_after: int = 0
    store_after: int = 0
    sessions_with_all: int = 0
    events_after: int = 0
    down_at_readiness: bool = False
    death_to_serving_s: Optional[float] = None
    death_to_first_event_s: Optional[float] = None
    death_to_last_event_s: Optional[float] = None
    lost: Dict[str, List[int]] = field(default_factory=dict)

    def summary(self, label: str) -> str:
        def seconds(value: Optional[float]) -> str:
            return "never" if value is None else f"{value:.3f} s"
        return (f"SIGKILL recovery ({label}): {self.registrations_before} registrations in {self.sessions} persistent "
                f"sessions before (fd store {self.store_before}), {self.registrations_after} after "
                f"(fd store {self.store_after}); {self.events_after} of {self.registrations_before} readiness events "
                f"made while down delivered; death to serving {seconds(self.death_to_serving_s)}, "
                f"to first event {seconds(self.death_to_first_event_s)}, to last {seconds(self.death_to_last_event_s)}")


def conn_name(index: int) -> str:
    return f"recovery{index}"


def sigkill_recovery(service: MioService, client: ContainerClient, sessions: int = 10, per_session: int = 100,
                     clean_restart_first: bool = False, event_timeout: float = 15.0) -> SigkillRecovery:
    """``sessions`` persistent sessions of ``per_session`` pipes each, attached;
    optionally a clean `systemctl restart` (so the fds are in the store the
    way the daemon of today puts them there); then SIGKILL, one byte into every
    pipe while the daemon is down, and every session re-attached at once."""
    names = {conn_name(i): f"recovery-{i}" for i in range(sessions)}
    for conn, session in names.items():
        client.attach(conn, session)
        failures = client.call("register_pipes", conn=conn, first_token=1, count=per_session,
                               label_prefix=f"{conn}-")["failures"]
        assert not failures, failures[:3]
    if clean_restart_first:
        service.restart()
        result = client.call("reattach_many", sessions=names, timeout=event_timeout)
        assert all(len(s["listed"]) == per_session for s in result["sessions"].values())
    before = sum(len(client.registrations(conn)) for conn in names)
    figures = SigkillRecovery(sessions=sessions, registrations_before=before, store_before=service.fd_store_count())

    pid = service.kill("SIGKILL")
    died_at = service.wait_gone(pid, 10)
    assert died_at is not None, "SIGKILL did not end the daemon"
    results = client.call("ready_prefix", label_prefix="recovery")["results"]
    figures.down_at_readiness = service.running_pid() == 0
    assert all(r in ("ok", "EPIPE") for r in results.values()), set(results.values())

    reattached = client.call("reattach_many", sessions=names, timeout=event_timeout)["sessions"]
    hello_times = [s["hello_at"] for s in reattached.values() if s["hello_at"]]
    event_times = [t for s in reattached.values() for t in s["first_event_at"].values()]
    figures.death_to_serving_s = min(hello_times) - died_at if hello_times else None
    figures.death_to_first_event_s = min(event_times) - died_at if event_times else None
    figures.death_to_last_event_s = max(event_times) - died_at if event_times else None
    figures.events_after = len(event_times)
    for conn, state in reattached.items():
        listed = set(state["listed"])
        figures.registrations_after += len(listed)
        missing = sorted(set(range(1, per_session + 1)) - listed)
        if missing:
            figures.lost[names[conn]] = missing
        else:
            figures.sessions_with_all += 1
    time.sleep(0.2)
    figures.store_after = service.fd_store_count()
    return figures


def end_sessions(client: ContainerClient, conns) -> None:
    for conn in conns:
        client.ok(conn, "end")
        client.call("close", conn=conn)


@dataclass
class WatchdogKill:
    wait_s: float
    stop_to_death_s: Optional[float] = None
    death_to_serving_s: Optional[float] = None
    stop_to_serving_s: Optional[float] = None

    def summary(self) -> str:
        def seconds(value: Optional[float]) -> str:
            return f"none within {self.wait_s:.0f} s" if value is None else f"{value:.2f} s"
        return (f"watchdog (WatchdogSec={WATCHDOG_SEC}s, daemon SIGSTOPped): SIGSTOP to death "
                f"{seconds(self.stop_to_death_s)}, death to a new daemon serving {seconds(self.death_to_serving_s)}, "
                f"SIGSTOP to serving {seconds(self.stop_to_serving_s)}")


def watchdog_kill(service: MioService, wait: float, while_stopped: Callable[[], None] = lambda: None) -> WatchdogKill:
    """SIGSTOP to the daemon (its WATCHDOG=1 pings stop), ``while_stopped()``
    (readiness the stopped daemon cannot see); waits up to ``wait``
    seconds for the watchdog to end it and for systemd to start a new one.
    The caller has put WatchdogSec in place (add_watchdog) and cleans up
    (end_stopped_daemon)."""
    figures = WatchdogKill(wait_s=wait)
    pid = service.kill("SIGSTOP")
    stopped_at = time.monotonic()
    while_stopped()
    died_at = service.wait_gone(pid, wait)
    if died_at is None:
        return figures
    figures.stop_to_death_s = died_at - stopped_at
    serving_at = service.wait_restarted(pid, max(1.0, stopped_at + wait - time.monotonic()))
    if serving_at is not None:
        figures.death_to_serving_s = serving_at - died_at
        figures.stop_to_serving_s = serving_at - stopped_at
    return figures


def add_watchdog(service: MioService) -> int:
    """WatchdogSec=3s by a drop-in, and a daemon started under it; returns its pid."""
    service.add_dropin(WATCHDOG_DROPIN, f"[Service]\nWatchdogSec={WATCHDOG_SEC}s\n")
    pid = service.restart()
    configured = service.show("WatchdogUSec")["WatchdogUSec"]
    assert configured == f"{WATCHDOG_SEC}s", f"the drop-in did not take: WatchdogUSec={configured}"
    return pid


def end_stopped_daemon(service: MioService, pid: int) -> None:
    """Whatever the watchdog did: the stopped daemon is killed, the drop-in goes."""
    if service.wait_gone(pid, 0) is None:
        service.container.run(["systemctl", "kill", "--kill-who=main", "-s", "SIGKILL", "mio-daemon.service"],
                              check=False)
        service.wait_gone(pid, 10)
    service.remove_dropin(WATCHDOG_DROPIN)
