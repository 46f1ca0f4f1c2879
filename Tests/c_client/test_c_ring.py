"""libmio-client in ring delivery (docs/protocol.md, "Ring delivery")
against the real daemon: clients/c/tests/ring_test.c, one case per test.
hello and enable_ring, events through the ring, a ring smaller than the
burst, removed tokens' records dropped, timeouts (0 never blocks), the
sleeping flag up only while asleep, no allocation per event, foreign
loops on mio_client_ring_fd, takeover, switching delivery, timers' events
through the ring and a lease kept by enable_ring, the daemon stopping. Every daemon is back at its fd baseline after each test
(conftest), and the program checks its own fds."""

from __future__ import annotations

import subprocess

import pytest

RING_CASES = ["hello", "events", "overflow", "deregister", "timeout", "sleeps", "no_allocation", "foreign_loop",
              "session_taken", "switch", "timers"]


def ring_test(c_build, case, daemon, timeout=60):
    return subprocess.run([str(c_build / "tests" / "ring_test"), case, daemon.socket_path, str(daemon.pid)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("case", RING_CASES)
def test_ring(c_build, daemon, case):
    done = ring_test(c_build, case, daemon)
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == "ok"


def test_ring_daemon_stopping_ends_the_wait(stopped_during):
    stopped_during("ring_test")
