"""The hostile-client suite: clients that break the rules or push the
limits (floods, never reading, vanishing mid-write, garbage, fd abuse,
sessions left behind). Each test ends with the same checks,
``daemon.assert_healthy()``: alive, a fresh client answered within a
second, fds back at the baseline, RSS bounded. What a well-behaved client
is promised (docs/protocol.md) is tested in Tests/integration.

The fixtures are the shared ones (Tests/conftest.py); this suite's raw
connections are not strict: the daemon is under abuse, and only what a
test looks at matters."""

import pytest


@pytest.fixture
def raw_strict() -> bool:
    """Fds that come back are closed, and events met on the way to a reply
    are kept in ``connection.events`` (see RawConnection)."""
    return False
