"""What every Python suite shares: the test kit on sys.path, the daemon
fixtures, and the hooks that show a failed test's daemon stderr and stop a
hung test. ``python3 -m pytest Tests`` from the repository root runs every
suite (pytest.ini there: rootdir-relative module names, so two suites may
have files of the same name).

Each test that asks for ``daemon`` gets its own daemon (the real binary:
``$MIO_DAEMON_BIN``, see Tests/common/binaries.py) on a socket in its own
temporary directory, started with ``--log-level debug`` and the flags of
its ``@pytest.mark.daemon_args(...)``. Teardown closes the test's
connections, stops the daemon with SIGTERM and asserts exit status 0.
"""

from __future__ import annotations

import os
import pathlib
import signal
import sys
from typing import Any, Callable, Iterator, List, Sequence

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent / "clients" / "python"))
sys.path.insert(0, str(TESTS / "common"))

# The kit's own asserts explain themselves too.
pytest.register_assert_rewrite("daemon", "raw_connection", "replies", "mio_testkit", "fake_service_manager", "mioctl_cli")

from binaries import daemon_binary as daemon_binary_path, mioctl_binary as mioctl_binary_path  # noqa: E402
from daemon import KILLED, Daemon  # noqa: E402
from mio_testkit import Fds, PipeProbes  # noqa: E402
from timing import SANITIZER, TEST_TIME_LIMIT_S, TIME_SCALE  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "daemon_args(*flags): extra command-line flags for this test's daemon")


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"mio-daemon: {daemon_binary_path()} (sanitizer: {SANITIZER or 'none'}, time scale {TIME_SCALE}); "
        f"mioctl: {mioctl_binary_path()}; running as uid {os.getuid()}"
    )


# --------------------------------------------------------------------------
# the programs


@pytest.fixture(scope="session")
def daemon_binary() -> str:
    path = daemon_binary_path()
    if not os.access(path, os.X_OK):
        pytest.exit(f"mio-daemon not found or not executable at {path}: build it (swift build) or set MIO_DAEMON_BIN", returncode=3)
    return path


@pytest.fixture(scope="session")
def mioctl_binary() -> str:
    path = mioctl_binary_path()
    if not os.access(path, os.X_OK):
        pytest.exit(f"mioctl not found or not executable at {path}: build it (swift build) or set MIOCTL_BIN", returncode=3)
    return path


# --------------------------------------------------------------------------
# daemons


@pytest.fixture
def raw_strict() -> bool:
    """Whether ``daemon.raw()`` connections are strict (see RawConnection);
    the hostile suite's conftest says no."""
    return True


@pytest.fixture
def daemon_factory(request: pytest.FixtureRequest, tmp_path: pathlib.Path, daemon_binary: str,
                   raw_strict: bool) -> Iterator[Callable[..., Daemon]]:
    """Start daemons: ``daemon_factory(args, *, wait=True, expect_exit_zero=True,
    **Daemon options)``. Each is stopped (SIGTERM, exit status 0 asserted)
    at teardown unless the test did it."""
    started: List[Daemon] = []

    def start(args: Sequence[Any] = (), *, wait: bool = True, expect_exit_zero: bool = True, **options: Any) -> Daemon:
        workdir = tmp_path / f"daemon{len(started) + 1}"
        workdir.mkdir()
        options.setdefault("raw_strict", raw_strict)
        d = Daemon(daemon_binary, workdir, args, **options)
        d.expect_exit_zero = expect_exit_zero
        started.append(d)
        daemons = getattr(request.node, "_mio_daemons", [])
        daemons.append(d)
        request.node._mio_daemons = daemons  # type: ignore[attr-defined]
        d.start(wait=wait)
        return d

    yield start

    problems = []
    for d in reversed(started):
        d.close_connections()
        rc = d.stop()
        if not d.expect_exit_zero:
            continue
        if rc == KILLED:
            problems.append(f"daemon pid {d.pid} did not exit in time after SIGTERM and was killed")
        elif rc != 0:
            problems.append(f"daemon pid {d.pid} exited with status {rc}, expected 0")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def daemon(request: pytest.FixtureRequest, daemon_factory: Callable[..., Daemon]) -> Daemon:
    """One daemon for this test, started with the marker's flags; its fd
    count after start is ``daemon.fd_baseline``."""
    marker = request.node.get_closest_marker("daemon_args")
    return daemon_factory([str(a) for a in marker.args] if marker else [])


# --------------------------------------------------------------------------
# fds


@pytest.fixture
def fds() -> Iterator[Fds]:
    """Make fds of every kind; the test's own copies are closed at the end."""
    made = Fds()
    yield made
    made.close_all()


@pytest.fixture
def probes() -> Iterator[PipeProbes]:
    """Pipe write ends to give the daemon, whose read ends show when every
    copy is closed."""
    made = PipeProbes()
    yield made
    made.close()


# --------------------------------------------------------------------------
# hooks


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On failure, the stderr of every daemon the test started."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for d in getattr(item, "_mio_daemons", []):
            pid = d.pid if d.proc is not None else "?"
            report.sections.append((f"mio-daemon stderr (pid {pid}, {d.stderr_path})", d.stderr_tail()))


class TestTimeLimit(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A hung daemon fails the test instead of hanging the suite
    (``MIO_TEST_TIME_LIMIT`` seconds, default 60 × the time scale)."""

    def expire(signum: int, frame: Any) -> None:
        raise TestTimeLimit(f"test ran longer than {TEST_TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, TEST_TIME_LIMIT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
