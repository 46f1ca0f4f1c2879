"""The fd store mirrors the persistent sessions at every moment, not only at
a clean stop: a SIGKILLed daemon loses nothing and brings nothing stale
back (docs/protocol.md, "Persistent sessions across a restart or crash")."""
import os
import signal
import time

from fake_service_manager import FakeManager, SocketActivated


def test_store_follows_every_reply_and_survives_sigkill(tmp_path, daemon_factory):
    activated = SocketActivated(tmp_path, daemon_factory)
    manager = activated.manager
    uid = os.getuid()
    name = lambda session, token, interest="r", mode="e", kind="f": f"mio~{uid}~{session}~{token}~{interest}~{mode}~{kind}"
    pipes = [os.pipe() for _ in range(4)]
    try:
        first = activated.start()
        client = first.raw(strict=False)
        assert client.request({"op": "hello", "session": "keep", "persist": True})["ok"]
        for token, (r, _w) in enumerate(pipes[:3], start=1):
            assert client.request({"op": "register", "token": token, "interest": ["readable"]}, [r])["ok"]
        assert client.request({"op": "waker", "token": 9})["ok"]
        expected = {name("keep", 1), name("keep", 2), name("keep", 3), name("keep", 9, kind="w")}
        assert manager.settled_store(expected) == expected, "each fd is stored as it is added, long before any stop"

        # deregister takes it out; reregister renames it; fetch with deregister takes it out.
        assert client.request({"op": "deregister", "token": 1})["ok"]
        assert client.request({"op": "reregister", "token": 2, "interest": ["readable", "writable"], "mode": "oneshot"})["ok"]
        client.send_json({"op": "fetch", "token": 3, "deregister": True, "id": "f"})
        reply, fds = client.read_line_fds()
        for fd in fds:
            os.close(fd)
        assert b'"ok":true' in reply
        expected = {name("keep", 2, "rw", "o"), name("keep", 9, kind="w")}
        assert manager.settled_store(expected) == expected

        # A named session that becomes persistent later pushes what it holds.
        other = first.raw(strict=False)
        assert other.request({"op": "hello", "session": "late"})["ok"]
        assert other.request({"op": "register", "token": 4, "interest": ["readable"]}, [pipes[3][0]])["ok"]
        taker = first.raw(strict=False)
        assert taker.request({"op": "hello", "session": "late", "persist": True, "takeover": True})["ok"]
        expected |= {name("late", 4)}
        assert manager.settled_store(expected) == expected

        # SIGKILL: nothing more is said to the manager, and nothing is lost.
        for r, _w in pipes:
            os.close(r)
        first.send_signal(signal.SIGKILL)
        first.wait_exit(10)
        first.close_connections()
        os.write(pipes[1][1], b"x")  # readiness while no daemon runs
        stored = manager.take_store()
        assert set(stored) == expected

        second = activated.start(stored, expect_exit_zero=True)
        client = second.raw(strict=False)
        assert client.request({"op": "hello", "session": "keep"})["ok"]
        event = client.read_json() if not client.events else client.events.pop(0)
        assert event.get("event") == "ready" and event["token"] == 2 and event["readable"] is True, event
        listed = sorted((r["token"], r["kind"], r["mode"], tuple(r["interest"]))
                        for r in client.request({"op": "list"})["registrations"])
        assert listed == [(2, "pipe", "oneshot", ("readable", "writable")), (9, "waker", "edge", ("readable",))], \
            "the deregistered and fetched tokens do not come back"
        second.close_connections()
        removals = len(manager.lines("FDSTOREREMOVE=1"))
        second.send_signal(signal.SIGTERM)
        assert second.wait_exit(10) == 0
        manager.pump(0.2)
        assert len(manager.lines("FDSTOREREMOVE=1")) == removals, "a clean stop leaves the store alone"
    finally:
        for r, w in pipes:
            for fd in (r, w):
                try:
                    os.close(fd)
                except OSError:
                    pass
        activated.close()


def test_a_second_copy_of_a_stored_open_file_is_refused(tmp_path, daemon_factory, fds):
    """systemd's fd store keeps one copy of an open file (it compares new
    fds with kcmp and drops a duplicate), so a persistent session may not
    hold the same open file twice: it could not survive a restart."""
    manager = FakeManager(str(tmp_path / "notify.sock"))
    try:
        d = daemon_factory(env={"NOTIFY_SOCKET": manager.path})
        c = d.raw()
        r, w = fds.pipe()
        c.ok({"op": "hello", "session": "dup", "persist": True})
        c.ok({"op": "register", "token": 1, "interest": ["readable"]}, [r])
        refused = c.request({"op": "register", "token": 2, "interest": ["readable"]}, [r])
        assert refused["ok"] is False and refused["error"]["code"] == "bad_fd", refused
        assert "token 1" in refused["error"]["message"], refused
        other = os.pipe()
        try:
            c.ok({"op": "register", "token": 3, "interest": ["readable"]}, [other[0]])  # another file: fine
        finally:
            os.close(other[0]), os.close(other[1])
        expected = {f"mio~{os.getuid()}~dup~1~r~e~f", f"mio~{os.getuid()}~dup~3~r~e~f"}
        assert manager.settled_store(expected) == expected
        # An anonymous session (not stored) may hold the same file twice.
        a = d.raw()
        a.ok({"op": "register", "token": 1, "interest": ["readable"]}, [r])
        a.ok({"op": "register", "token": 2, "interest": ["writable"]}, [r])
        c.close(), a.close()
        d.expect_fd_count(d.fd_baseline + 2, what="the persistent session's two pipes")
    finally:
        manager.close()
