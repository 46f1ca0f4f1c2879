import os
import pathlib
import shutil
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def daemon_bin() -> str:
    path = os.environ.get("MIO_DAEMON_BIN") or str(REPO / ".build" / "debug" / "mio-daemon")
    if not os.access(path, os.X_OK):
        pytest.exit(f"mio-daemon not built at {path}", returncode=3)
    return path


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    return REPO


def need(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        pytest.skip(f"{tool} is not installed (make test installs it: scripts/install-deps.sh)")
    return found
