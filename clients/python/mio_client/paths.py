"""Where the daemon's socket is (docs/protocol.md, "Socket path")."""

from __future__ import annotations

import os
from typing import Mapping, Optional

#: Path used when running as root (or under systemd socket activation).
SYSTEM_SOCKET = "/run/mio-daemon/mio.sock"


def resolve_socket_path(
    path: Optional[str] = None,
    *,
    environ: Optional[Mapping[str, str]] = None,
    uid: Optional[int] = None,
) -> str:
    """Resolve the socket path the way the daemon does.

    In order: ``path``; ``$MIO_SOCKET``; ``/run/mio-daemon/mio.sock`` when the
    uid is 0; ``$XDG_RUNTIME_DIR/mio-daemon/mio.sock``;
    ``/tmp/mio-daemon-$UID/mio.sock``. Empty values count as unset.
    """
    if path:
        return os.fspath(path)
    env = os.environ if environ is None else environ
    explicit = env.get("MIO_SOCKET")
    if explicit:
        return explicit
    if uid is None:
        uid = os.getuid()
    if uid == 0:
        return SYSTEM_SOCKET
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "mio-daemon", "mio.sock")
    return f"/tmp/mio-daemon-{uid}/mio.sock"
