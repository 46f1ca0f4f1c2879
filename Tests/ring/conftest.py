"""The ring delivery suite (docs/protocol.md, "Ring delivery"): the
daemon's side of the ring, read by the test reader Tests/common/ring_reader.py.
test_ring_delivery.py is what a consumer that follows the document is
promised; test_ring_hostile.py is consumers that write anything anywhere
in the shared memory. The C reader (libmio-client) is tested in
Tests/c_client/test_c_ring.py.

Fixture ``rings``: every Ring a test opens is closed at its end (before
the fd checks of the daemon fixture's teardown)."""

from __future__ import annotations

from typing import Iterator, List

import pytest


class Rings:
    def __init__(self) -> None:
        self.opened: List = []

    def keep(self, ring):
        self.opened.append(ring)
        return ring

    def close_all(self) -> None:
        for ring in self.opened:
            ring.close()
        self.opened.clear()


@pytest.fixture
def rings() -> Iterator[Rings]:
    made = Rings()
    yield made
    made.close_all()
