"""Every `Example:` line of mioctl's --help texts, run exactly as written
(issue 12: docs that run). The examples make a small tour: run in this
order in a directory holding a FIFO `my.fifo` (the one setup, which the
README's mioctl block shows), each one's session comes from an earlier one
(`hold` makes `web`, `waker` makes `worker`)."""
import os
import re
import signal
import subprocess
import threading
import time

from mioctl_cli import mioctl

# The order of the tour; every subcommand with an example must be here.
TOUR = ["ping", "info", "stats", "hold", "sessions", "list", "fetch", "serve", "deregister", "end",
        "waker", "wake", "call", "wait", "watch"]


def _examples(daemon):
    top = mioctl(daemon, "--help").stdout
    verbs = re.findall(r"^  ([a-z]+)\s", top.split("SUBCOMMANDS:", 1)[1], re.M)
    found = {}
    for verb in verbs:
        text = mioctl(daemon, verb, "--help").stdout
        for line in text.splitlines():
            if line.strip().startswith("Example: "):
                found[verb] = line.strip()[len("Example: "):]
    return found


def _bash(daemon, command, cwd, timeout=15, **kwargs):
    return subprocess.Popen(["bash", "-c", command], env=daemon.client_env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def _write_soon(path, delay=0.5):
    def go():
        time.sleep(delay)
        fd = os.open(path, os.O_RDWR)
        os.write(fd, b"hello\n")
        time.sleep(1.0)
        os.close(fd)
    threading.Thread(target=go, daemon=True).start()


def test_every_help_example_runs_as_written(daemon, tmp_path):
    examples = _examples(daemon)
    assert set(examples) == set(TOUR), f"examples not in the tour (or gone): {set(examples) ^ set(TOUR)}"
    os.mkfifo(tmp_path / "my.fifo")
    for verb in TOUR:
        command = examples[verb]
        if verb in ("wait", "serve"):
            _write_soon(tmp_path / "my.fifo")
        proc = _bash(daemon, command, tmp_path)
        if verb == "watch":
            _write_soon(tmp_path / "my.fifo", delay=0.3)
        if verb in ("watch", "serve"):
            time.sleep(1.5)
            os.killpg(proc.pid, signal.SIGTERM)  # they go on until interrupted
        out, err = proc.communicate(timeout=15)
        if verb == "watch":
            assert "readable" in out, (command, out, err)
            continue
        if verb == "serve":
            assert out == "hello\n" and "exited with status 0" in err, (command, out, err)
        assert proc.returncode == 0, (command, proc.returncode, out, err)
        if verb == "fetch":
            assert "my.fifo" in out, (command, out)
        if verb in ("sessions", "call"):
            assert "web" in out or "worker" in out, (command, out)
    daemon.close_connections()
    daemon.expect_fd_count(daemon.fd_baseline + 1, what="the waker of the persistent session worker")
