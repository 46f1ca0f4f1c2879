"""mioctl, the examples and the recipes against a real daemon; the shared
fixtures are in Tests/conftest.py."""

import pytest


@pytest.fixture(autouse=True)
def _mioctl_is_built(mioctl_binary: str) -> None:
    """Every test here runs mioctl: stop at once if it is not built."""
