"""Fixtures for the hostile-client suite.

Every test gets its own daemon (the real binary: ``$MIO_DAEMON_BIN``, else
``<repo>/.build/debug/mio-daemon``) on a socket in its own temporary
directory, with the flags of ``@pytest.mark.daemon_args(...)``. Its fd count
and RSS are recorded after start (``fd_baseline``, ``rss_baseline_kib``).
Teardown stops it with SIGTERM and asserts exit status 0; on failure the
daemon's stderr is attached to the report. A test that runs longer than
``MIO_HOSTILE_TIME_LIMIT`` seconds (default 60) fails instead of hanging.
"""

from __future__ import annotations

import os
import pathlib
import signal
import sys
from typing import Any, Callable, Iterator, List, Optional, Sequence

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
sys.path.insert(0, str(HERE))

import mio_testkit  # noqa: E402
from mio_testkit import pytest_runtest_call, pytest_runtest_makereport  # noqa: E402,F401  (hooks)
from hostile_support import Daemon, PipeProbes, daemon_binary_path  # noqa: E402

mio_testkit.TEST_TIME_LIMIT_S = float(os.environ.get("MIO_HOSTILE_TIME_LIMIT", "60"))


@pytest.fixture(scope="session")
def daemon_binary() -> str:
    path = daemon_binary_path()
    if not os.access(path, os.X_OK):
        pytest.exit(f"mio-daemon binary not found at {path}: build it or set MIO_DAEMON_BIN", returncode=3)
    return path


@pytest.fixture
def daemon_factory(request: pytest.FixtureRequest, tmp_path: pathlib.Path, daemon_binary: str) -> Iterator[Callable[..., Daemon]]:
    started: List[Daemon] = []

    def start(args: Sequence[str] = (), *, nofile: Optional[int] = None, log_level: str = "debug") -> Daemon:
        workdir = tmp_path / f"daemon{len(started) + 1}"
        workdir.mkdir()
        d = Daemon(daemon_binary, workdir, args, nofile=nofile, log_level=log_level)
        started.append(d)
        daemons = getattr(request.node, "_mio_daemons", [])
        daemons.append(d)
        request.node._mio_daemons = daemons  # type: ignore[attr-defined]
        d.start()
        return d

    yield start

    problems = []
    for d in reversed(started):
        d.close_conns()
        rc = d.stop()
        if rc != 0:
            problems.append(f"daemon pid {d.pid} exited with status {rc}, expected 0 after SIGTERM")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def daemon(request: pytest.FixtureRequest, daemon_factory: Callable[..., Daemon]) -> Daemon:
    marker = request.node.get_closest_marker("daemon_args")
    args = [str(a) for a in marker.args] if marker else []
    return daemon_factory(args)


@pytest.fixture
def probes() -> Iterator[PipeProbes]:
    p = PipeProbes()
    yield p
    p.close()


def pytest_report_header(config: pytest.Config) -> str:
    return f"mio-daemon binary: {daemon_binary_path()}; uid {os.getuid()}"
