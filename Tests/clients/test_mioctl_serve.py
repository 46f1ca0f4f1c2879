"""`mioctl serve`: userland socket activation of a held fd, against a real
daemon (docs/protocol.md, "Serving a held fd: mioctl serve"). The children
are small Python programs written by each test; every test ends the
session and checks that the daemon is back to its fd baseline."""
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from binaries import mioctl_binary
from mioctl_cli import mioctl
from timing import wait_until

PY = sys.executable

# Accept=no: serves the listener at fd 3 until killed, one line per connection.
SERVER = """
import os, socket
listener = socket.socket(fileno=3)
while True:
    conn, _ = listener.accept()
    conn.sendall(b"%d\\n" % os.getpid())
    conn.close()
"""

# What a child sees: its environment, fd 3 and the fds it has, sent as one JSON line.
REPORT = """
import json, os, socket
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
sock = socket.socket(fileno=3)
listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
conn = sock.accept()[0] if listening else sock
report = {k: os.environ.get(k) for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "REMOTE_ADDR", "REMOTE_PORT")}
report.update(pid=os.getpid(), listening=listening, sockname=list(sock.getsockname()), fds=fds)
if not listening:
    report["peername"] = list(sock.getpeername())
conn.sendall(json.dumps(report).encode() + b"\\n")
conn.close()
"""

# --accept: logs its start and end (monotonic clock, system-wide), holds the connection a while.
SLOW = """
import os, socket, sys, time
log = sys.argv[1]
def note(what):
    with open(log, "a") as f:
        f.write("%s %d %.6f\\n" % (what, os.getpid(), time.monotonic()))
note("start")
conn = socket.socket(fileno=3)
time.sleep(float(sys.argv[2]))
conn.sendall(b"%d\\n" % os.getpid())
note("end")
"""


def program(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def hold_tcp_listener(daemon, session="web", token=1, backlog=128):
    """A TCP listener on 127.0.0.1, held by the daemon (our copy closed); its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(backlog)
        r = mioctl(daemon, "hold", "--session", session, "--fd", "3", "--token", str(token), fds={3: s.fileno()})
        assert r.returncode == 0, r
        return s.getsockname()[1]


_started = []


@pytest.fixture(autouse=True)
def _no_serve_outlives_its_test():
    """A test that fails half-way leaves no serve (or its children) running
    to load the machine for the tests after it."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def serve(daemon, *args):
    proc = subprocess.Popen([mioctl_binary(), "serve", *args], env=daemon.client_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _started.append(proc)
    return proc


def stop(proc, timeout=10):
    """SIGTERM to serve: exit status 0 and its stderr."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (proc.returncode, err)
    return err


def ask(port, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        return c.makefile().readline()


def gone(pid):
    """Dead or a zombie: it can no longer accept anything."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    # Reaped before the open (ENOENT), or between the open and the read (ESRCH).
    except (FileNotFoundError, ProcessLookupError):
        return True


def end_session_and_check_fds(daemon, baseline, session="web"):
    assert mioctl(daemon, "end", session).returncode == 0
    assert daemon.settled_fd_count(baseline) == baseline


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_1000_connections_all_answered_while_the_child_is_killed_every_100(daemon, tmp_path):
    baseline = daemon.fd_count()
    port = hold_tcp_listener(daemon)
    proc = serve(daemon, "--session", "web", "--token", "1", "--", PY, program(tmp_path, "server.py", SERVER))
    answered, pids = 0, []
    while answered < 1000:
        # Ten at once: they wait in the listener's queue until a child takes them.
        batch = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(10)]
        for c in batch:
            line = c.makefile().readline()
            c.close()
            assert line.strip().isdigit(), (answered, line)
            pids.append(int(line))
            answered += 1
        if answered == 10:
            serve_fds = fd_count(proc.pid)
        if answered % 100 == 0 and answered < 1000:
            os.kill(pids[-1], signal.SIGKILL)
            wait_until(lambda: gone(pids[-1]), what="the killed child to die")
    assert answered == 1000
    assert fd_count(proc.pid) == serve_fds, "serve keeps no fd of its children's"
    assert len(set(pids)) == 10, "a new child after each kill"
    err = stop(proc)
    assert err.count("was killed by SIGKILL") == 9, err
    assert "killed by SIGTERM" in err and "failed within" not in err, err
    end_session_and_check_fds(daemon, baseline)


def test_connections_queued_when_a_child_crashes_go_to_the_next_child(daemon, tmp_path):
    """No new readiness edge comes for them: serve looks at the fd itself after each exit."""
    baseline = daemon.fd_count()
    port = hold_tcp_listener(daemon)
    crasher = program(tmp_path, "crasher.py", SERVER.replace("    conn.close()", "    conn.close()\n    os._exit(1)"))
    proc = serve(daemon, "--session", "web", "--token", "1", "--restart-limit", "20/10s", "--", PY, crasher)
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
    pids = [int(c.makefile().readline()) for c in conns]
    for c in conns:
        c.close()
    assert len(set(pids)) == 8, pids
    wait_until(lambda: gone(pids[-1]), what="the last child to exit")
    err = stop(proc)
    assert err.count("exited with status 1") == 8, err
    end_session_and_check_fds(daemon, baseline)


def test_the_child_sees_listen_fds_pid_fdnames_and_the_listener_at_fd_3(daemon, tmp_path):
    baseline = daemon.fd_count()
    port = hold_tcp_listener(daemon, token=7)
    proc = serve(daemon, "--session", "web", "--token", "7", "--", PY, program(tmp_path, "report.py", REPORT))
    seen = json.loads(ask(port))
    assert seen["LISTEN_FDS"] == "1" and seen["LISTEN_PID"] == str(seen["pid"]), seen
    assert seen["LISTEN_FDNAMES"] == "web.7" and seen["REMOTE_ADDR"] is None, seen
    assert seen["listening"] and seen["sockname"] == ["127.0.0.1", port], seen
    # fd 3 and the standard ones: nothing of serve's (daemon socket, signalfd, pipe) leaks into the child.
    # (The fourth is the one os.listdir opened on /proc/self/fd.)
    assert seen["fds"][:4] == [0, 1, 2, 3] and len(seen["fds"]) == 5, seen
    stop(proc)
    # --name replaces the name.
    proc = serve(daemon, "--session", "web", "--token", "7", "--name", "http", "--", PY, str(tmp_path / "report.py"))
    assert json.loads(ask(port))["LISTEN_FDNAMES"] == "http"
    stop(proc)
    end_session_and_check_fds(daemon, baseline)


def test_accept_gives_each_child_its_connection_and_remote_addr(daemon, tmp_path):
    baseline = daemon.fd_count()
    port = hold_tcp_listener(daemon)
    proc = serve(daemon, "--session", "web", "--token", "1", "--accept", "--", PY, program(tmp_path, "report.py", REPORT))
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            seen = json.loads(c.makefile().readline())
            assert seen["LISTEN_FDS"] == "1" and seen["LISTEN_PID"] == str(seen["pid"]), seen
            assert seen["LISTEN_FDNAMES"] == "connection" and not seen["listening"], seen
            assert seen["peername"] == list(c.getsockname()) == [seen["REMOTE_ADDR"], int(seen["REMOTE_PORT"])], seen
            assert seen["sockname"] == ["127.0.0.1", port] and len(seen["fds"]) == 5, seen
        wait_until(lambda: gone(seen["pid"]), what="the child to exit")
    err = stop(proc)
    assert err.count("exited with status 0") == 3, err
    end_session_and_check_fds(daemon, baseline)


def test_accept_runs_at_most_max_children_at_once_and_leaks_no_fd(daemon, tmp_path):
    baseline = daemon.fd_count()
    port = hold_tcp_listener(daemon)
    log = tmp_path / "children.log"
    proc = serve(daemon, "--session", "web", "--token", "1", "--accept", "--max-children", "3", "--",
                 PY, program(tmp_path, "slow.py", SLOW), str(log), "0.3")
    assert ask(port).strip().isdigit()
    serve_fds = fd_count(proc.pid)
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(12)]
    answers = [c.makefile().readline() for c in conns]
    for c in conns:
        c.close()
    assert all(a.strip().isdigit() for a in answers) and len(set(answers)) == 12, answers
    wait_until(lambda: log.read_text().count("end") == 13, what="every child to log its end")
    events = sorted((float(t), what) for what, _, t in (line.split() for line in log.read_text().splitlines()))
    running, most = 0, 0
    for _, what in events:
        running += 1 if what == "start" else -1
        most = max(most, running)
    assert most == 3, events
    wait_until(lambda: fd_count(proc.pid) == serve_fds, what="serve back to its own fds")
    stop(proc)
    end_session_and_check_fds(daemon, baseline)


@pytest.mark.parametrize("child", ["exit 3", "exit 0"])
def test_a_child_that_fails_at_once_hits_the_restart_limit_and_serve_pauses(daemon, tmp_path, child):
    """`exit 0` fails too: it leaves the connection that woke it in the queue."""
    baseline = daemon.fd_count()
    port = hold_tcp_listener(daemon)
    waiting = socket.create_connection(("127.0.0.1", port))  # never taken: the fd stays readable
    starts = tmp_path / "starts"
    started = time.monotonic()
    proc = serve(daemon, "--session", "web", "--token", "1", "--restart-limit", "3/2s", "--",
                 "sh", "-c", f"echo x >>{starts}; {child}")
    wait_until(lambda: starts.exists() and starts.read_text().count("x") == 3, what="three starts")
    time.sleep(max(0.0, started + 1.2 - time.monotonic()))
    assert starts.read_text().count("x") == 3, "no fourth start within the 2 s window"
    # A pause, not giving up: starts again once the window has passed.
    wait_until(lambda: starts.read_text().count("x") >= 4, timeout=5, what="a start after the pause")
    assert time.monotonic() - started >= 1.9
    err = stop(proc)
    assert "3 children failed within 2s (--restart-limit 3/2s): the next starts in" in err, err
    if child == "exit 0":
        assert "exited with status 0, leaving the fd readable" in err, err
    waiting.close()
    end_session_and_check_fds(daemon, baseline)


def test_bad_usage_and_what_cannot_be_served_say_so_with_the_right_status(daemon, tmp_path):
    baseline = daemon.fd_count()
    hold_tcp_listener(daemon)
    r_end, w_end = os.pipe()
    assert mioctl(daemon, "hold", "--session", "pipes", "--fd", "3", "--token", "2", fds={3: r_end}).returncode == 0
    assert mioctl(daemon, "hold", "--session", "pipes", "--fd", "3", "--token", "3", "--interest", "writable",
                  fds={3: w_end}).returncode == 0
    os.close(r_end)
    os.close(w_end)
    assert mioctl(daemon, "waker", "--session", "pipes", "--token", "9").returncode == 0
    held_end = os.memfd_create("serve-held")
    try:
        assert mioctl(daemon, "hold", "--session", "pipes", "--fd", "3", "--token", "4", "--no-poll",
                      fds={3: held_end}).returncode == 0
    finally:
        os.close(held_end)
    not_executable = tmp_path / "plain"
    not_executable.write_text("#!/bin/sh\n")
    os.chmod(not_executable, stat.S_IRUSR | stat.S_IWUSR)
    web = ["--session", "web", "--token", "1"]
    cases = [
        (web, 64, "give the command to run after --"),
        (web + ["--max-children", "2", "--", "true"], 64, "--max-children needs --accept"),
        (web + ["--accept", "--max-children", "0", "--", "true"], 64, "--max-children: 1 or more"),
        (web + ["--restart-limit", "5", "--", "true"], 64, "restart-limit"),
        (web + ["--restart-limit", "0/1s", "--", "true"], 64, "restart-limit"),
        (web + ["--name", "a:b", "--", "true"], 64, "--name"),
        (web + ["--json", "--", "true"], 64, "--json does not apply"),
        (web + ["--", "no-such-program-of-mioctl"], 127, "not found in PATH"),
        (web + ["--", str(tmp_path / "missing")], 127, "no such file"),
        (web + ["--", str(not_executable)], 126, "cannot run"),
        (web + ["--", str(tmp_path)], 126, "directory"),
        (["--session", "nope", "--token", "1", "--", "true"], 1, "unknown_session"),
        (["--session", "web", "--token", "5", "--", "true"], 1, "session web has no token 5"),
        (["--session", "pipes", "--token", "9", "--", "true"], 1, "is a waker"),
        (["--session", "pipes", "--token", "4", "--", "true"], 1, "held without polling"),
        (["--session", "pipes", "--token", "3", "--", "true"], 1, "not readable"),
        (["--session", "pipes", "--token", "2", "--accept", "--", "true"], 1, "--accept needs a listening socket"),
        (["--socket", str(tmp_path / "no.sock")] + web + ["--", "true"], 2, "no mio-daemon at"),
    ]
    for args, status, text in cases:
        r = mioctl(daemon, "serve", *args)
        assert r.returncode == status and text in r.stderr, (args, r)
        if status != 64:
            assert r.stderr.count("\n") == 1, (args, r.stderr)
    # A session another connection is attached to: session_busy.
    proc = serve(daemon, *web, "--", PY, program(tmp_path, "server.py", SERVER))
    wait_until(lambda: any(s["name"] == "web" and s["attached"] for s in json.loads(mioctl(daemon, "sessions", "--json").stdout)["sessions"]),
               what="serve attached")
    r = mioctl(daemon, "serve", *web, "--", "true")
    assert r.returncode == 1 and "session_busy" in r.stderr, r
    stop(proc)
    assert mioctl(daemon, "end", "pipes").returncode == 0
    end_session_and_check_fds(daemon, baseline)


def test_sigterm_ends_every_child_and_serve_exits_0(daemon, tmp_path):
    baseline = daemon.fd_count()
    port = hold_tcp_listener(daemon)
    log = tmp_path / "children.log"
    proc = serve(daemon, "--session", "web", "--token", "1", "--accept", "--", PY, program(tmp_path, "slow.py", SLOW), str(log), "60")
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    wait_until(lambda: log.exists() and log.read_text().count("start") == 3, what="three children")
    pids = [int(line.split()[1]) for line in log.read_text().splitlines()]
    begun = time.monotonic()
    err = stop(proc)
    assert time.monotonic() - begun < 5
    assert err.count("was killed by SIGTERM") == 3 and all(gone(p) for p in pids), err
    for c in conns:
        assert c.recv(10) == b""  # the connection ended with its child
        c.close()
    end_session_and_check_fds(daemon, baseline)


def test_a_child_that_ignores_sigterm_gets_sigkill_after_the_stop_timeout(daemon, tmp_path):
    baseline = daemon.fd_count()
    port = hold_tcp_listener(daemon)
    ready = tmp_path / "ready"
    stubborn = program(tmp_path, "stubborn.py", f"""
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open({str(ready)!r}, "w").close()
time.sleep(60)
""")
    proc = serve(daemon, "--session", "web", "--token", "1", "--stop-timeout", "1s", "--", PY, stubborn)
    c = socket.create_connection(("127.0.0.1", port))
    wait_until(ready.exists, what="the child to start")
    begun = time.monotonic()
    err = stop(proc)
    assert 0.9 <= time.monotonic() - begun < 5, err
    assert "still running after --stop-timeout: sending SIGKILL" in err and "was killed by SIGKILL" in err, err
    c.close()
    end_session_and_check_fds(daemon, baseline)


def test_serve_goes_on_waiting_on_the_fd_itself_when_the_daemon_stops(daemon, tmp_path):
    port = hold_tcp_listener(daemon)
    proc = serve(daemon, "--session", "web", "--token", "1", "--", PY, program(tmp_path, "server.py", SERVER))
    first = int(ask(port))
    assert daemon.stop() == 0
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: gone(first), what="the child to die")
    time.sleep(0.3)  # serve idle, no daemon: this connection is seen by serve's own poll
    second = int(ask(port))
    assert second != first
    err = stop(proc)
    assert "the daemon is shutting down: waiting on the fd itself from now on" in err, err


def test_a_oneshot_registration_is_armed_again_after_each_event(daemon, tmp_path):
    baseline = daemon.fd_count()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    conn = daemon.raw()
    conn.ok({"op": "hello", "session": "once", "persist": True})
    conn.ok({"op": "register", "token": 4, "interest": ["readable"], "mode": "oneshot"}, fds=[listener.fileno()])
    conn.close()
    listener.close()
    # One connection per child, then it exits 0: each next one comes while serve is idle.
    single = program(tmp_path, "single.py", SERVER.replace("while True:", "for _ in range(1):"))
    proc = serve(daemon, "--session", "once", "--token", "4", "--", PY, single)
    pids = []
    for _ in range(3):
        pids.append(int(ask(port, timeout=5)))
        wait_until(lambda: gone(pids[-1]), what="the child to exit")
        time.sleep(0.2)
    assert len(set(pids)) == 3
    err = stop(proc)
    assert err.count("exited with status 0") == 3, err
    end_session_and_check_fds(daemon, baseline, session="once")
