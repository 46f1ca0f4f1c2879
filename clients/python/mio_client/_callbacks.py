"""The callbacks of ``on(token, callback)`` and ``on_notice(callback)``,
shared by both clients' ``run()``."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional

from .events import AnyEvent, Event, Notice

logger = logging.getLogger("mio_client")

Callback = Callable[[Any], Any]


class Callbacks:
    """Which callback an event goes to: its token's, or for a notice the
    notice callback. Events of a token without a callback are counted in
    ``unhandled`` (and logged at debug level), not kept: ``run()`` would
    otherwise pile up events that nobody reads."""

    def __init__(self) -> None:
        self._by_token: Dict[int, Callback] = {}
        self._notice: Optional[Callback] = None
        self.unhandled = 0
        self.stopping = False

    def on(self, token: int, callback: Callback) -> None:
        if isinstance(token, bool) or not isinstance(token, int) or token < 0:
            raise TypeError(f"token must be an integer >= 0, not {token!r}")
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {callback!r}")
        self._by_token[token] = callback

    def off(self, token: int) -> None:
        self._by_token.pop(token, None)

    def on_notice(self, callback: Optional[Callback]) -> None:
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable or None, not {callback!r}")
        self._notice = callback

    def target(self, event: AnyEvent) -> Optional[Callback]:
        """The callback for ``event``, or None (a notice without a callback
        ends ``run()``; an event without one is counted)."""
        if isinstance(event, Notice):
            return self._notice
        assert isinstance(event, Event)
        callback = self._by_token.get(event.token)
        if callback is None:
            self.unhandled += 1
            logger.debug("no callback for token %d: %s", event.token, event)
        return callback
