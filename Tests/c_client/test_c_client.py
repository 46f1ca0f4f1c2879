"""libmio-client against the real daemon: every call (clients/c/tests/api_test.c,
one case per test), the default socket lookup (docs/protocol.md, "Socket path"), the daemon
stopping, a uid it refuses, and `make install` + pkg-config building a
program (shared and static) that registers a pipe and gets its event.
Every daemon is back at its fd baseline at the end of each test."""

from __future__ import annotations

import os
import pathlib
import pwd
import re
import shutil
import subprocess
from typing import Dict, List, Optional

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
C_CLIENT = REPO / "clients" / "c"
EXAMPLE = C_CLIENT / "examples" / "pipe_readable.c"
API_CASES = ["arguments", "hello", "register", "reregister", "deregister", "waker", "fetch", "events_kept",
             "timeout", "foreign_loop", "session_taken", "store", "timer", "lease"]


def other_uid() -> Optional[int]:
    """A uid to run clients as that is not ours: nobody when we are root;
    None when we are not (tests then use our own uid where they can)."""
    if os.getuid() != 0:
        return None
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def run_as(uid: Optional[int], argv: List[str], env: Dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs argv as uid (None: as ourselves) with exactly env."""
    gid = None
    if uid is not None:
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            gid = uid

    def drop() -> None:
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=drop)


def plain_env(**extra: str) -> dict:
    """No MIO_SOCKET or XDG_RUNTIME_DIR unless a test sets them."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(extra)
    return env


def api_test(c_build: pathlib.Path, case: str, socket: str, pid: int, *, env: dict | None = None,
             uid: int | None = None, program: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    prog = program or c_build / "tests" / "api_test"
    return run_as(uid, [str(prog), case, socket, str(pid)], env or plain_env())


def assert_passed(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == "ok"


def public_copy(c_build: pathlib.Path, directory: pathlib.Path) -> pathlib.Path:
    """The test program where another uid may run it."""
    prog = directory / "api_test"
    shutil.copy(c_build / "tests" / "api_test", prog)
    prog.chmod(0o755)
    return prog


def printed_path(done: subprocess.CompletedProcess) -> str:
    lines = [text for text in done.stdout.splitlines() if text.startswith("path ")]
    assert lines, done.stdout
    return lines[0][len("path "):]


# ------------------------------------------------------------------ calls

@pytest.mark.parametrize("case", API_CASES)
def test_api(c_build, daemon, case):
    assert_passed(api_test(c_build, case, daemon.socket_path, daemon.pid))


def test_line_parser(c_build):
    done = subprocess.run([str(c_build / "tests" / "line_parser_test")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_daemon_stopping_ends_the_wait(stopped_during):
    stopped_during("api_test", env=plain_env())


@pytest.mark.skipif(os.getuid() != 0, reason="needs a second uid (run as root)")
def test_refused_uid_gets_permission_denied(c_build, daemon_factory, public_dir):
    # The directory exists already with 0755 and the socket is 0666, so the
    # connect succeeds and the daemon's own refusal is what the client meets.
    (public_dir / "d").mkdir(mode=0o755)
    d = daemon_factory(["--socket-mode", "0666"], socket_path=str(public_dir / "d" / "mio.sock"))
    prog = public_copy(c_build, public_dir)
    assert_passed(api_test(c_build, "permission_denied", d.socket_path, d.pid, uid=other_uid(), program=prog))
    assert re.search(rf"refused pid \d+ uid {other_uid()}", d.stderr_tail())


# ------------------------------------------------------------------ default socket lookup

def test_lookup_mio_socket_comes_first(c_build, daemon, tmp_path):
    # XDG_RUNTIME_DIR points where no daemon is: only $MIO_SOCKET can work.
    (tmp_path / "xdg").mkdir()
    env = plain_env(MIO_SOCKET=daemon.socket_path, XDG_RUNTIME_DIR=str(tmp_path / "xdg"))
    done = api_test(c_build, "default_path", "-", daemon.pid, env=env)
    assert_passed(done)
    assert printed_path(done) == daemon.socket_path


def test_lookup_xdg_runtime_dir(c_build, daemon_factory, public_dir):
    # As root the lookup would take /run/mio-daemon first, so a client of
    # another uid looks; an empty MIO_SOCKET counts as unset.
    uid = other_uid()
    runtime = public_dir / "runtime"
    runtime.mkdir(mode=0o755)
    expected = str(runtime / "mio-daemon" / "mio.sock")
    d = daemon_factory(["--allow-uid", str(uid)] if uid is not None else [], socket_path=expected)
    prog = public_copy(c_build, public_dir)
    env = plain_env(XDG_RUNTIME_DIR=str(runtime), MIO_SOCKET="")
    done = api_test(c_build, "default_path", "-", d.pid, env=env, uid=uid, program=prog)
    assert_passed(done)
    assert printed_path(done) == expected


def test_lookup_tmp_fallback(c_build, daemon_factory, public_dir):
    uid = other_uid()
    client_uid = os.getuid() if uid is None else uid
    directory = pathlib.Path(f"/tmp/mio-daemon-{client_uid}")
    expected = str(directory / "mio.sock")
    if directory.exists():
        pytest.skip(f"{directory} exists already (another daemon's?)")
    try:
        d = daemon_factory(["--allow-uid", str(uid)] if uid is not None else [], socket_path=expected)
        prog = public_copy(c_build, public_dir)
        done = api_test(c_build, "default_path", "-", d.pid, env=plain_env(XDG_RUNTIME_DIR=""), uid=uid,
                        program=prog)
        assert_passed(done)
        assert printed_path(done) == expected
        d.expect_fd_count(d.fd_baseline, what="after the C client exited ")
        assert d.stop() == 0
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.skipif(os.getuid() != 0, reason="the /run/mio-daemon step applies to root only")
def test_lookup_root_uses_run(c_build, daemon_factory, tmp_path):
    directory = pathlib.Path("/run/mio-daemon")
    expected = str(directory / "mio.sock")
    if os.path.exists(expected):
        pytest.skip(f"{expected} exists (a system daemon?)")
    made_directory = not directory.exists()
    try:
        d = daemon_factory(socket_path=expected)
        # A daemon-less XDG_RUNTIME_DIR: root does not look there.
        (tmp_path / "xdg").mkdir()
        done = api_test(c_build, "default_path", "-", d.pid, env=plain_env(XDG_RUNTIME_DIR=str(tmp_path / "xdg")))
        assert_passed(done)
        assert printed_path(done) == expected
        d.expect_fd_count(d.fd_baseline, what="after the C client exited ")
        assert d.stop() == 0
    finally:
        if made_directory:
            shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------ install, pkg-config

def listing(*dirs: pathlib.Path) -> dict:
    return {str(d): sorted(os.listdir(d)) for d in dirs}


def make_install(prefix: str, destdir: str = "") -> None:
    before = listing(REPO, C_CLIENT)
    done = subprocess.run(["make", "-s", "-C", str(REPO), "install-c-client", f"PREFIX={prefix}", f"DESTDIR={destdir}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert listing(REPO, C_CLIENT) == before, "make install left files in the source tree"


def assert_installed(root: pathlib.Path, prefix: str) -> None:
    lib = root / "lib"
    real = lib / "libmio-client.so.0.1.0"
    assert real.is_file() and not real.is_symlink() and os.access(real, os.X_OK)
    assert os.readlink(lib / "libmio-client.so.0") == "libmio-client.so.0.1.0"
    assert os.readlink(lib / "libmio-client.so") == "libmio-client.so.0"
    assert (lib / "libmio-client.a").is_file()
    assert (root / "include" / "mio-client.h").read_text() == (C_CLIENT / "include" / "mio-client.h").read_text()
    pc = (lib / "pkgconfig" / "mio-client.pc").read_text()
    assert f"prefix={prefix}\n" in pc and "@" not in pc
    man3 = root / "share" / "man" / "man3"
    assert (man3 / "mio-client.3").is_file()
    assert (man3 / "mio_client_wait.3").read_text() == ".so man3/mio-client.3\n"
    soname = subprocess.run(["readelf", "-d", str(real)], capture_output=True, text=True, check=True).stdout
    assert "Library soname: [libmio-client.so.0]" in soname


def needed_libraries(binary: pathlib.Path) -> list:
    out = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def test_install_then_pkg_config_builds_a_client(c_build, daemon, tmp_path):
    prefix = tmp_path / "x"
    make_install(str(prefix))
    assert_installed(prefix, str(prefix))
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "mio-client"], env=env, capture_output=True,
                           text=True, check=True).stdout.split()
    assert f"-I{prefix}/include" in flags and f"-L{prefix}/lib" in flags and "-lmio-client" in flags

    # Shared, with the command line.
    shared = tmp_path / "prog_shared"
    subprocess.run(f"cc {EXAMPLE} $(pkg-config --cflags --libs mio-client) -o {shared}", shell=True, env=env,
                   check=True, cwd=tmp_path)
    assert "libmio-client.so.0" in needed_libraries(shared)
    run_env = plain_env(MIO_SOCKET=daemon.socket_path, LD_LIBRARY_PATH=str(prefix / "lib"))
    ldd = subprocess.run(["ldd", str(shared)], env=run_env, capture_output=True, text=True, check=True).stdout
    assert f"{prefix}/lib/libmio-client.so.0" in ldd
    done = subprocess.run([str(shared)], env=run_env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "token 7 readable"

    # Static: libmio-client.a and json-c's archive, nothing to load at run time.
    static = tmp_path / "prog_static"
    subprocess.run(f"cc -static {EXAMPLE} $(pkg-config --static --cflags --libs mio-client) -o {static}",
                   shell=True, env=env, check=True, cwd=tmp_path)
    assert needed_libraries(static) == []
    done = subprocess.run([str(static)], env=plain_env(MIO_SOCKET=daemon.socket_path), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "token 7 readable"


def test_install_honours_destdir(c_build, tmp_path):
    stage = tmp_path / "stage"
    prefix = "/opt/mio-client-test"
    make_install(prefix, str(stage))
    assert not os.path.exists(prefix)
    assert os.listdir(stage) == ["opt"] and os.listdir(stage / "opt") == ["mio-client-test"]
    assert_installed(stage / prefix.lstrip("/"), prefix)


# ------------------------------------------------------------------ exported symbols

def test_shared_library_exports_exactly_the_headers_functions(c_build):
    """mio-client.map: the header's functions, in the version node
    MIO_CLIENT_0 existing programs were linked against, and nothing else
    (no mioc_ internals, no json-c)."""
    header = (C_CLIENT / "include" / "mio-client.h").read_text()
    declared = set(re.findall(r"^(?:const )?\w+ \*?(mio_client_\w+)\(", header, re.M))
    assert {"mio_client_connect", "mio_client_store", "mio_client_timer", "mio_client_hello_lease"} <= declared
    out = subprocess.run(["nm", "-D", "--defined-only", str(c_build / "libmio-client.so.0.1.0")], capture_output=True,
                         text=True, check=True).stdout
    exported = {}
    for line in out.splitlines():
        name = line.split()[-1]
        symbol, _, version = name.partition("@@")
        if symbol != "MIO_CLIENT_0":
            exported[symbol] = version
    assert set(exported) == declared
    assert set(exported.values()) == {"MIO_CLIENT_0"}
