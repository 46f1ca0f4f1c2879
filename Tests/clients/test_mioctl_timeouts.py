"""mioctl never hangs and never crashes: every verb against a SIGSTOPped
daemon ends within --timeout plus 1 s with exit 2 and one line; every bad
number is a usage error (exit 64)."""
import os
import subprocess
import time

import pytest

from binaries import mioctl_binary
from mioctl_cli import mioctl

# Every verb, with what it needs; fd 3 is a pipe's read end.
VERBS = [
    ["ping"], ["info"], ["stats"], ["sessions"], ["list"], ["list", "s"], ["end", "s"],
    ["watch", "--fd", "3"], ["wait", "--fd", "3"], ["hold", "--session", "s", "--fd", "3", "--token", "1"],
    ["fetch", "--session", "s", "--token", "1", "--", "true"], ["deregister", "--session", "s", "--token", "1"],
    ["waker", "--session", "s", "--token", "1"], ["wake", "--session", "s", "--token", "1"],
    ["call", '{"op":"ping"}'], ["ping", "--json"], ["stats", "--json"], ["list", "s", "--json"],
]


def test_every_verb_gives_up_on_a_stopped_daemon(daemon):
    baseline = daemon.fd_count()
    r_end, w_end = os.pipe()
    try:
        with daemon.paused():
            started = time.monotonic()
            procs = [(verb, subprocess.Popen([mioctl_binary(), verb[0], "--timeout", "1", *verb[1:]], env=daemon.client_env,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=(3,),
                                             preexec_fn=lambda: os.dup2(r_end, 3)))
                     for verb in VERBS]
            for verb, proc in procs:
                out, err = proc.communicate(timeout=10)
                elapsed = time.monotonic() - started
                assert proc.returncode == 2, (verb, proc.returncode, out, err)
                assert err.count("\n") == 1 and "did not answer within 1" in err, (verb, err)
                assert elapsed < 1 + 1 + 0.5, (verb, elapsed)  # all ran at once: --timeout + 1 s (+ start-up)
    finally:
        os.close(r_end)
        os.close(w_end)
    daemon.ping_fresh()
    assert daemon.settled_fd_count(baseline) == baseline


def test_a_time_span_in_each_unit(daemon):
    for span in ["500ms", "5s", "1min", "1h", "infinity", "2", "0.25", "1min 30s"]:
        r = mioctl(daemon, "ping", "--timeout", span)
        assert r.returncode == 0, (span, r)


BAD_NUMBERS = [
    ["ping", "--timeout=inf"], ["ping", "--timeout=nan"], ["ping", "--timeout=1e20"], ["ping", "--timeout=-1"],
    ["ping", "--timeout=5x"], ["ping", "--timeout="], ["ping", "--timeout=99999999999999999999"],
    ["ping", "--timeout=1.2.3"], ["ping", "--timeout=100000d"],
    ["wait", "--fd=-1"], ["wait", "--fd=1e20"], ["wait", "--fd=nan"], ["wait", "--fd=99999999999"],
    ["wait", "--fd=3:-1"], ["wait", "--fd=3:18446744073709551616"], ["wait", "--fd=3:1:x"], ["wait", "--fd=3:1:r:w"],
    ["wake", "--session", "s", "--token=-1"], ["wake", "--session", "s", "--token=1e20"],
    ["wake", "--session", "s", "--token=inf"], ["hold", "--session", "s", "--fd=-3", "--token", "1"],
    ["list", "s", "--uid=-1"], ["end", "s", "--uid=4294967296"],
    ["wait", "--fd", "3", "--fd", "3"], ["wait", "--fd", "3:1", "--fd", "4:1"],
]


def test_no_number_crashes_mioctl(daemon):
    for args in BAD_NUMBERS:
        r = mioctl(daemon, *args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert "Fatal" not in r.stderr and "Stack dump" not in r.stderr and r.stderr.startswith("Error:"), (args, r.stderr)


def test_usage_errors_exit_64_and_unknown_fds_too(daemon):
    assert mioctl(daemon, "no-such-verb").returncode == 64
    assert mioctl(daemon, "call", "not json").returncode == 64
    assert mioctl(daemon, "wait").returncode == 64
    r = mioctl(daemon, "wait", "--fd", "9", "--timeout", "1")
    assert r.returncode == 64 and "not an open file descriptor" in r.stderr
