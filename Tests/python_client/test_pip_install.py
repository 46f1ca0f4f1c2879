"""`pip install clients/python` into a fresh venv, offline, and the
installed package (not the source tree) talks to a real daemon.

Offline means no build isolation: the venv sees the packages of the Python
that runs the tests (``--system-site-packages``) for setuptools, and for
wheel where setuptools is older than 70.1 (which builds wheels itself).
scripts/install-deps.sh installs both, and python3-venv on Debian's Python.
"""

import json
import os
import shutil
import subprocess
import sys

from binaries import REPO_ROOT
from timing import TIME_SCALE

SOURCE = REPO_ROOT / "clients" / "python"

#: Run in the venv: the blocking client, then the asyncio one with a callback.
PROGRAM = r'''
import asyncio, importlib.metadata, json, os, sys
import mio_client
from mio_client import AsyncClient, Client, Event

path = sys.argv[1]
out = {"file": mio_client.__file__, "version": importlib.metadata.version("mio-client"),
       "typed": os.path.exists(os.path.join(os.path.dirname(mio_client.__file__), "py.typed"))}
r, w = os.pipe()
with Client(path, timeout=5) as c:
    c.register(r, token=1)
    os.write(w, b"x")
    event = c.next_event()
    out["blocking"] = [repr(event), isinstance(event, Event) and event.is_readable]

async def main():
    async with AsyncClient(path, timeout=5) as c:
        await c.waker(7)
        seen = []

        def on_wake(event):
            seen.append(str(event))
            c.stop()

        c.on(7, on_wake)
        await c.wake(7)
        await c.run()
        return seen

out["async"] = asyncio.run(main())
os.close(r)
os.close(w)
print(json.dumps(out))
'''


def run(command, **kwargs):
    kwargs.setdefault("timeout", 180 * TIME_SCALE)
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def test_pip_install_into_a_venv_then_use_it(daemon, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PIP_NO_INPUT"] = "1"
    # What building without isolation needs, said plainly if missing.
    build_tools = subprocess.run([python, "-c", (
        "import setuptools\n"
        "major, minor = (int(x) for x in setuptools.__version__.split('.')[:2])\n"
        "if (major, minor) < (70, 1):\n"
        "    import wheel\n")], capture_output=True, text=True, env=env)
    assert build_tools.returncode == 0, (
        "building mio-client offline needs setuptools (and wheel, for setuptools < 70.1) in the Python that runs "
        f"the tests: scripts/install-deps.sh installs them.\n{build_tools.stderr}")
    # From a copy: building writes build/ and *.egg-info beside the sources.
    source = tmp_path / "mio-client-source"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--disable-pip-version-check", str(source)], env=env)

    # -I: no current directory, no PYTHONPATH on sys.path: only what pip installed.
    result = run([python, "-I", "-c", PROGRAM, daemon.socket_path], env=env, cwd=str(tmp_path), timeout=60 * TIME_SCALE)
    out = json.loads(result.stdout)
    assert out["file"].startswith(str(venv)), f"imported from {out['file']}, not from the venv"
    assert out["version"] == "0.2.0" and out["typed"]
    assert out["blocking"] == ["Event(token=1, readable=True)", True]
    assert out["async"] == ["token 7: readable"]
    daemon.close_all_and_check_fds()
