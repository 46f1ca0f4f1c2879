"""What the daemon sends besides replies (docs/protocol.md, "Events" and
"Notices"), as values: :class:`Event` for readiness, :class:`Notice` for
``shutdown`` and ``session_taken``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Union

from .errors import ProtocolError

#: The six flags of a ready event, in wire order.
EVENT_FLAGS = ("readable", "writable", "error", "read_closed", "write_closed", "priority")

_MAX_TOKEN = 2**64 - 1


@dataclass(frozen=True)
class Event:
    """One readiness event for ``token``, read as mio's ``Event`` is:
    ``event.token``, ``event.is_readable``, ``event.is_write_closed``, …
    (properties, not methods).

    ``str(event)`` is ``"token 7: readable, read_closed"``; ``repr`` names
    the flags that are set. ``to_dict()`` gives the wire object.
    """

    token: int
    readable: bool = False
    writable: bool = False
    error: bool = False
    read_closed: bool = False
    write_closed: bool = False
    priority: bool = False

    # -- mio's accessors --------------------------------------------------

    @property
    def is_readable(self) -> bool:
        return self.readable

    @property
    def is_writable(self) -> bool:
        return self.writable

    @property
    def is_error(self) -> bool:
        return self.error

    @property
    def is_read_closed(self) -> bool:
        return self.read_closed

    @property
    def is_write_closed(self) -> bool:
        return self.write_closed

    @property
    def is_priority(self) -> bool:
        return self.priority

    # -- conversions -------------------------------------------------------

    @property
    def flags(self) -> tuple:
        """The names of the flags that are set, in wire order."""
        return tuple(name for name in EVENT_FLAGS if getattr(self, name))

    @classmethod
    def from_wire(cls, obj: Dict[str, Any]) -> "Event":
        """From an event line (``"event":"ready"``) or an entry of a ``poll``
        reply (the same without ``"event"``). Raises :class:`ProtocolError`
        if the token or a flag is missing or of the wrong type."""
        token = obj.get("token")
        if not isinstance(token, int) or isinstance(token, bool) or not 0 <= token <= _MAX_TOKEN:
            raise ProtocolError(f"event without a valid token: {obj!r}")
        flags = {}
        for name in EVENT_FLAGS:
            value = obj.get(name)
            if not isinstance(value, bool):
                raise ProtocolError(f"event flag {name!r} is missing or not a boolean: {obj!r}")
            flags[name] = value
        return cls(token, **flags)

    def to_dict(self) -> Dict[str, Any]:
        """The event line as the daemon sent it."""
        out: Dict[str, Any] = {"event": "ready", "token": self.token}
        for name in EVENT_FLAGS:
            out[name] = getattr(self, name)
        return out

    # -- compatibility with 0.1, whose events were the wire dicts ------------

    def __getitem__(self, key: str) -> Any:
        """``event["token"]``, ``event["readable"]``: the wire object's keys."""
        return self.to_dict()[key]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Event):
            return (self.token, self.flags) == (other.token, other.flags)
        if isinstance(other, dict):
            # an event line, or a poll reply's entry (no "event" key)
            wire = self.to_dict()
            if "event" not in other:
                del wire["event"]
            return wire == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.token, self.flags))

    def __str__(self) -> str:
        return f"token {self.token}: {', '.join(self.flags) or 'no flags'}"

    def __repr__(self) -> str:
        set_flags = "".join(f", {name}=True" for name in self.flags)
        return f"Event(token={self.token}{set_flags})"


@dataclass(frozen=True)
class Notice:
    """A line about the connection rather than an fd: ``name`` is
    ``"shutdown"`` (the daemon is stopping; the connection closes next) or
    ``"session_taken"`` (another connection took this session over)."""

    name: str

    @property
    def is_shutdown(self) -> bool:
        return self.name == "shutdown"

    @property
    def is_session_taken(self) -> bool:
        return self.name == "session_taken"

    def to_dict(self) -> Dict[str, Any]:
        return {"event": self.name}

    # compatibility with 0.1, whose notices were the wire dicts
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Notice):
            return self.name == other.name
        if isinstance(other, dict):
            return self.to_dict() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name


#: What ``next_event`` returns.
AnyEvent = Union[Event, Notice]


def event_from_line(obj: Dict[str, Any]) -> AnyEvent:
    """An event line (one with ``"event"``) as an :class:`Event` or a
    :class:`Notice`."""
    kind = obj.get("event")
    if not isinstance(kind, str):
        raise ProtocolError(f"event line without a name: {obj!r}")
    if kind == "ready":
        return Event.from_wire(obj)
    return Notice(kind)
