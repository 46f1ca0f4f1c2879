"""Held fds, timers and leases of persistent sessions live in the fd store
like every registration (docs/protocol.md, "Persistent sessions across a
restart or crash"): after a SIGKILL a held memfd comes back with its
content, a timer goes on (an expiry while no daemon ran is delivered), and
a lease's countdown goes on where it was."""
import os
import signal
import time

from fake_service_manager import SocketActivated


def test_held_timer_and_lease_survive_sigkill(tmp_path, daemon_factory):
    activated = SocketActivated(tmp_path, daemon_factory)
    manager = activated.manager
    uid = os.getuid()
    try:
        first = activated.start()
        c = first.raw(strict=False)
        c.ok({"op": "hello", "session": "app", "persist": True, "lease_s": 30})
        memfd = os.memfd_create("app-state", os.MFD_CLOEXEC)
        os.write(memfd, b"generation=7")
        c.ok({"op": "store", "token": 1}, [memfd])
        os.close(memfd)
        c.ok({"op": "timer", "token": 2, "after_ms": 300})  # expires while no daemon runs
        c.ok({"op": "timer", "token": 3, "after_ms": 60000, "interval_ms": 60000})
        short = first.raw(strict=False)
        short.ok({"op": "hello", "session": "short", "persist": True, "lease_s": 1})
        short.ok({"op": "waker", "token": 1})
        short.close()  # its countdown starts once the daemon sees the close, and goes on in the store
        detached = time.monotonic()
        while {s["name"]: s for s in c.ok({"op": "sessions"})["sessions"]}["short"]["attached"]:
            assert time.monotonic() - detached < 2, "the daemon saw the close"
            time.sleep(0.005)
        expected = {f"mio~{uid}~app~1~-~-~h", f"mio~{uid}~app~2~r~e~t", f"mio~{uid}~app~3~r~e~t",
                    f"mio~{uid}~app~lease~30", f"mio~{uid}~short~1~r~e~w", f"mio~{uid}~short~lease~1"}
        assert manager.settled_store(expected) == expected

        first.send_signal(signal.SIGKILL)
        first.wait_exit(10)
        first.close_connections()
        time.sleep(0.4)
        restarted = time.monotonic()
        second = activated.start(manager.take_store())
        c = second.raw(strict=False)
        c.ok({"op": "hello", "session": "app"})
        event = c.events.pop(0) if c.events else c.read_json(timeout=3)
        assert event["event"] == "ready" and event["token"] == 2, "the timer that expired meanwhile is delivered: %r" % event
        listed = {r["token"]: r for r in c.ok({"op": "list"})["registrations"]}
        assert listed[1] == {"token": 1, "held": True, "kind": "memfd"}
        assert listed[3]["interval_ms"] == 60000 and 55000 < listed[3]["expires_in_ms"] <= 60000, listed[3]
        c.send_json({"op": "fetch", "token": 1, "id": "f"})
        reply, got = c.read_line_fds()
        assert b'"ok":true' in reply and len(got) == 1, reply
        assert os.pread(got[0], 100, 0) == b"generation=7"
        os.close(got[0])
        sessions = {s["name"]: s for s in c.ok({"op": "sessions"})["sessions"]}
        assert sessions["app"]["lease_s"] == 30
        # The short lease kept counting while no daemon ran: it ends on time.
        end = time.monotonic() + 3
        while "short" in {s["name"] for s in c.ok({"op": "sessions"})["sessions"]} and time.monotonic() < end:
            time.sleep(0.01)
        ended = time.monotonic() - detached
        assert 0.95 <= ended <= 1.2, ended
        # (The fake manager handed its store over at the restart: what it
        # records now are the daemon's store operations since.)
        def removed():
            with manager.lock:
                texts = [text for at, text in manager.messages if at > restarted and "FDSTOREREMOVE=1" in text.split("\n")]
            return {line.split("=", 1)[1] for text in texts for line in text.split("\n") if line.startswith("FDNAME=")}
        ended_names = {f"mio~{uid}~short~1~r~e~w", f"mio~{uid}~short~lease~1"}
        deadline = time.monotonic() + 3
        while not ended_names <= removed() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ended_names <= removed(), "the ended session left the store"
        c.ok({"op": "end"})
        deadline = time.monotonic() + 3
        while not expected <= removed() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert expected <= removed(), "end takes the held fd, the timers and the lease out of the store"
        second.close_connections()
        second.send_signal(signal.SIGTERM)
        assert second.wait_exit(10) == 0
    finally:
        activated.close()
