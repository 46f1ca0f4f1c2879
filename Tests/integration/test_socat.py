"""From a shell (docs/protocol.md, "Quick start" and "End of input"): socat, end of input, half-closed clients that keep
watching a session."""

import json
import os
import shutil
import subprocess
import time

import pytest

from raw_connection import line
from replies import assert_ok, ready
from timing import wait_readable

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")


def test_echo_ping_through_socat(daemon):
    result = subprocess.run(
        ["socat", "-t", "2", "-", f"UNIX-CONNECT:{daemon.socket_path}"],
        input=b'{"op":"ping"}\n',
        capture_output=True,
        timeout=15,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b'{"ok":true}\n'


def test_several_requests_through_socat(daemon):
    requests = b'{"op":"ping","id":1}\n{"op":"hello","id":2}\n{"op":"stats","id":3}\n{"op":"nope","id":4}\n'
    result = subprocess.run(
        ["socat", "-t", "1", "-", f"UNIX-CONNECT:{daemon.socket_path}"],
        input=requests,
        capture_output=True,
        timeout=15,
    )
    replies = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["id"] for r in replies] == [1, 2, 3, 4]
    assert [r["ok"] for r in replies] == [True, True, True, False]
    assert replies[3]["error"]["code"] == "unknown_op"


class LineReader:
    def __init__(self, stream):
        self.stream = stream
        self.buffer = b""

    def line(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line from socat within {timeout} s (have {self.buffer!r})"
            if wait_readable(self.stream.fileno(), remaining):
                chunk = os.read(self.stream.fileno(), 65536)
                assert chunk, f"socat ended its output (have {self.buffer!r})"
                self.buffer += chunk
        text, self.buffer = self.buffer.split(b"\n", 1)
        return text


@pytest.mark.parametrize("style", ["timeout", "ignoreeof"])
def test_socat_watches_a_session(daemon, fds, tmp_path, style):
    r, w = fds.pipe()
    owner = daemon.client()
    owner.hello("watched", persist=True)
    owner.register(r, 11)
    owner.close()

    hello = tmp_path / "hello.json"
    hello.write_bytes(b'{"op":"hello","session":"watched"}\n')
    if style == "timeout":
        # stdin ends at once: socat shuts down its sending side and waits 30 s
        command = ["socat", "-t", "30", "-", f"UNIX-CONNECT:{daemon.socket_path}"]
        stdin = open(hello, "rb")
    else:
        command = ["socat", f"OPEN:{hello},rdonly,ignoreeof!!STDOUT", f"UNIX-CONNECT:{daemon.socket_path}"]
        stdin = subprocess.DEVNULL
    proc = subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = LineReader(proc.stdout)
        reply = json.loads(out.line())
        assert reply["ok"] is True and reply["session"] == "watched"
        for _ in range(3):
            os.write(w, b"x")
            assert json.loads(out.line()) == ready(11, readable=True)
    finally:
        proc.terminate()
        proc.wait(5)
        if stdin is not subprocess.DEVNULL:
            stdin.close()
    ender = daemon.client()
    ender.hello("watched")
    ender.end()
    daemon.close_all_and_check_fds()


def test_half_closed_client_still_gets_events(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 1, "token": 3, "interest": ["readable"]}), [r])
    raw.shutdown_write()
    assert_ok(raw.read_json(), 1)
    os.write(w, b"x")
    assert raw.read_json() == ready(3, readable=True)
    os.write(w, b"y")
    assert raw.read_json() == ready(3, readable=True)
    raw.close()
    daemon.assert_fds_released()


def test_half_closed_then_closed_connection_is_cleaned_up(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "register", "id": 1, "token": 3, "interest": ["readable"]}), [r])
    raw.shutdown_write()
    assert_ok(raw.read_json(), 1)
    daemon.assert_fds_released(open_connections=1, held=1)
    raw.close()
    daemon.assert_fds_released()


def test_half_closed_client_gets_shutdown_notice(daemon):
    import signal

    raw = daemon.raw()
    raw.shutdown_write()
    time.sleep(0.05)
    daemon.send_signal(signal.SIGTERM)
    assert raw.wait_eof() == [b'{"event":"shutdown"}']
    assert daemon.wait_exit(5) == 0


def test_interactive_socat(daemon):
    proc = subprocess.Popen(
        ["socat", "-t", "1", "-", f"UNIX-CONNECT:{daemon.socket_path}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out = LineReader(proc.stdout)
        for i in range(3):
            proc.stdin.write(b'{"op":"ping","id":%d}\n' % i)
            proc.stdin.flush()
            assert json.loads(out.line()) == {"id": i, "ok": True}
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
