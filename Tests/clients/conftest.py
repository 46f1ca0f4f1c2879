import os
import pathlib
import signal
import subprocess
import time

import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "common"))

from mio_testkit import ProcessWatch  # noqa: E402
BUILD = pathlib.Path(os.environ.get("MIO_BUILD_DIR", REPO / ".build" / "debug"))


class RunningDaemon(ProcessWatch):
    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.socket = str(tmp_path / "mio.sock")
        self.log = open(tmp_path / "daemon.log", "w")
        self.proc = subprocess.Popen([str(BUILD / "mio-daemon"), "--socket", self.socket, "--log-level", "debug"],
                                     stderr=self.log)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket):
            assert time.monotonic() < deadline and self.proc.poll() is None, "daemon did not start"
            time.sleep(0.01)
        time.sleep(0.05)
        self.env = dict(os.environ, MIO_SOCKET=self.socket, MIOCTL=str(BUILD / "mioctl"),
                        PATH=f"{BUILD}:{os.environ['PATH']}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def settled_fd_count(self, expected: int, timeout: float = 3.0) -> int:
        """The fd count once it reached ``expected`` (or the time ran out)."""
        try:
            self.wait_fd_count(expected, timeout)
        except AssertionError:
            pass
        return self.fd_count()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(10)
        self.log.close()
        return code


@pytest.fixture
def daemon(tmp_path):
    if not (BUILD / "mio-daemon").exists() or not (BUILD / "mioctl").exists():
        pytest.exit(f"build mio-daemon and mioctl first ({BUILD})", returncode=3)
    d = RunningDaemon(tmp_path)
    yield d
    assert d.stop() == 0


def mioctl(daemon, *args, fds=None, timeout=20, **kw):
    """Runs mioctl with the daemon's socket; `fds`: {child fd: our fd}."""
    pass_fds = ()
    preexec = None
    if fds:
        def preexec():
            for target, source in fds.items():
                os.dup2(source, target)
        pass_fds = tuple(fds.keys())
    return subprocess.run([str(BUILD / "mioctl"), *args], env=daemon.env, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec, pass_fds=pass_fds, **kw)
