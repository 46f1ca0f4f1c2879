"""Socket activation, the notify protocol, and persistent sessions kept in
the service manager's fd store across a restart of the daemon."""
import json
import os
import signal
import socket
import subprocess
import time

from conftest import need
from manager import FakeManager, start_with_fds


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _request(sock: socket.socket, line: dict, fds=()) -> dict:
    data = (json.dumps(line) + "\n").encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)
    return _read_line(sock, lambda m: "ok" in m)


_buffers = {}


def _read_line(sock: socket.socket, accept, timeout: float = 5.0) -> dict:
    buf = _buffers.setdefault(sock.fileno(), bytearray())
    end = time.monotonic() + timeout
    while True:
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            message = json.loads(line)
            if accept(message):
                return message
        remaining = end - time.monotonic()
        assert remaining > 0, "timed out waiting for a line from the daemon"
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        assert chunk, "daemon closed the connection"
        buf += chunk


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    _buffers.pop(sock.fileno(), None)
    return sock


def test_socket_activation_serves_inherited_fd(tmp_path, daemon_bin):
    need("systemd-socket-activate")
    path = str(tmp_path / "act.sock")
    log = open(tmp_path / "stderr.log", "w")
    proc = subprocess.Popen(["systemd-socket-activate", "-l", path, daemon_bin, "--log-level", "debug"],
                            stderr=log, stdout=log)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(path):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sock = _connect(path)
        assert _request(sock, {"op": "ping", "id": 1}) == {"id": 1, "ok": True}
        sock.close()
        # The daemon was started on the first connection and is serving fd 3.
        text = (tmp_path / "stderr.log").read_text()
        assert "socket activation" in text, text
        # No socket file of its own anywhere in the directory.
        assert sorted(os.listdir(tmp_path)) == ["act.sock", "stderr.log"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        log.close()
    assert os.path.exists(path), "the daemon must not unlink a socket file it did not make"


def test_notify_ready_watchdog_status_stopping(tmp_path, daemon_bin):
    manager = FakeManager(str(tmp_path / "notify.sock"))
    path = str(tmp_path / "mio.sock")
    env = dict(os.environ, NOTIFY_SOCKET=manager.path, WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    log = open(tmp_path / "stderr.log", "w")
    started = time.monotonic()
    proc = subprocess.Popen([daemon_bin, "--socket", path], env=env, stderr=log)
    try:
        ready_at = manager.wait_for("READY=1")
        # READY=1 comes once the socket accepts.
        sock = _connect(path)
        assert _request(sock, {"op": "ping"}) == {"ok": True}
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
        sock.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        manager.wait_for("STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        manager.close()


def test_persistent_sessions_survive_a_restart_through_the_fd_store(tmp_path, daemon_bin):
    manager = FakeManager(str(tmp_path / "notify.sock"))
    sock_path = str(tmp_path / "mio.sock")
    env = {"NOTIFY_SOCKET": manager.path}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    log = open(tmp_path / "stderr.log", "w")
    pipes = [os.pipe() for _ in range(3)]
    extra = []
    try:
        # First daemon: a persistent session with three pipes and a waker.
        first = start_with_fds([daemon_bin, "--log-level", "debug"], [(listener.fileno(), "mio-daemon.socket")], env, log)
        manager.wait_for("READY=1")
        client = _connect(sock_path)
        assert _request(client, {"op": "hello", "session": "keep", "persist": True})["ok"]
        for token, (r, _w) in enumerate(pipes, start=1):
            assert _request(client, {"op": "register", "token": token, "interest": ["readable"]}, [r]) == {"ok": True, "token": token}
        assert _request(client, {"op": "waker", "token": 99})["ok"]
        assert _request(client, {"op": "register", "token": 50, "interest": ["readable", "writable"], "mode": "oneshot"},
                        [pipes[0][1]])["ok"]
        client.close()
        for r, _w in pipes:
            os.close(r)  # the daemon holds its own copies
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
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
        second = start_with_fds([daemon_bin, "--log-level", "debug"], inherited, env, log)
        manager.wait_count("READY=1", 2)

        client = _connect(sock_path)
        hello = _request(client, {"op": "hello", "session": "keep"})
        assert hello["ok"] and hello["session"] == "keep"
        event = _read_line(client, lambda m: m.get("event") == "ready" and m["token"] == 2)
        assert event["readable"] is True
        listed = _request(client, {"op": "list"})["registrations"]
        assert sorted((r["token"], r["kind"], r["mode"], tuple(r["interest"])) for r in listed) == [
            (1, "pipe", "edge", ("readable",)), (2, "pipe", "edge", ("readable",)), (3, "pipe", "edge", ("readable",)),
            (50, "pipe", "oneshot", ("readable", "writable")), (99, "waker", "edge", ("readable",))]
        # The restored waker still wakes, and a restored pipe still reports.
        assert _request(client, {"op": "wake", "token": 99})["ok"]
        _read_line(client, lambda m: m.get("event") == "ready" and m["token"] == 99)
        os.write(pipes[2][1], b"y")
        _read_line(client, lambda m: m.get("event") == "ready" and m["token"] == 3)
        stats = _request(client, {"op": "stats"})["stats"]
        assert stats["registrations"] == 5 and stats["fds_held"] == 4
        # Every fd accounted for: the two bad ones were closed, and the daemon
        # holds exactly its own fds plus the four restored client fds.
        log.flush()
        text = (tmp_path / "stderr.log").read_text()
        assert "mio~garbage" in text and "keep~7" in text, text
        assert "5 of 7 registrations restored" in text or "5 of 6 registrations restored" in text, text

        # end: the session is gone, and its fds with it.
        before = _fd_count(second.pid)
        assert _request(client, {"op": "end"})["ok"]
        time.sleep(0.2)
        assert _fd_count(second.pid) == before - 5  # four client fds and the waker's eventfd
        client.close()
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0
        manager.pump(0.2)
        assert manager.take_store() == {}, "an ended session leaves nothing in the store"
    finally:
        log.close()
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
