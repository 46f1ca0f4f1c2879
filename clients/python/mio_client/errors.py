"""Errors raised by the mio-daemon clients."""

from __future__ import annotations

from typing import Any, Dict, Optional

#: The stable error codes (docs/protocol.md, "Error codes").
ERROR_CODES = (
    "bad_json",
    "bad_request",
    "unknown_op",
    "no_fd",
    "token_in_use",
    "unknown_token",
    "not_pollable",
    "bad_fd",
    "limit_exceeded",
    "permission_denied",
    "session_busy",
    "wrong_state",
    "line_too_long",
    "fd_overflow",
    "unsupported_protocol",
    "internal",
)


class MioError(Exception):
    """The daemon answered ``{"ok": false, "error": {"code": …, "message": …}}``."""

    def __init__(self, code: str, message: str = "", reply: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.reply: Dict[str, Any] = reply if reply is not None else {}

    @classmethod
    def from_reply(cls, reply: Dict[str, Any]) -> "MioError":
        error = reply.get("error")
        if not isinstance(error, dict):
            return cls("internal", f"malformed error reply: {reply!r}", reply)
        return cls(str(error.get("code", "internal")), str(error.get("message", "")), reply)


class ProtocolError(Exception):
    """The daemon sent something this client cannot make sense of."""


class ConnectionClosed(ConnectionError):
    """The daemon closed the connection (or the client did)."""
