"""Clients that leave persistent sessions behind up to the cap, and two that
keep taking one session from each other.

Which suite: Tests/hostile holds clients that break the rules or push the
limits; each test ends with daemon.assert_healthy() (alive, a fresh client
answered, fds back at the baseline, RSS bounded). What a client that
follows docs/protocol.md is promised is Tests/integration's."""

from __future__ import annotations

import os

import pytest

from daemon import Daemon
from mio_testkit import PipeProbes


@pytest.mark.daemon_args("--max-sessions-per-uid", 5)
def test_persistent_sessions_left_behind_up_to_the_cap(daemon: Daemon, probes: PipeProbes) -> None:
    for k in range(5):
        c = daemon.raw()
        c.ok({"op": "hello", "id": "h", "session": f"left-{k}", "persist": True})
        for t in range(3):
            fd = probes.make(1)
            c.ok({"op": "register", "id": t, "token": t, "interest": "writable"}, fd)
            probes.drop_ours(fd)
        c.abort()
    daemon.connections.clear()
    # the sessions and their 15 fds outlive the connections
    daemon.expect_fd_count(daemon.fd_baseline + 15, what="(5 persistent sessions, 3 fds each)")
    probes.assert_held("by the persistent sessions")
    c = daemon.raw()
    c.send_json({"op": "hello", "id": "sixth", "session": "left-5", "persist": True})
    c.expect_error("limit_exceeded", id="sixth")
    c.close()
    # attaching to a session left behind and ending it frees its fds
    for k in range(5):
        c = daemon.raw()
        c.ok({"op": "hello", "id": "h", "session": f"left-{k}"})
        assert len(c.request({"op": "list", "id": "l"})["registrations"]) == 3
        c.ok({"op": "end", "id": "e"})
        c.close()
    probes.assert_released()
    daemon.connections.clear()
    daemon.assert_healthy()


def test_takeover_ping_pong(daemon: Daemon, probes: PipeProbes) -> None:
    """Two connections take one persistent session from each other 200
    times while its fds fire; nothing leaks, the loser always gets
    session_taken."""
    a, b = daemon.raw(), daemon.raw()
    a.ok({"op": "hello", "id": "h", "session": "contested", "persist": True})
    r, w = os.pipe()
    try:
        a.ok({"op": "register", "id": "r", "token": 1, "interest": "readable"}, [r])
        for i in range(200):
            winner, loser = (b, a) if i % 2 == 0 else (a, b)
            os.write(w, b"x")
            winner.ok({"op": "hello", "id": i, "session": "contested", "takeover": True})
            while True:
                obj = loser.read_json()
                if obj.get("event") == "session_taken":
                    break
                assert obj.get("event") == "ready", obj
        a.ok({"op": "hello", "id": "fin", "session": "contested", "takeover": True})
        a.ok({"op": "end", "id": "end"})
        # drain whatever the loser still had in flight
        b.ping("b")
    finally:
        os.close(r)
        os.close(w)
    daemon.close_connections()
    daemon.assert_healthy()
