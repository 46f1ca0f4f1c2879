"""The fd store mirrors the persistent sessions at every moment, not only at
a clean stop: a SIGKILLed daemon loses nothing and brings nothing stale
back (docs/protocol.md, "Persistent sessions across a restart")."""
import os
import signal
import socket

from manager import FakeManager, start_with_fds
from test_activation_and_notify import _connect, _read_line, _request


def _settled_store(manager: FakeManager, expected: set, timeout: float = 5.0) -> set:
    """The store's names once they equal `expected` (or the time ran out)."""
    import time
    end = time.monotonic() + timeout
    while True:
        with manager.lock:
            names = set(manager.store)
        if names == expected or time.monotonic() > end:
            return names
        time.sleep(0.02)


def test_store_follows_every_reply_and_survives_sigkill(tmp_path, daemon_bin):
    manager = FakeManager(str(tmp_path / "notify.sock"))
    sock_path = str(tmp_path / "mio.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    log = open(tmp_path / "stderr.log", "w")
    uid = os.getuid()
    pipes = [os.pipe() for _ in range(4)]
    daemons = []
    try:
        first = start_with_fds([daemon_bin, "--log-level", "debug"], [(listener.fileno(), "mio-daemon.socket")],
                               {"NOTIFY_SOCKET": manager.path}, log)
        daemons.append(first)
        manager.wait_for("READY=1")
        client = _connect(sock_path)
        assert _request(client, {"op": "hello", "session": "keep", "persist": True})["ok"]
        for token, (r, _w) in enumerate(pipes[:3], start=1):
            assert _request(client, {"op": "register", "token": token, "interest": ["readable"]}, [r])["ok"]
        assert _request(client, {"op": "waker", "token": 9})["ok"]
        name = lambda token, interest="r", mode="e", kind="f": f"mio~{uid}~keep~{token}~{interest}~{mode}~{kind}"
        assert _settled_store(manager, {name(1), name(2), name(3), name(9, kind="w")}) == {
            name(1), name(2), name(3), name(9, kind="w")}, "each fd is stored as it is added, long before any stop"

        # deregister takes it out; reregister renames it; fetch with deregister takes it out.
        assert _request(client, {"op": "deregister", "token": 1})["ok"]
        assert _request(client, {"op": "reregister", "token": 2, "interest": ["readable", "writable"], "mode": "oneshot"})["ok"]
        fetched = _request(client, {"op": "fetch", "token": 3, "deregister": True})
        assert fetched["ok"]
        expected = {name(2, "rw", "o"), name(9, kind="w")}
        assert _settled_store(manager, expected) == expected

        # A named session that becomes persistent later pushes what it holds.
        other = _connect(sock_path)
        assert _request(other, {"op": "hello", "session": "late"})["ok"]
        assert _request(other, {"op": "register", "token": 4, "interest": ["readable"]}, [pipes[3][0]])["ok"]
        taker = _connect(sock_path)
        assert _request(taker, {"op": "hello", "session": "late", "persist": True, "takeover": True})["ok"]
        expected |= {f"mio~{uid}~late~4~r~e~f"}
        assert _settled_store(manager, expected) == expected

        # SIGKILL: nothing more is said to the manager, and nothing is lost.
        for r, _w in pipes:
            os.close(r)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        client.close(), other.close(), taker.close()
        os.write(pipes[1][1], b"x")  # readiness while no daemon runs
        stored = manager.take_store()
        assert set(stored) == expected

        second = start_with_fds([daemon_bin, "--log-level", "debug"],
                                [(listener.fileno(), "mio-daemon.socket")] + sorted((fd, n) for n, fd in stored.items()),
                                {"NOTIFY_SOCKET": manager.path}, log)
        daemons.append(second)
        for fd in stored.values():
            os.close(fd)
        manager.wait_count("READY=1", 2)
        client = _connect(sock_path)
        assert _request(client, {"op": "hello", "session": "keep"})["ok"]
        event = _read_line(client, lambda m: m.get("event") == "ready" and m["token"] == 2)
        assert event["readable"] is True
        listed = sorted((r["token"], r["kind"], r["mode"], tuple(r["interest"]))
                        for r in _request(client, {"op": "list"})["registrations"])
        assert listed == [(2, "pipe", "oneshot", ("readable", "writable")), (9, "waker", "edge", ("readable",))], \
            "the deregistered and fetched tokens do not come back"
        client.close()
        removals = len(manager.lines("FDSTOREREMOVE=1"))
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
        manager.pump(0.2)
        assert len(manager.lines("FDSTOREREMOVE=1")) == removals, "a clean stop leaves the store alone"
    finally:
        log.close()
        for proc in daemons:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for r, w in pipes:
            for fd in (r, w):
                try:
                    os.close(fd)
                except OSError:
                    pass
        listener.close()
        manager.close()
