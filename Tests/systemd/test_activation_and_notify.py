"""Socket activation, the notify protocol, and persistent sessions kept in
the service manager's fd store across a restart of the daemon."""
import os
import signal
import socket
import time

from binaries import need_tool as need
from fake_service_manager import FakeManager


def _ready(token: int):
    return lambda m: m.get("event") == "ready" and m["token"] == token


def _read_until(conn, accept):
    """The first line ``accept`` takes, looking first at the events
    ``read_reply`` passed over (the connection is not strict); the lines
    before it are dropped."""
    for message in list(conn.events):
        conn.events.remove(message)
        if accept(message):
            return message
    while True:
        message = conn.read_json()
        if accept(message):
            return message


def test_socket_activation_serves_inherited_fd(tmp_path, daemon_factory):
    need("systemd-socket-activate")
    run = tmp_path / "run"
    run.mkdir()
    path = str(run / "act.sock")
    # systemd-socket-activate binds and listens, then execs the daemon with
    # the socket as fd 3 (same pid); the readiness ping is its first client.
    d = daemon_factory(socket_path=path, socket_flag=False, wrapper=["systemd-socket-activate", "-l", path])
    c = d.raw()
    assert c.request({"op": "ping", "id": 1}) == {"id": 1, "ok": True}
    c.close()
    d.expect_fd_count(d.fd_baseline)
    assert "socket activation" in d.stderr_tail(), d.stderr_tail()
    # No socket file of its own beside the one it was given.
    assert os.listdir(run) == ["act.sock"]
    d.send_signal(signal.SIGTERM)
    assert d.wait_exit(10) == 0
    assert os.path.exists(path), "the daemon must not unlink a socket file it did not make"


def test_notify_ready_watchdog_status_stopping(tmp_path, daemon_factory):
    manager = FakeManager(str(tmp_path / "notify.sock"))
    try:
        started = time.monotonic()
        d = daemon_factory(env={"NOTIFY_SOCKET": manager.path, "WATCHDOG_USEC": "400000"}, log_level=None, wait=False)
        ready_at = manager.wait_for("READY=1")
        # READY=1 comes once the socket accepts.
        d.wait_ready()
        c = d.raw()
        assert c.request({"op": "ping"}) == {"ok": True}
        print(f"start to READY=1: {(ready_at - started) * 1000:.1f} ms")
        # Pump all along, so each line's arrival time is when it came.
        watch_end = time.monotonic() + 1.3
        while time.monotonic() < watch_end:
            manager.pump(0.01)
        watchdogs = [at for at, line in manager.lines("WATCHDOG=1")]
        # Every 200 ms (half of 400 ms): about 6 or 7 in 1.3 s; generous bounds for a loaded machine.
        assert 4 <= len(watchdogs) <= 10, watchdogs
        gaps = [b - a for a, b in zip(watchdogs, watchdogs[1:])]
        assert max(gaps) < 0.4, f"a gap of {max(gaps):.3f} s would have tripped a 400 ms watchdog"
        statuses = [line for _, line in manager.lines("STATUS=")]
        assert any("1 connections" in s for s in statuses), statuses
        c.close()
        d.expect_fd_count(d.fd_baseline)
        d.send_signal(signal.SIGTERM)
        assert d.wait_exit(10) == 0
        manager.wait_for("STOPPING=1")
    finally:
        manager.close()


def test_persistent_sessions_survive_a_restart_through_the_fd_store(tmp_path, daemon_factory):
    manager = FakeManager(str(tmp_path / "notify.sock"))
    sock_path = str(tmp_path / "mio.sock")
    env = {"NOTIFY_SOCKET": manager.path}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    # As the unit files start it: no --socket, the listener and the stored fds by LISTEN_FDS.
    as_systemd = dict(socket_path=sock_path, socket_flag=False, env=env, wait=False)
    pipes = [os.pipe() for _ in range(3)]
    extra = []
    try:
        # First daemon: a persistent session with three pipes and a waker.
        first = daemon_factory(listen_fds=[(listener.fileno(), "mio-daemon.socket")], **as_systemd)
        manager.wait_for("READY=1")
        first.wait_ready()
        # Events of the restored registrations interleave with replies: not strict.
        client = first.raw(strict=False)
        assert client.request({"op": "hello", "session": "keep", "persist": True})["ok"]
        for token, (r, _w) in enumerate(pipes, start=1):
            assert client.request({"op": "register", "token": token, "interest": ["readable"]}, [r]) == {"ok": True, "token": token}
        assert client.request({"op": "waker", "token": 99})["ok"]
        assert client.request({"op": "register", "token": 50, "interest": ["readable", "writable"], "mode": "oneshot"},
                              [pipes[0][1]])["ok"]
        client.close()
        for r, _w in pipes:
            os.close(r)  # the daemon holds its own copies
        first.send_signal(signal.SIGTERM)
        assert first.wait_exit(10) == 0
        manager.pump(0.2)
        stored = manager.take_store()
        names = sorted(stored)
        assert names == sorted([f"mio~{os.getuid()}~keep~1~r~e~f", f"mio~{os.getuid()}~keep~2~r~e~f",
                                f"mio~{os.getuid()}~keep~3~r~e~f", f"mio~{os.getuid()}~keep~99~r~e~w",
                                f"mio~{os.getuid()}~keep~50~rw~o~f"]), names

        # Readiness while no daemon runs.
        os.write(pipes[1][1], b"x")

        # Bad entries beside the good ones: a name that does not parse, and a
        # regular file stored under a pipe's name. Both closed, start goes on.
        bad_name_fd = os.open("/dev/null", os.O_RDONLY)
        regular_fd = os.open(__file__, os.O_RDONLY)
        extra = [bad_name_fd, regular_fd]
        extra += list(stored.values())
        inherited = [(listener.fileno(), "mio-daemon.socket")] + [(fd, name) for name, fd in sorted(stored.items())]
        inherited += [(bad_name_fd, "mio~garbage"), (regular_fd, f"mio~{os.getuid()}~keep~7~r~e~f")]
        second = daemon_factory(listen_fds=inherited, **as_systemd)
        manager.wait_count("READY=1", 2)
        second.wait_ready()

        client = second.raw(strict=False)
        hello = client.request({"op": "hello", "session": "keep"})
        assert hello["ok"] and hello["session"] == "keep"
        event = _read_until(client, _ready(2))
        assert event["readable"] is True
        listed = client.request({"op": "list"})["registrations"]
        assert sorted((r["token"], r["kind"], r["mode"], tuple(r["interest"])) for r in listed) == [
            (1, "pipe", "edge", ("readable",)), (2, "pipe", "edge", ("readable",)), (3, "pipe", "edge", ("readable",)),
            (50, "pipe", "oneshot", ("readable", "writable")), (99, "waker", "edge", ("readable",))]
        # The restored waker still wakes, and a restored pipe still reports.
        assert client.request({"op": "wake", "token": 99})["ok"]
        _read_until(client, _ready(99))
        os.write(pipes[2][1], b"y")
        _read_until(client, _ready(3))
        stats = client.request({"op": "stats"})["stats"]
        assert stats["registrations"] == 5 and stats["fds_held"] == 4
        # Every fd accounted for: the two bad ones were closed, and the daemon
        # holds exactly its own fds plus the four restored client fds.
        text = second.stderr_tail()
        assert "mio~garbage" in text and "keep~7" in text, text
        assert "5 of 7 stored fds restored" in text or "5 of 6 stored fds restored" in text, text

        # end: the session is gone, and its fds with it.
        assert client.request({"op": "end"})["ok"]
        client.close()
        # the baseline (taken at start) held the four client fds and the waker's eventfd
        second.expect_fd_count(second.fd_baseline - 5, what="after end of the restored session")
        second.send_signal(signal.SIGTERM)
        assert second.wait_exit(10) == 0
        manager.pump(0.2)
        assert manager.take_store() == {}, "an ended session leaves nothing in the store"
    finally:
        for r, w in pipes:
            for fd in (r, w):
                try:
                    os.close(fd)
                except OSError:
                    pass
        for fd in extra:
            try:
                os.close(fd)
            except OSError:
                pass
        listener.close()
        manager.close()
