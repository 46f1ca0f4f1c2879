"""The libmio-client suite (clients/c): its C test programs run against
real daemons (the shared ``daemon``/``daemon_factory`` fixtures of
Tests/conftest.py). Here: the library and the programs built by
clients/c's Makefile, a directory other uids can use, and the check every
test ends with: each daemon still running is back at its fd baseline."""

from __future__ import annotations

import pathlib
import signal
import shutil
import subprocess
import tempfile
from typing import Iterator

import pytest

C_CLIENT = pathlib.Path(__file__).resolve().parents[2] / "clients" / "c"


@pytest.fixture(scope="session")
def c_build() -> pathlib.Path:
    """clients/c/build with the library and tests/ (make: no-op when up to date)."""
    done = subprocess.run(["make", "-s", "-C", str(C_CLIENT), "all", "tests"], capture_output=True, text=True)
    assert done.returncode == 0, f"building libmio-client failed:\n{done.stdout}\n{done.stderr}"
    return C_CLIENT / "build"


@pytest.fixture(autouse=True)
def daemons_back_at_fd_baseline(request: pytest.FixtureRequest, daemon_factory) -> Iterator[None]:
    """Torn down before daemon_factory stops the test's daemons: each one
    still running holds exactly the fds it held with no client."""
    yield
    for d in getattr(request.node, "_mio_daemons", []):
        if d.alive():
            d.expect_fd_count(d.fd_baseline, what="after the test's C clients exited ")


@pytest.fixture
def public_dir() -> Iterator[pathlib.Path]:
    """A directory under /tmp any uid can enter (pytest's tmp_path is 0700)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="mio-c-client-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stopped_during(c_build, daemon):
    """Runs a C test program's `shutdown` case (`stopped_during("api_test")`):
    it says "ready" once it waits, the daemon then gets SIGTERM, and the
    program must end its wait with "ok"; the daemon must exit 0."""
    def run(program: str, env=None) -> None:
        client = subprocess.Popen([str(c_build / "tests" / program), "shutdown", daemon.socket_path, str(daemon.pid)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert client.stdout.readline().strip() == "ready"
            daemon.send_signal(signal.SIGTERM)
            out, err = client.communicate(timeout=20)
        finally:
            if client.poll() is None:
                client.kill()
        assert client.returncode == 0, err
        assert out.strip() == "ok"
        assert daemon.wait_exit() == 0
    return run
