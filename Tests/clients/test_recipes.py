"""Every socat recipe in docs/recipes.md, run exactly as written."""
import json
import pathlib
import re
import shutil
import subprocess

import pytest

from binaries import REPO_ROOT as REPO

RECIPES = re.findall(r"```sh\n(.*?)\n```", (REPO / "docs" / "recipes.md").read_text(), re.S)


def run(daemon, command, timeout=15):
    return subprocess.run(["bash", "-c", command], env=daemon.client_env, capture_output=True, text=True, timeout=timeout)


def lines(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def recipe(fragment):
    found = [r for r in RECIPES if fragment in r]
    assert len(found) == 1, fragment
    return found[0]


@pytest.fixture(autouse=True)
def need_socat():
    if not shutil.which("socat"):
        pytest.skip("socat is not installed (make test installs it)")


def test_every_recipe_is_covered():
    assert len(RECIPES) == 8
    assert "READLINE" not in "".join(RECIPES).replace("has no READLINE", "")


def test_ping(daemon):
    assert lines(run(daemon, recipe('"op":"ping","id":1')).stdout) == [{"id": 1, "ok": True}]


def test_stats(daemon):
    assert lines(run(daemon, recipe('"op":"stats"')).stdout)[0]["stats"]["connections"] == 1


def test_list_of_a_session(daemon):
    out = lines(run(daemon, recipe('"op":"list"')).stdout)
    assert out[0]["session"] == "demo" and out[1] == {"ok": True, "registrations": []}


def test_watch_a_session_and_wake_it_from_another_connection(daemon):
    # Make "demo" persistent with a waker, from a connection that then goes away.
    setup = """printf '%s\\n' '{"op":"hello","session":"demo","persist":true}' '{"op":"waker","token":9}' | socat -t 1 - UNIX-CONNECT:$MIO_SOCKET"""
    assert [o["ok"] for o in lines(run(daemon, setup).stdout)] == [True, True]
    # The watch recipe, as written (-t 60); the test stops it once the event came.
    proc = subprocess.Popen(["bash", "-c", recipe("-t 60")], env=daemon.client_env, stdout=subprocess.PIPE, text=True)
    try:
        hello = json.loads(proc.stdout.readline())
        assert hello["ok"] and hello["session"] == "demo"
        woke = lines(run(daemon, """echo '{"op":"wake","token":9,"session":"demo"}' | socat -t 2 - UNIX-CONNECT:$MIO_SOCKET""").stdout)
        assert woke == [{"ok": True}]
        event = json.loads(proc.stdout.readline())
        assert event["event"] == "ready" and event["token"] == 9 and event["readable"] is True
    finally:
        proc.terminate()
        proc.wait(5)


def test_waker_and_wake(daemon):
    out = lines(run(daemon, recipe('"session":"bell"')).stdout)
    assert [o.get("ok") for o in out[:3]] == [True, True, True]
    assert out[3]["event"] == "ready" and out[3]["token"] == 9 and out[3]["readable"] is True


def test_poll_with_timeout(daemon):
    out = lines(run(daemon, recipe('"op":"poll"')).stdout)
    assert out[0]["ok"] and out[1] == {"ok": True, "events": []}


def test_wake_another_session_with_its_setup_in_view(daemon):
    out = lines(run(daemon, recipe('"session":"alarm"}')).stdout)
    assert [o["ok"] for o in out] == [True, True, True]
    assert daemon.raw().ok({"op": "sessions"})["sessions"][0]["pending"] == 1


def test_interactive_recipe_needs_no_readline(daemon):
    out = lines(run(daemon, recipe("STDIO")).stdout)
    assert out[0] == {"ok": True} and out[1]["ok"] and out[1]["sessions"] == []


README_BLOCKS = re.findall(r"```sh\n(.*?)\n```", (REPO / "README.md").read_text(), re.S)


def test_the_readme_mioctl_block_runs_as_written(daemon, tmp_path):
    block = next(b for b in README_BLOCKS if b.startswith("mkfifo my.fifo"))
    baseline = daemon.fd_count()
    r = subprocess.run(["bash", "-c", block], env=daemon.client_env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    out = r.stdout
    assert "answered in" in out and "protocol                 1" in out, r
    assert "made waker token 9 in session worker" in out and "worker  uid" in out and "1 pending" in out, r
    assert "token 9  waker" in out and "ended session worker" in out, r
    assert "held fd 3 as token 1 in session web" in out and "fd 3 is back as web.1" in out, r
    assert "ready" in out.splitlines() and '"stats":' in out, r
    assert r.returncode == 0, r
    assert daemon.settled_fd_count(baseline) == baseline
