"""Running the daemon (docs/protocol.md, "Running the daemon"): the socket file and its directory, stale sockets,
a second daemon on a live socket, socket activation, sd_notify, logs, and
RLIMIT_NOFILE ("Limits")."""

import os
import resource
import signal
import socket
import stat
import subprocess
import time

import pytest

from timing import wait_until


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_socket_mode_0600_by_default(daemon):
    assert stat.S_ISSOCK(os.stat(daemon.socket_path).st_mode)
    assert mode_of(daemon.socket_path) == 0o600


def test_creates_missing_directory_0700(daemon_factory, tmp_path):
    path = tmp_path / "new" / "mio.sock"
    d = daemon_factory([], socket_path=str(path))
    assert mode_of(path.parent) == 0o700
    assert mode_of(path) == 0o600
    d.client().ping()


def test_creates_missing_directory_0755_and_socket_0666_with_allow_uid(daemon_factory, tmp_path):
    path = tmp_path / "new" / "mio.sock"
    daemon_factory(["--allow-uid", "65534"], socket_path=str(path))
    assert mode_of(path.parent) == 0o755
    assert mode_of(path) == 0o666


def test_allow_gid_also_opens_modes(daemon_factory, tmp_path):
    path = tmp_path / "new" / "mio.sock"
    daemon_factory(["--allow-gid", "65534"], socket_path=str(path))
    assert mode_of(path) == 0o666


def test_socket_mode_flag(daemon_factory):
    d = daemon_factory(["--socket-mode", "0660"])
    assert mode_of(d.socket_path) == 0o660


def test_replaces_stale_socket_file(daemon_factory, tmp_path):
    path = tmp_path / "stale" / "mio.sock"
    path.parent.mkdir(mode=0o700)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the file stays, nobody listens
    assert path.exists()
    d = daemon_factory([], socket_path=str(path))
    d.client().ping()


def test_refuses_to_start_when_a_live_daemon_answers(daemon, daemon_factory):
    second = daemon_factory([], socket_path=daemon.socket_path, wait=False, expect_exit_zero=False)
    rc = second.wait_exit(10)
    assert rc != 0, "a second daemon started on a live socket"
    # the first one is unharmed, its socket file still there
    assert os.path.exists(daemon.socket_path)
    daemon.client().ping()


def test_logs_connection_open_and_close(daemon):
    before = daemon.stderr_path.read_bytes()
    c = daemon.client()
    c.ping()
    c.close()
    wait_until(lambda: len(daemon.stderr_path.read_bytes()) > len(before), what="a log line")
    time.sleep(0.1)
    new = daemon.stderr_path.read_bytes()[len(before):].decode("utf-8", "replace")
    assert len([l for l in new.splitlines() if l.strip()]) >= 2, new


def test_log_level_flag_accepted(daemon_factory):
    for level in ("info", "error"):
        daemon_factory(["--log-level", level]).client().ping()


def start_activated(daemon_factory, path):
    """A daemon started as systemd would: the listening socket as fd 3,
    LISTEN_FDS=1, LISTEN_PID = the daemon's pid."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    d = daemon_factory([], socket_path=path, listen_fds=[(listener.fileno(), "mio-daemon.socket")])
    return d, listener


def test_socket_activation(daemon_factory, tmp_path):
    path = str(tmp_path / "activated.sock")
    d, listener = start_activated(daemon_factory, path)
    listener.close()  # the daemon serves its own copy
    c = d.client()
    c.ping()
    c.close()
    d.send_signal(signal.SIGTERM)
    assert d.wait_exit(5) == 0
    assert os.path.exists(path), "under socket activation the daemon must not unlink the socket file"


def test_socket_activation_refuses_its_listener_as_register_fd(daemon_factory, tmp_path):
    from mio_client import MioError

    d, listener = start_activated(daemon_factory, str(tmp_path / "act.sock"))
    try:
        c = d.client()
        with pytest.raises(MioError) as info:
            c.register(listener, 1)  # the very socket the daemon serves
        assert info.value.code == "bad_fd"
        d.close_all_and_check_fds()
    finally:
        listener.close()


def test_sd_notify_ready_and_stopping(daemon_factory, tmp_path):
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(10)
    try:
        d = daemon_factory([], env={"NOTIFY_SOCKET": notify_path})
        messages = []
        deadline = time.monotonic() + 10
        while not any(b"READY=1" in m for m in messages) and time.monotonic() < deadline:
            messages.append(notify.recv(4096))
        assert any(b"READY=1" in m for m in messages), messages
        d.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not any(b"STOPPING=1" in m for m in messages) and time.monotonic() < deadline:
            messages.append(notify.recv(4096))
        assert any(b"STOPPING=1" in m for m in messages), messages
        assert d.wait_exit(5) == 0
    finally:
        notify.close()


def test_sd_notify_watchdog_and_status(daemon_factory, tmp_path):
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.2)
    try:
        # WATCHDOG_USEC=400 ms: WATCHDOG=1 about every 200 ms
        daemon_factory([], env={"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "400000"})
        messages = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                messages.append(notify.recv(4096))
            except socket.timeout:
                pass
        text = b"\n".join(messages)
        assert text.count(b"WATCHDOG=1") >= 3, messages
        assert b"STATUS=" in text, messages
    finally:
        notify.close()


def raise_soft_nofile_limit_to(soft, hard):
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def nofile_limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        for text in f:
            if text.startswith("Max open files"):
                parts = text.split()
                return int(parts[3]), int(parts[4])
    raise AssertionError("no 'Max open files' line")


def test_raises_soft_nofile_limit_to_hard(daemon_factory):
    d = daemon_factory([], popen={"preexec_fn": raise_soft_nofile_limit_to(256, 2048)})
    soft, hard = nofile_limits(d.pid)
    assert hard == 2048 and soft == 2048
    cap = d.client().hello()["limits"]["max_registrations_per_uid"]
    assert 0 < cap < 2048, cap


def test_registration_cap_below_nofile_limit_is_enforced(daemon_factory, fds):
    d = daemon_factory([], popen={"preexec_fn": raise_soft_nofile_limit_to(128, 128)})
    cap = d.client().hello()["limits"]["max_registrations_per_uid"]
    assert 0 < cap < 128
    from mio_client import MioError

    c = d.client()
    for token in range(cap):
        c.register(fds.pipe()[0], token)
    with pytest.raises(MioError) as info:
        c.register(fds.pipe()[0], cap)
    assert info.value.code == "limit_exceeded"
    c.ping()
    d.close_all_and_check_fds()


# Scheduling (docs/protocol.md, "Running the daemon"): the policy the
# daemon was started with, or SCHED_BATCH with --scheduling batch when that
# is the default policy; a policy chosen on purpose is kept.

def _policies(pid):
    """The scheduling policy of every thread of `pid`."""
    return {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


def test_keeps_the_policy_it_was_started_with_by_default(daemon_factory):
    assert os.sched_getscheduler(0) == os.SCHED_OTHER, "the test itself must run under the default policy"
    d = daemon_factory([])
    assert _policies(d.pid) == {os.SCHED_OTHER}
    d.assert_healthy()


def test_scheduling_batch_asks_for_batch_under_the_default_policy(daemon_factory):
    d = daemon_factory(["--scheduling", "batch"])
    assert _policies(d.pid) == {os.SCHED_BATCH}
    assert "SCHED_BATCH" in d.stderr_tail()
    d.assert_healthy()


def test_scheduling_batch_keeps_a_policy_chosen_on_purpose(daemon_factory):
    # As a unit's CPUSchedulingPolicy=idle would start it.
    d = daemon_factory(["--scheduling", "batch"], wrapper=["chrt", "--idle", "0"])
    assert _policies(d.pid) == {os.SCHED_IDLE}
    d.assert_healthy()


def test_scheduling_takes_only_its_two_words(daemon_binary, tmp_path):
    result = subprocess.run([daemon_binary, "--socket", str(tmp_path / "s.sock"), "--scheduling", "fifo"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 64, result
    assert "batch" in result.stderr and "inherit" in result.stderr, result.stderr
