"""What the blocking and the asyncio client share: building requests,
telling events from replies, and matching replies to requests."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._framing import close_fds, encode
from .errors import MioError, ProtocolError

#: Something with an fd: an int or an object with ``fileno()``.
FdLike = Union[int, Any]
#: An interest: ``"readable"`` or a sequence drawn from
#: ``"readable"``, ``"writable"``, ``"priority"``.
InterestLike = Union[str, Sequence[str]]

PROTOCOL_VERSION = 1
CLIENT_NAME = "mio_client.py"

#: The default ``timeout`` of both clients, in seconds: how long any call
#: waits for the daemon.
DEFAULT_TIMEOUT = 10.0

#: ``poll`` timeouts from this many milliseconds on mean "for ever" to the
#: daemon (docs/protocol.md, "`poll`").
_POLL_FOREVER_MS = 9223372036854


def seconds(value: Optional[float], what: str = "timeout") -> Optional[float]:
    """A timeout in seconds, checked: ``None`` (and infinity) is "for ever";
    a negative number or NaN is a :class:`ValueError`, anything else that is
    not a number a :class:`TypeError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds or None, not {value!r}")
    value = float(value)
    if math.isnan(value) or value < 0:
        raise ValueError(f"{what} must be >= 0 seconds or None, not {value!r}")
    return None if math.isinf(value) else value


def resolve_timeout(timeout: Any, default: Optional[float]) -> Optional[float]:
    """``timeout`` as given to a call: omitted (``...``) means the client's
    ``default``; ``None`` means for ever."""
    return default if timeout is ... else seconds(timeout)


def poll_fields(timeout: Optional[float], max_events: Optional[int], timeout_ms: Optional[int]) -> Tuple[Dict[str, Any], Optional[float]]:
    """The fields of a ``poll`` request, and its timeout in seconds.
    ``timeout_ms`` is 0.1's spelling, kept for callers of that version."""
    if timeout_ms is not None:
        if timeout is not None:
            raise TypeError("poll takes timeout (seconds) or timeout_ms, not both")
        warnings.warn("poll(timeout_ms=...) is deprecated: poll takes seconds, poll(timeout=...)", DeprecationWarning, stacklevel=3)
        ms = seconds(timeout_ms, "timeout_ms")
        timeout = None if ms is None else ms / 1000.0
    timeout = seconds(timeout)
    fields: Dict[str, Any] = {}
    if timeout is not None:
        # rounded up: a poll must not come back before its time is up
        fields["timeout_ms"] = min(math.ceil(timeout * 1000), _POLL_FOREVER_MS)
    if max_events is not None:
        fields["max_events"] = max_events
    return fields, timeout


def reply_wait(poll_timeout: Optional[float], default: Optional[float]) -> Optional[float]:
    """How long to wait for a ``poll`` reply: the poll's own time, plus the
    client's timeout for the daemon to answer."""
    if poll_timeout is None or default is None:
        return None
    return poll_timeout + default


def fd_of(source: FdLike) -> int:
    """The fd number of an int or of an object with ``fileno()``."""
    if isinstance(source, int):
        return source
    fileno = getattr(source, "fileno", None)
    if fileno is None:
        raise TypeError(f"expected an fd or an object with fileno(), got {source!r}")
    return int(fileno())


def interest_list(interest: InterestLike) -> List[str]:
    if isinstance(interest, str):
        return [interest]
    return list(interest)


def drop_none(fields: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def hello_fields(
    session: Optional[str],
    persist: Optional[bool],
    takeover: Optional[bool],
    delivery: Optional[str],
    protocol: Optional[int],
    client: Optional[str],
    lease: Optional[float] = None,
    remove_lease: bool = False,
) -> Dict[str, Any]:
    fields = drop_none(
        {
            "protocol": protocol,
            "session": session,
            "persist": persist,
            "takeover": takeover,
            "delivery": delivery,
            "client": client,
            "lease_s": None if lease is None else math.ceil(lease),
        }
    )
    if remove_lease:
        if lease is not None:
            raise ValueError("lease and remove_lease=True contradict each other")
        fields["lease_s"] = None
    return fields


def timer_fields(after: float, every: Optional[float]) -> Dict[str, Any]:
    """A timer's settings in seconds, as whole milliseconds rounded up (a
    timer never fires early)."""
    if after < 0 or (every is not None and every <= 0):
        raise ValueError("after is 0 or more seconds, every more than 0")
    return drop_none({"after_ms": math.ceil(after * 1000), "interval_ms": None if every is None else max(1, math.ceil(every * 1000))})


def decode_line(line: bytes) -> Dict[str, Any]:
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"daemon sent a line that is not JSON: {line[:200]!r}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"daemon sent a line that is not a JSON object: {line[:200]!r}")
    return obj


def is_event(obj: Dict[str, Any]) -> bool:
    """Event lines carry an ``"event"`` key; replies carry ``"ok"``."""
    return "event" in obj and "ok" not in obj


def check_reply(reply: Dict[str, Any], fds: List[int]) -> Tuple[Dict[str, Any], List[int]]:
    """Raise :class:`MioError` (closing any fds) if the reply is ``ok:false``."""
    if reply.get("ok") is not True:
        close_fds(fds)
        raise MioError.from_reply(reply)
    return reply, fds


class RequestBuilder:
    """Allocates ids and builds request lines."""

    def __init__(self) -> None:
        self._next_id = 1

    def build(self, op: str, fields: Dict[str, Any]) -> Tuple[Any, bytes]:
        obj: Dict[str, Any] = {"op": op}
        if "id" in fields:
            request_id = fields.pop("id")
        else:
            request_id = self._next_id
            self._next_id += 1
        if request_id is not None:
            obj["id"] = request_id
        obj.update(fields)
        return request_id, encode(obj)


def check_reply_id(expected: Any, reply: Dict[str, Any]) -> None:
    """A reply with an id must carry the id of the oldest open request.

    Replies without an id (``line_too_long``, ``permission_denied``,
    ``fd_overflow``, …) are taken as the answer to the oldest open request.
    """
    if "id" in reply and reply["id"] != expected:
        raise ProtocolError(f"reply id {reply['id']!r} does not match the oldest open request id {expected!r}")

