"""Checks on the daemon's reply and event lines (docs/protocol.md,
"Requests, replies, events" and "Events")."""

from __future__ import annotations

from typing import Any, Dict, Optional

#: The six booleans of a ready event, in wire order.
FLAGS = ("readable", "writable", "error", "read_closed", "write_closed", "priority")


def error_code(reply: Dict[str, Any]) -> Optional[str]:
    if reply.get("ok") is False:
        return reply.get("error", {}).get("code")
    return None


def assert_error(reply: Dict[str, Any], code: str, request_id: Any = ..., has_id: Optional[bool] = None) -> None:
    """``reply`` is ``ok:false`` with ``code`` and a message; with
    ``request_id`` it echoes that id; with ``has_id=False`` it has none."""
    assert reply.get("ok") is False, f"expected error {code}, got {reply}"
    error = reply.get("error")
    assert isinstance(error, dict), reply
    assert error.get("code") == code, f"expected error {code}, got {reply}"
    assert isinstance(error.get("message"), str), reply
    if request_id is not ...:
        assert reply.get("id") == request_id and "id" in reply, reply
    if has_id is False:
        assert "id" not in reply, f"reply must have no id: {reply}"


def assert_ok(reply: Dict[str, Any], request_id: Any = ...) -> None:
    assert reply.get("ok") is True, f"expected ok, got {reply}"
    assert "error" not in reply, reply
    if request_id is not ...:
        assert "id" in reply and reply["id"] == request_id, reply


def ready(token: int, **flags: bool) -> Dict[str, Any]:
    """A whole ready event: the given flags true, the others false."""
    event: Dict[str, Any] = {"event": "ready", "token": token}
    for name in FLAGS:
        event[name] = bool(flags.get(name, False))
    return event
