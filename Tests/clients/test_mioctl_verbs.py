"""The verbs of issue 12 against a real daemon: sessions, list SESSION
(read-only), end, deregister, waker, info, call, several --fd, honest
refusals and exit statuses."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from binaries import mioctl_binary
from mioctl_cli import mioctl


def raw_lines(conn, count, timeout=5):
    conn.settimeout(timeout)
    buf = b""
    while buf.count(b"\n") < count:
        chunk = conn.recv(4096)
        assert chunk, buf
        buf += chunk
    return [json.loads(l) for l in buf.splitlines()]


def test_list_session_leaves_its_pending_events_in_place(daemon):
    baseline = daemon.fd_count()
    r_end, w_end = os.pipe()
    # A persistent session with a pipe, left without a connection.
    hold = mioctl(daemon, "hold", "--session", "keep", "--fd", "3", "--token", "5", fds={3: r_end})
    assert hold.returncode == 0, hold
    os.close(r_end)
    os.write(w_end, b"x")  # an event now pending in the detached session
    time.sleep(0.2)
    sessions = json.loads(mioctl(daemon, "sessions", "--json").stdout)["sessions"]
    assert [(s["name"], s["attached"], s["pending"]) for s in sessions] == [("keep", False, 1)]
    for _ in range(2):
        r = mioctl(daemon, "list", "keep")
        assert r.returncode == 0 and "token 5  pipe  readable  edge" in r.stdout, r
    assert "keep" in mioctl(daemon, "sessions").stdout
    overview = mioctl(daemon, "list")
    assert overview.returncode == 0 and "session keep" in overview.stdout and "token 5" in overview.stdout, overview
    # A later attach still receives the event.
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(daemon.socket_path)
    conn.sendall(b'{"op":"hello","session":"keep"}\n')
    hello, event = raw_lines(conn, 2)
    assert hello["ok"] and event["event"] == "ready" and event["token"] == 5 and event["readable"] is True
    # Listed while attached, too.
    r = mioctl(daemon, "list", "keep")
    assert r.returncode == 0 and "token 5" in r.stdout, r
    conn.close()
    os.close(w_end)
    r = mioctl(daemon, "end", "keep")
    assert r.returncode == 0 and "ended session keep" in r.stdout, r
    assert daemon.settled_fd_count(baseline) == baseline


def test_a_missing_session_is_an_error_in_text_and_json(daemon):
    for args in [["list", "nope"], ["end", "nope"]]:
        r = mioctl(daemon, *args)
        assert r.returncode == 1 and "unknown_session" in r.stderr and r.stderr.count("\n") == 1, r
        r = mioctl(daemon, *args, "--json")
        assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False, r


def test_waker_wake_deregister_from_the_shell(daemon):
    baseline = daemon.fd_count()
    r = mioctl(daemon, "waker", "--session", "bell", "--token", "9")
    assert r.returncode == 0 and "made waker token 9 in session bell" in r.stdout, r
    assert mioctl(daemon, "wake", "--session", "bell", "--token", "9").returncode == 0
    assert "token 9  waker" in mioctl(daemon, "list", "bell").stdout
    r = mioctl(daemon, "deregister", "--session", "bell", "--token", "9")
    assert r.returncode == 0 and "deregistered token 9" in r.stdout, r
    r = mioctl(daemon, "deregister", "--session", "bell", "--token", "9")
    assert r.returncode == 1 and "unknown_token" in r.stderr, r
    assert mioctl(daemon, "end", "bell").returncode == 0
    assert daemon.settled_fd_count(baseline) == baseline


def test_end_of_a_session_in_use_is_session_busy(daemon):
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(daemon.socket_path)
    conn.sendall(b'{"op":"hello","session":"busy","persist":true}\n')
    raw_lines(conn, 1)
    r = mioctl(daemon, "end", "busy")
    assert r.returncode == 1 and "session_busy" in r.stderr, r
    conn.close()
    assert mioctl(daemon, "end", "busy").returncode == 0


def test_info_and_version(daemon):
    r = mioctl(daemon, "info")
    assert r.returncode == 0 and "protocol                 1" in r.stdout and "max line" in r.stdout, r
    info = json.loads(mioctl(daemon, "info", "--json").stdout)
    assert info["server"] == "mio-daemon" and info["protocol"] == 1 and info["limits"]["max_line"] == 65536
    assert info["uptime_s"] >= 0 and info["socket"] == daemon.socket_path
    r = mioctl(daemon, "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"mioctl {info['version']} (protocol 1)"
    r = subprocess.run([daemon.binary, "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.strip() == f"mio-daemon {info['version']} (protocol 1)"


def test_call_prints_the_reply_and_exits_1_on_ok_false(daemon):
    r = mioctl(daemon, "call", '{"op":"ping","id":7}')
    assert r.returncode == 0 and json.loads(r.stdout) == {"id": 7, "ok": True}, r
    r = mioctl(daemon, "call", '{"op":"deregister","token":3}')
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "unknown_token", r
    r = mioctl(daemon, "call", '{"op":"bogus"}')
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False, r


def test_wait_on_several_fds_reports_the_ready_one(daemon):
    baseline = daemon.fd_count()
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    try:
        threading.Timer(0.3, lambda: os.write(b_w, b"x")).start()
        r = mioctl(daemon, "wait", "--fd", "3", "--fd", "4:40", "--timeout", "5s", fds={3: a_r, 4: b_r})
        assert r.returncode == 0 and r.stdout.strip() == "fd 4 (token 40): readable", r
        r = mioctl(daemon, "wait", "--fd", "3", "--fd", "4:w", "--timeout", "5s", fds={3: a_r, 4: a_w})
        assert r.returncode == 0 and r.stdout.strip() == "fd 4 (token 4): writable", r
        r = mioctl(daemon, "wait", "--fd", "3", "--writable", "--timeout", "5s", fds={3: a_w})
        assert r.returncode == 0 and r.stdout == "", r  # one fd: nothing to say which
        r = mioctl(daemon, "wait", "--fd", "3", "--fd", "4", "--timeout", "300ms", fds={3: a_r, 4: a_r})
        assert r.returncode == 64 or r.returncode == 1, r  # the same pipe twice under two numbers: nothing ready
        r = mioctl(daemon, "wait", "--fd", "3", "--timeout", "300ms", "--json", fds={3: b_r})
        assert r.returncode == 0 and json.loads(r.stdout)["token"] == 3, r
    finally:
        for fd in (a_r, a_w, b_r, b_w):
            os.close(fd)
    assert daemon.settled_fd_count(baseline) == baseline


def test_watch_several_fds(daemon):
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    baseline = daemon.fd_count()

    def place():
        os.dup2(a_r, 3)
        os.dup2(b_r, 4)
    proc = subprocess.Popen([mioctl_binary(), "watch", "--fd", "3:30", "--fd", "4:40"], env=daemon.client_env,
                            stdout=subprocess.PIPE, text=True, pass_fds=(3, 4), preexec_fn=place)
    try:
        time.sleep(0.5)
        os.write(b_w, b"x")
        assert proc.stdout.readline().strip() == "fd 4 (token 40): readable"
        os.write(a_w, b"x")
        assert proc.stdout.readline().strip() == "fd 3 (token 30): readable"
    finally:
        proc.terminate()
        proc.wait(5)
        for fd in (a_r, a_w, b_r, b_w):
            os.close(fd)
    assert daemon.settled_fd_count(baseline) == baseline


def test_fetch_of_a_missing_program_is_127(daemon):
    r_end, w_end = os.pipe()
    assert mioctl(daemon, "hold", "--session", "x", "--fd", "3", "--token", "1", fds={3: r_end}).returncode == 0
    r = mioctl(daemon, "fetch", "--session", "x", "--token", "1", "--", "/nonexistent/program")
    assert r.returncode == 127 and "cannot run /nonexistent/program" in r.stderr, r
    assert mioctl(daemon, "end", "x").returncode == 0
    os.close(r_end)
    os.close(w_end)


needs_root = pytest.mark.skipif(os.getuid() != 0, reason="needs root to run mioctl as another uid")


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


@pytest.fixture
def open_dir():
    path = tempfile.mkdtemp(prefix="mio-mioctl-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_root
def test_eacces_on_the_socket_is_permission_denied_with_the_path(daemon_factory, open_dir):
    path = os.path.join(open_dir, "mio.sock")
    d = daemon_factory([], socket_path=path)  # mode 0600: nobody may not connect
    r = subprocess.run([mioctl_binary(), "ping"], env=d.client_env, capture_output=True, text=True, timeout=20,
                       preexec_fn=as_nobody)
    assert r.returncode == 2 and "permission denied" in r.stderr and path in r.stderr, r
    assert r.stderr.count("\n") == 1 and "make run" not in r.stderr


@needs_root
def test_permission_denied_from_the_daemon_is_not_lost(daemon_factory, open_dir):
    path = os.path.join(open_dir, "mio.sock")
    d = daemon_factory(["--socket-mode", "0666"], socket_path=path)
    for _ in range(5):  # the line comes right after accept, racing the request: never lost
        for args in [["ping"], ["stats", "--json"], ["list", "x"]]:
            r = subprocess.run([mioctl_binary(), *args], env=d.client_env, capture_output=True, text=True, timeout=20,
                               preexec_fn=as_nobody)
            assert r.returncode == 1 and "permission_denied" in r.stderr + r.stdout, (args, r)


def test_hold_without_polling_and_with_a_lease(daemon, tmp_path):
    """`hold --no-poll` stores any kind of fd (here a regular file and a
    memfd); `--lease` gives the session a lease that `sessions` shows and
    that ends it once no connection uses it."""
    baseline = daemon.fd_count()
    path = tmp_path / "state.txt"
    path.write_text("kept")
    fd = os.open(path, os.O_RDONLY)
    memfd = os.memfd_create("cli-state")
    try:
        refused = mioctl(daemon, "hold", "--session", "files", "--fd", "3", "--token", "1", fds={3: fd})
        assert refused.returncode == 64 and "--no-poll holds it" in refused.stderr, refused
        held = mioctl(daemon, "hold", "--session", "files", "--fd", "3", "--token", "1", "--no-poll", "--lease", "2s",
                      fds={3: fd})
        assert held.returncode == 0, held
        assert mioctl(daemon, "hold", "--session", "files", "--fd", "3", "--token", "2", "--no-poll",
                      fds={3: memfd}).returncode == 0
    finally:
        os.close(fd)
        os.close(memfd)
    listed = mioctl(daemon, "list", "files")
    assert "token 1  file  held (not polled)" in listed.stdout and "token 2  memfd  held (not polled)" in listed.stdout, listed
    sessions = mioctl(daemon, "sessions")
    assert "files" in sessions.stdout and "lease 2 s, ends in" in sessions.stdout, sessions
    assert mioctl(daemon, "hold", "--session", "x", "--fd", "3", "--token", "1", "--lease", "0").returncode == 64
    deadline = time.monotonic() + 5
    while "files" in mioctl(daemon, "sessions").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "files" not in mioctl(daemon, "sessions").stdout, "the lease ended the session"
    assert daemon.settled_fd_count(baseline) == baseline
