"""The Python examples of clients/python/README.md, run as written against
a real daemon ($MIO_SOCKET names it, as the README's socket resolution says)."""

import os
import re
import subprocess
import sys

from binaries import REPO_ROOT
from timing import TIME_SCALE

README = REPO_ROOT / "clients" / "python" / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)\n```", README.read_text(), re.S)


def run_example(daemon, code):
    env = dict(os.environ, MIO_SOCKET=daemon.socket_path,
               PYTHONPATH=str(REPO_ROOT / "clients" / "python"))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30 * TIME_SCALE)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_the_readme_has_its_two_examples():
    assert len(EXAMPLES) == 2


def test_blocking_example(daemon):
    out = run_example(daemon, EXAMPLES[0])
    assert out == ["token 1: readable", "unknown_token"]
    daemon.close_all_and_check_fds()


def test_asyncio_callback_example(daemon):
    out = run_example(daemon, EXAMPLES[1])
    assert out == ["data: b'hello'", "woken: token 8: readable", "run ended None"]
    daemon.close_all_and_check_fds()
