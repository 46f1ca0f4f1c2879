"""Fixtures for the mio-daemon integration tests.

Each test gets its own daemon (the real binary: ``$MIO_DAEMON_BIN``, else
``<repo>/.build/debug/mio-daemon``) on a socket in its own temporary
directory, started with ``--log-level debug`` and the flags of the test's
``@pytest.mark.daemon_args(...)``. Teardown stops it with SIGTERM and
asserts exit status 0; on failure the daemon's stderr is shown.
"""

from __future__ import annotations

import os
import pathlib
import signal
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT / "clients" / "python"))
sys.path.insert(0, str(REPO_ROOT / "Tests" / "common"))
sys.path.insert(0, str(HERE))

import mio_testkit  # noqa: E402
from mio_testkit import pytest_runtest_call, pytest_runtest_makereport  # noqa: E402,F401  (hooks)
from support import KILLED, TIME_SCALE, Daemon, Fds, daemon_binary_path  # noqa: E402

# A test that runs longer than this fails instead of hanging the suite.
mio_testkit.TEST_TIME_LIMIT_S = float(os.environ.get("MIO_TEST_TIME_LIMIT") or 60 * TIME_SCALE)


@pytest.fixture(scope="session")
def daemon_binary() -> str:
    path = daemon_binary_path(REPO_ROOT)
    if not os.access(path, os.X_OK):
        pytest.exit(
            f"mio-daemon binary not found or not executable at {path}: build it (swift build) "
            "or set MIO_DAEMON_BIN",
            returncode=3,
        )
    return path


def _register(item: pytest.Item, daemon: Daemon) -> None:
    daemons: List[Daemon] = getattr(item, "_mio_daemons", [])
    daemons.append(daemon)
    item._mio_daemons = daemons  # type: ignore[attr-defined]


@pytest.fixture
def daemon_factory(request: pytest.FixtureRequest, tmp_path: pathlib.Path, daemon_binary: str) -> Iterator[Callable[..., Daemon]]:
    """Start daemons with custom flags, paths, environment; each is stopped
    (SIGTERM, exit status 0 asserted) at teardown unless the test did it."""
    started: List[Daemon] = []
    counter = [0]

    def start(
        args: Optional[List[str]] = None,
        *,
        socket_path: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        wait: bool = True,
        expect_exit_zero: bool = True,
        **popen: Any,
    ) -> Daemon:
        counter[0] += 1
        workdir = tmp_path / f"daemon{counter[0]}"
        workdir.mkdir()
        d = Daemon(
            daemon_binary,
            workdir,
            list(args or []),
            socket_path=socket_path,
            env=env,
            popen=popen,
        )
        d.expect_exit_zero = expect_exit_zero
        _register(request.node, d)
        started.append(d)
        d.start(wait=wait)
        return d

    yield start

    problems = []
    for d in reversed(started):
        d.close_clients()
        rc = d.stop()
        if d.expect_exit_zero and rc == KILLED:
            problems.append(f"daemon pid {d.pid} did not exit in time after SIGTERM and was killed")
        elif d.expect_exit_zero and rc != 0:
            problems.append(f"daemon pid {d.pid} exited with status {rc}, expected 0")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def daemon(request: pytest.FixtureRequest, daemon_factory: Callable[..., Daemon]) -> Daemon:
    """One daemon for this test, started with the marker's flags; its fd
    count after start is ``daemon.fd_baseline``."""
    marker = request.node.get_closest_marker("daemon_args")
    args = [str(a) for a in marker.args] if marker else []
    return daemon_factory(args)


def pytest_report_header(config: pytest.Config) -> str:
    from support import SANITIZER

    return (
        f"mio-daemon binary: {daemon_binary_path(REPO_ROOT)} (sanitizer: {SANITIZER or 'none'}, "
        f"time scale {TIME_SCALE}); running as uid {os.getuid()}"
    )


@pytest.fixture
def fds() -> Iterator[Fds]:
    """Make fds of every kind; the test's own copies are closed at the end."""
    made = Fds()
    yield made
    made.close_all()
