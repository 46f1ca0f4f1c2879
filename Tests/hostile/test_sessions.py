"""Clients that leave persistent sessions behind, and one that keeps taking
a session over from another."""

from __future__ import annotations

import os

import pytest

from hostile_support import Daemon, PipeProbes


@pytest.mark.daemon_args("--max-sessions-per-uid", 5)
def test_persistent_sessions_left_behind_up_to_the_cap(daemon: Daemon, probes: PipeProbes) -> None:
    for k in range(5):
        c = daemon.conn()
        c.ok({"op": "hello", "id": "h", "session": f"left-{k}", "persist": True})
        for t in range(3):
            fd = probes.make(1)
            c.ok({"op": "register", "id": t, "token": t, "interest": "writable"}, fd)
            probes.drop_ours(fd)
        c.abort()
    daemon.conns.clear()
    # the sessions and their 15 fds outlive the connections
    daemon.expect_fds(daemon.fd_baseline + 15, what="(5 persistent sessions, 3 fds each)")
    probes.assert_held("by the persistent sessions")
    c = daemon.conn()
    c.send_json({"op": "hello", "id": "sixth", "session": "left-5", "persist": True})
    c.expect_error("limit_exceeded", id="sixth")
    c.close()
    # attaching to a session left behind and ending it frees its fds
    for k in range(5):
        c = daemon.conn()
        c.ok({"op": "hello", "id": "h", "session": f"left-{k}"})
        assert len(c.request({"op": "list", "id": "l"})["registrations"]) == 3
        c.ok({"op": "end", "id": "e"})
        c.close()
    probes.assert_released()
    daemon.conns.clear()
    daemon.assert_healthy()


def test_takeover_ping_pong(daemon: Daemon, probes: PipeProbes) -> None:
    """Two connections take one persistent session from each other 200
    times while its fds fire; nothing leaks, the loser always gets
    session_taken."""
    a, b = daemon.conn(), daemon.conn()
    a.ok({"op": "hello", "id": "h", "session": "contested", "persist": True})
    r, w = os.pipe()
    try:
        a.ok({"op": "register", "id": "r", "token": 1, "interest": "readable"}, [r])
        for i in range(200):
            winner, loser = (b, a) if i % 2 == 0 else (a, b)
            os.write(w, b"x")
            winner.ok({"op": "hello", "id": i, "session": "contested", "takeover": True})
            while True:
                obj = loser.read_obj()
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
    daemon.close_conns()
    daemon.assert_healthy()
