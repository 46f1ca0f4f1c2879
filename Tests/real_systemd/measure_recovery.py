#!/usr/bin/env python3
"""Issue 11's recovery figures, without pytest: boots the real-systemd
container, then measures

- SIGKILL with SESSIONS x PER_SESSION registrations in persistent sessions
  made since the daemon's last start (and, for comparison, the same after a
  clean restart stored them): registrations and fd-store counts before and
  after, and the time from the daemon's death to the first and last event
  delivered after re-attach (readiness made while it was down);
- a watchdog timeout (WatchdogSec=3s, the daemon SIGSTOPped): the time to
  its end and to a new daemon serving, waiting up to --watchdog-wait s
  (today's daemon needs TimeoutAbortSec, 90 s).

Run as root from the repository root:
    python3 Tests/real_systemd/measure_recovery.py [--bin-dir .build/release]
"""

import argparse
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from real_systemd_client import ContainerClient  # noqa: E402
from real_systemd_container import NspawnContainer, ensure_nspawn  # noqa: E402
from real_systemd_recovery import (add_watchdog, conn_name, end_sessions, end_stopped_daemon,  # noqa: E402
                                   sigkill_recovery, watchdog_kill)
from real_systemd_service import MioService  # noqa: E402


def main() -> int:
    default_bin = pathlib.Path(os.environ.get("MIO_DAEMON_BIN") or HERE.parents[1] / ".build/debug/mio-daemon").parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin-dir", type=pathlib.Path, default=default_bin, help="holds mio-daemon (default: %(default)s)")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--per-session", type=int, default=100)
    parser.add_argument("--watchdog-wait", type=float, default=120.0, help="seconds to wait for the watchdog kill")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (systemd-nspawn)", file=sys.stderr)
        return 2
    problem = ensure_nspawn()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if not os.access(args.bin_dir / "mio-daemon", os.X_OK):
        print(f"no mio-daemon in {args.bin_dir}", file=sys.stderr)
        return 2

    container = NspawnContainer(HERE.parents[1], args.bin_dir.resolve())
    client = None
    try:
        print(f"container booted in {container.boot():.1f} s")
        container.install_units()
        client = ContainerClient(container)
        service = MioService(container, client)
        conns = [conn_name(i) for i in range(args.sessions)]
        for label, clean_restart_first in (("sessions made since the last start", False),
                                           ("stored by a clean restart first", True)):
            service.fresh()
            figures = sigkill_recovery(service, client, args.sessions, args.per_session, clean_restart_first)
            print(figures.summary(label), flush=True)
            end_sessions(client, conns)
            client.call("reset")

        service.fresh()
        pid = add_watchdog(service)
        try:
            print(watchdog_kill(service, wait=args.watchdog_wait).summary(), flush=True)
        finally:
            end_stopped_daemon(service, pid)
    finally:
        if client is not None:
            client.close()
        container.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
