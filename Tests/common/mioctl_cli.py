"""Running mioctl against a test's daemon."""

from __future__ import annotations

import os
import subprocess
from typing import Any, Dict, Optional

from binaries import mioctl_binary


def mioctl(daemon: Any, *args: str, fds: Optional[Dict[int, int]] = None, timeout: float = 20, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run mioctl with the daemon's socket (``daemon.client_env``); ``fds``
    maps a child fd number to one of ours, placed there before exec."""
    pass_fds: tuple = ()
    preexec = None
    if fds:
        def preexec() -> None:
            for target, source in fds.items():
                os.dup2(source, target)
        pass_fds = tuple(fds.keys())
    return subprocess.run([mioctl_binary(), *args], env=daemon.client_env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec, pass_fds=pass_fds, **kwargs)
