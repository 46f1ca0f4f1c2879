"""Every mioctl subcommand against the real daemon."""
import json
import os
import socket
import subprocess
import threading
import time

from mioctl_cli import mioctl


def test_ping_stats_and_json(daemon):
    r = mioctl(daemon, "ping")
    assert r.returncode == 0 and "answered" in r.stdout and daemon.socket_path in r.stdout, r
    r = mioctl(daemon, "ping", "--json")
    assert json.loads(r.stdout) == {"ok": True}
    r = mioctl(daemon, "stats")
    assert r.returncode == 0 and "registrations" in r.stdout
    stats = json.loads(mioctl(daemon, "stats", "--json").stdout)["stats"]
    assert set(stats) == {"uptime_s", "connections", "sessions", "registrations", "fds_held", "events_delivered", "events_coalesced"}


def test_no_daemon_is_one_line_and_exit_2(tmp_path, daemon):
    env_path = str(tmp_path / "nothing.sock")
    r = mioctl(daemon, "ping", "--socket", env_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and env_path in r.stderr and "mio-daemon" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "Fatal" not in r.stderr


def test_bad_fd_arguments_are_refused_before_anything_is_sent(daemon, tmp_path):
    before = json.loads(mioctl(daemon, "stats", "--json").stdout)["stats"]
    r = mioctl(daemon, "wait", "--fd", "9", "--timeout", "1")
    assert r.returncode == 64 and "not an open file descriptor" in r.stderr
    with open(tmp_path / "regular", "w") as f:
        r = mioctl(daemon, "wait", "--fd", "3", "--timeout", "1", fds={3: f.fileno()})
    assert r.returncode == 64 and "regular file" in r.stderr
    r = mioctl(daemon, "watch", "--fd", "three")
    assert r.returncode != 0 and "fd" in r.stderr
    after = json.loads(mioctl(daemon, "stats", "--json").stdout)["stats"]
    assert after["registrations"] == before["registrations"] == 0


def test_wait_ready_and_timeout(daemon):
    baseline = daemon.fd_count()
    r_end, w_end = os.pipe()
    try:
        r = mioctl(daemon, "wait", "--fd", "3", "--timeout", "0.3", fds={3: r_end})
        assert r.returncode == 1, r
        threading.Timer(0.3, lambda: os.write(w_end, b"x")).start()
        started = time.monotonic()
        r = mioctl(daemon, "wait", "--fd", "3", "--timeout", "10", fds={3: r_end})
        assert r.returncode == 0, r
        assert time.monotonic() - started < 9
        r = mioctl(daemon, "wait", "--fd", "3", "--writable", "--timeout", "5", fds={3: w_end})
        assert r.returncode == 0, r
    finally:
        os.close(r_end)
        os.close(w_end)
    assert daemon.settled_fd_count(baseline) == baseline, "each wait's registration is gone with its connection"


def test_watch_prints_events_until_interrupted(daemon):
    r_end, w_end = os.pipe()
    baseline = daemon.fd_count()
    proc = subprocess.Popen([daemon.client_env["MIOCTL"], "watch", "--fd", f"3:42", "--json"], env=daemon.client_env,
                            stdout=subprocess.PIPE, text=True, pass_fds=(3,),
                            preexec_fn=lambda: os.dup2(r_end, 3))
    try:
        time.sleep(0.3)
        os.write(w_end, b"x")
        line = proc.stdout.readline()
        event = json.loads(line)
        assert event["event"] == "ready" and event["token"] == 42 and event["readable"] is True
    finally:
        proc.terminate()
        proc.wait(5)
        os.close(r_end)
        os.close(w_end)
    assert daemon.settled_fd_count(baseline) == baseline, "watch's registration is gone with its connection"


def test_hold_list_fetch_wake(daemon, tmp_path):
    path = str(tmp_path / "listener.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)
    baseline = daemon.fd_count()
    r = mioctl(daemon, "hold", "--session", "web", "--fd", "3", "--token", "1", fds={3: listener.fileno()})
    assert r.returncode == 0 and "held fd 3 as token 1 in session web" in r.stdout, r
    listener.close()
    assert daemon.settled_fd_count(baseline + 1) == baseline + 1, "the daemon holds the listener"
    r = mioctl(daemon, "list", "--session", "web")
    assert r.returncode == 0 and "token 1  socket  readable  edge" in r.stdout, r
    listed = json.loads(mioctl(daemon, "list", "--session", "web", "--json").stdout)
    assert listed["registrations"] == [{"token": 1, "interest": ["readable"], "mode": "edge", "kind": "socket"}]

    # A client connects while no server runs: it waits in the backlog.
    client = socket.socket(socket.AF_UNIX)
    client.connect(path)
    r = mioctl(daemon, "fetch", "--session", "web", "--token", "1", "--",
               "python3", "-c", "import os,socket; assert os.environ['LISTEN_FDS']=='1'; "
               "assert int(os.environ['LISTEN_PID'])==os.getpid(); "
               "c,_=socket.socket(fileno=3).accept(); c.sendall(b'hello from fd 3')")
    assert r.returncode == 0, r
    assert client.recv(100) == b"hello from fd 3"
    client.close()

    r = mioctl(daemon, "fetch", "--session", "web", "--token", "2", "--", "true")
    assert r.returncode == 1 and "unknown_token" in r.stderr
    r = mioctl(daemon, "wake", "--session", "web", "--token", "1")
    assert r.returncode == 1 and "not a waker" in r.stderr
    r = mioctl(daemon, "fetch", "--session", "web", "--token", "1", "--deregister", "--", "true")
    assert r.returncode == 0, r
    assert daemon.settled_fd_count(baseline) == baseline


def test_wake_from_mioctl_reaches_the_session(daemon):
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(daemon.socket_path)
    conn.sendall(b'{"op":"hello","session":"bell"}\n{"op":"waker","token":9}\n')
    buf = b""
    while buf.count(b"\n") < 2:
        buf += conn.recv(4096)
    r = mioctl(daemon, "wake", "--session", "bell", "--token", "9")
    assert r.returncode == 0 and "woke token 9" in r.stdout, r
    conn.settimeout(5)
    while b'"event":"ready"' not in buf:
        buf += conn.recv(4096)
    assert b'"token":9,"readable":true' in buf
    conn.close()


def test_help_has_an_example_for_each_subcommand(daemon):
    for sub in ["ping", "info", "stats", "sessions", "list", "end", "watch", "wait", "hold", "fetch", "serve", "deregister", "waker", "wake", "call"]:
        r = mioctl(daemon, sub, "--help")
        assert r.returncode == 0 and "Example" in r.stdout, (sub, r.stdout)
    r = mioctl(daemon, "--generate-completion-script", "bash")
    assert r.returncode == 0 and "complete" in r.stdout
