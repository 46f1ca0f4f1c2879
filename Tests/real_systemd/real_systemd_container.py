"""A throw-away container whose PID 1 is the host's own systemd
(systemd-nspawn over the host's /usr, root on a tmpfs), with the project's
units installed by `make install-files`. The recipe and its pitfalls:
shared/design/real-systemd.md.

Only processes started here are ever signalled, each by its pid.
"""

from __future__ import annotations

import ctypes
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
from typing import List, Optional, Sequence

CHECKOUT_IN_CONTAINER = "/mnt/checkout"
BIN_DIR_IN_CONTAINER = "/mnt/bin"
CONTAINER_PATH = "PATH=/usr/sbin:/usr/bin"
SWIFT_RUNTIME = "/opt/swift"  # the daemon's RUNPATH; its backtracer lives beside it


class ContainerError(RuntimeError):
    pass


def installed_systemd_version() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "systemd"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def ensure_nspawn() -> Optional[str]:
    """Installs systemd-container at the installed systemd's exact version if
    systemd-nspawn is missing (nothing else gets upgraded). Returns why it
    cannot be had, or None when it is there."""
    if shutil.which("systemd-nspawn"):
        return None
    version = installed_systemd_version()
    if not version:
        return "systemd is not installed (dpkg-query knows no systemd package)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", f"systemd-container={version}"]
    result = subprocess.run(install, capture_output=True, text=True, env=env)
    if result.returncode != 0:  # stale package lists: refresh once
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=env)
        result = subprocess.run(install, capture_output=True, text=True, env=env)
    if result.returncode != 0 or not shutil.which("systemd-nspawn"):
        return f"cannot install systemd-container={version}: {result.stderr.strip()[-500:]}"
    return None


def _terminate_with_parent() -> None:
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _children(pid: int) -> List[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class NspawnContainer:
    """One booted container. ``boot()``, then ``run()`` commands inside it;
    ``shutdown()`` always, even after a failed boot."""

    def __init__(self, checkout: pathlib.Path, bin_dir: pathlib.Path, name: Optional[str] = None):
        self.checkout = checkout
        self.bin_dir = bin_dir
        self.name = name or f"mio-real-systemd-{os.getpid()}"
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="mio-nspawn-"))
        self.upper = self.workdir / "usr-upper"
        self.console_log = self.workdir / "console.log"
        self.nspawn: Optional[subprocess.Popen] = None
        self.pid1: Optional[int] = None

    # --- life cycle -----------------------------------------------------

    def boot(self, timeout: float = 60.0) -> float:
        """Starts the container and waits until its systemd is up; returns the seconds it took."""
        started = time.monotonic()
        self.upper.mkdir()
        # The upper dir becomes the mode of the container's /usr: mkdtemp's
        # 0700 would lock every non-root user (the daemon's) out of /usr.
        self.upper.chmod(0o755)
        argv = ["systemd-nspawn", "--quiet", "--directory=/", "--volatile=yes", "--boot",
                "--register=no", "--keep-unit",  # no host systemd to register with
                "--private-network", "--console=pipe", f"--machine={self.name}",
                f"--overlay=/usr:{self.upper}:/usr",  # `make install` writes here, not into the host's /usr
                f"--bind-ro={self.checkout}:{CHECKOUT_IN_CONTAINER}",
                f"--bind-ro={self.bin_dir}:{BIN_DIR_IN_CONTAINER}"]
        # The Swift runtime (outside /usr), and PAM's files for user@.service.
        argv += [f"--bind-ro={path}" for path in (SWIFT_RUNTIME, "/etc/pam.d", "/etc/security") if os.path.isdir(path)]
        # systemd-firstboot wants a tty: mask it on the kernel-style command line.
        argv += ["--", "systemd.mask=systemd-firstboot.service"]
        with open(self.console_log, "wb") as log:
            # A session of its own: a Ctrl-C of the test run does not reach it; shutdown() ends it.
            # If the test process dies without shutdown(), nspawn gets its SIGTERM all the same.
            self.nspawn = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True, preexec_fn=_terminate_with_parent)
        deadline = started + timeout
        while True:
            if self.nspawn.poll() is not None:
                raise ContainerError(f"systemd-nspawn exited with {self.nspawn.returncode}: {self.console_tail()}")
            self.pid1 = next((p for p in _children(self.nspawn.pid) if _comm(p) == "systemd"), None)
            if self.pid1 and os.path.exists(f"/proc/{self.pid1}/root/run/systemd/private"):
                break
            if time.monotonic() > deadline:
                raise ContainerError(f"no systemd in the container after {timeout} s: {self.console_tail()}")
            time.sleep(0.05)
        state = self.run(["systemctl", "is-system-running", "--wait"], check=False,
                         timeout=max(5.0, deadline - time.monotonic())).stdout.strip()
        if state not in ("running", "degraded"):
            raise ContainerError(f"the container's systemd is {state!r}: {self.console_tail()}")
        return time.monotonic() - started

    def shutdown(self) -> None:
        """SIGTERM asks the container to power off; a second SIGTERM ends it at
        once. Then the overlay's upper dir goes."""
        if self.nspawn is not None and self.nspawn.poll() is None:
            for wait in (20.0, 10.0):
                try:
                    os.kill(self.nspawn.pid, signal.SIGTERM)
                    self.nspawn.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                self.nspawn.kill()
                self.nspawn.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)
        # nspawn leaves its (empty) mount-propagation directory behind.
        try:
            os.rmdir(f"/run/systemd/nspawn/propagate/{self.name}")
        except OSError:
            pass

    # --- inside ---------------------------------------------------------

    def command(self, argv: Sequence[str]) -> List[str]:
        """``argv`` as run inside the container: every namespace of its PID 1, a clean environment."""
        return ["nsenter", "-t", str(self.pid1), "-a", "env", "-i", CONTAINER_PATH, *argv]

    def run(self, argv: Sequence[str], check: bool = True, timeout: float = 30.0,
            input: Optional[str] = None) -> subprocess.CompletedProcess:
        result = subprocess.run(self.command(argv), capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise ContainerError(f"{' '.join(argv)} exited with {result.returncode}: {result.stdout}{result.stderr}")
        return result

    def install_units(self) -> None:
        """`make install-files` from the read-only checkout, the mio user and
        group by systemd-sysusers, the socket enabled and listening."""
        self.run(["make", "-s", "-C", CHECKOUT_IN_CONTAINER, "install-files", "PREFIX=/usr",
                  f"BIN_DIR={BIN_DIR_IN_CONTAINER}"])
        self.run(["systemd-sysusers"])
        self.run(["systemctl", "daemon-reload"])
        self.run(["systemctl", "enable", "--now", "mio-daemon.socket"])

    def journal(self, unit: str, lines: int = 40) -> str:
        return self.run(["journalctl", "--no-pager", "-o", "short-monotonic", "-n", str(lines), "-u", unit],
                        check=False).stdout

    def console_tail(self, size: int = 3000) -> str:
        try:
            return self.console_log.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""
