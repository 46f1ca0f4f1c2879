"""Where the programs under test are, and what they were built with.

One place reads the environment, for every suite and the soak:

- ``MIO_DAEMON_BIN``: the mio-daemon binary;
- ``MIOCTL_BIN``: the mioctl binary;
- ``MIO_BUILD_DIR``: the folder holding both, for whichever of the two
  has no variable of its own;
- else ``<repo>/.build/debug``.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Optional

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("MIO_BUILD_DIR") or REPO_ROOT / ".build" / "debug")


def daemon_binary() -> str:
    return os.environ.get("MIO_DAEMON_BIN") or str(build_dir() / "mio-daemon")


def mioctl_binary() -> str:
    return os.environ.get("MIOCTL_BIN") or str(build_dir() / "mioctl")


def chosen_explicitly() -> bool:
    """Whether the environment names the daemon (the soak prefers a release
    build only when it does not)."""
    return bool(os.environ.get("MIO_DAEMON_BIN") or os.environ.get("MIO_BUILD_DIR"))


def sanitizer_of(binary: str) -> Optional[str]:
    """"asan"/"tsan" when the binary is built with a sanitizer, else None."""
    try:
        with open(binary, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"__asan_init" in data:
        return "asan"
    if b"__tsan_init" in data:
        return "tsan"
    return None


def need_tool(tool: str) -> str:
    """The path of a system program, or skip the test: `make test` installs
    every one of them (scripts/install-deps.sh), so a skip means a machine
    set up by hand."""
    import pytest  # here, not at the top: the soak runs without pytest

    found = shutil.which(tool)
    if not found:
        pytest.skip(f"{tool} is not installed (make test installs it: scripts/install-deps.sh)")
    return found
