"""The real-systemd suite: one container per test module, booted with the
host's own systemd as its PID 1, the project's units installed in it by
`make install-files`, and one long-lived client inside it.

Needs root and systemd-nspawn (installed here at the installed systemd's
exact version when missing); skipped, saying why, only where the machine
cannot do it. The daemon: $MIO_DAEMON_BIN, else <repo>/.build/debug/mio-daemon.
"""

import os
import pathlib
import shutil
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from real_systemd_client import ContainerClient  # noqa: E402
from real_systemd_container import NspawnContainer, ensure_nspawn  # noqa: E402
from real_systemd_figures import FIGURES  # noqa: E402
from real_systemd_service import MioService  # noqa: E402

REPO = HERE.parents[1]


def daemon_bin_dir() -> pathlib.Path:
    daemon = pathlib.Path(os.environ.get("MIO_DAEMON_BIN") or REPO / ".build" / "debug" / "mio-daemon")
    if not os.access(daemon, os.X_OK):
        pytest.fail(f"mio-daemon not built at {daemon} (set MIO_DAEMON_BIN)", pytrace=False)
    if daemon.name != "mio-daemon":
        pytest.fail(f"`make install-files` takes BIN_DIR/mio-daemon; {daemon} has another name", pytrace=False)
    return daemon.resolve().parent


def machine_cannot_run_it() -> str:
    if os.geteuid() != 0:
        return "the real-systemd suite needs root (systemd-nspawn boots a container); CI runs it as root"
    for tool in ("nsenter", "make", "dpkg-query"):
        if not shutil.which(tool):
            return f"{tool} is missing (make test installs it: scripts/install-deps.sh)"
    if not os.path.exists("/usr/lib/systemd/systemd"):
        return "systemd is not installed: nothing to boot"
    return ensure_nspawn() or ""


@pytest.fixture(scope="module")
def container():
    reason = machine_cannot_run_it()
    if reason:
        pytest.skip(reason)
    box = NspawnContainer(REPO, daemon_bin_dir())
    try:
        seconds = box.boot()
        print(f"container {box.name} booted in {seconds:.1f} s")
        box.install_units()
        yield box
    finally:
        box.shutdown()


@pytest.fixture(scope="module")
def client(container):
    handle = ContainerClient(container)
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def service(container, client):
    return MioService(container, client)


@pytest.fixture
def baseline(service, client):
    """A fresh daemon (nothing held, empty fd store); the value is its fd
    count, which the test must come back to. Afterwards the client lets go
    of everything the test left."""
    count = service.fresh()
    yield count
    client.call("reset")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, the service's journal goes with the report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        box = item.funcargs.get("container")
        if box is not None and box.pid1:
            report.sections.append(("mio-daemon.service journal", box.journal("mio-daemon.service")))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("real systemd: measured figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
