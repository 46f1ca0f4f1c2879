"""How long the tests wait, and waiting itself.

Every bound is stretched by ``TIME_SCALE``: ``$MIO_TEST_TIME_SCALE``, else 5
when the daemon under test is built with a sanitizer (it runs several times
slower), else 1.
"""

from __future__ import annotations

import os
import select
import time
from typing import Any, Callable

from binaries import daemon_binary, sanitizer_of

#: The sanitizer the daemon under test is built with, if any: memory bounds
#: are not checked then (ASan's quarantine), and time bounds are stretched.
SANITIZER = sanitizer_of(daemon_binary())
TIME_SCALE = float(os.environ.get("MIO_TEST_TIME_SCALE") or (5 if SANITIZER else 1))

#: Time to wait for something that should happen (a reply, an event).
WAIT_S = 5.0 * TIME_SCALE
#: Time to watch for something that must not happen.
QUIET_S = 0.3 * TIME_SCALE
#: A fresh client's ping must be answered within this.
PING_S = 1.0 * TIME_SCALE
#: The daemon's fd count must be back at its baseline within this (closes
#: reach the daemon asynchronously).
FD_SETTLE_S = 3.0 * TIME_SCALE
#: A test that runs longer than this fails instead of hanging the suite.
TEST_TIME_LIMIT_S = float(os.environ.get("MIO_TEST_TIME_LIMIT") or 60 * TIME_SCALE)


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT_S, interval: float = 0.01, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` becomes readable within ``timeout`` s (poll, not select:
    fds above 1024 are common in these tests)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000)) + 1))
