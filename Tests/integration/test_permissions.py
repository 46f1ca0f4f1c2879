"""Peers and permissions (docs/protocol.md, "Who may connect"): root, the daemon's uid, --allow-uid,
--allow-gid (primary or supplementary group); others get permission_denied
(no id) and are disconnected; sessions belong to a uid.

A peer of another uid needs the tests to run as root (a forked child drops
to uid 65534); otherwise these tests are skipped.
"""

import json
import os
import shutil
import socket
import tempfile
import time

import pytest

from timing import wait_readable

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another uid")

NOBODY = 65534
OTHER_GID = 4242


@pytest.fixture
def open_dir():
    """A directory every uid can traverse (the pytest tmp dirs are 0700)."""
    path = tempfile.mkdtemp(prefix="mio-perm-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_as(uid, gid, groups, socket_path, requests, timeout=5.0):
    """Fork; in the child drop to uid/gid/groups, connect, send ``requests``
    and read until EOF or ``timeout``. Returns (connect error or None, lines)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on
        status = 0
        try:
            os.close(r)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect(socket_path)
            except OSError as exc:
                os.write(w, json.dumps({"connect_error": exc.errno}).encode())
                os._exit(0)
            data = b""
            for req in requests:
                try:
                    s.sendall(json.dumps(req).encode() + b"\n")
                except OSError:
                    break
            deadline = time.monotonic() + timeout
            try:
                while time.monotonic() < deadline and data.count(b"\n") < len(requests):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            os.write(w, json.dumps({"lines": data.decode("utf-8", "replace").splitlines()}).encode())
        except BaseException as exc:  # noqa: BLE001 - report anything
            os.write(w, json.dumps({"child_error": repr(exc)}).encode())
            status = 1
        finally:
            os._exit(status)
    os.close(w)
    out = b""
    deadline = time.monotonic() + timeout + 5
    try:
        while time.monotonic() < deadline:
            if not wait_readable(r, max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out += chunk
    finally:
        os.close(r)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    result = json.loads(out or b"{}")
    assert "child_error" not in result, result
    assert "connect_error" not in result, f"connect failed with errno {result.get('connect_error')} (socket/directory modes?)"
    return [json.loads(x) for x in result.get("lines", [])]


def socket_in(open_dir, precreate):
    sub = os.path.join(open_dir, "run")
    if precreate:
        os.mkdir(sub)
        os.chmod(sub, 0o755)
    return os.path.join(sub, "mio.sock")


def test_other_uid_denied(daemon_factory, open_dir):
    path = socket_in(open_dir, precreate=True)
    daemon_factory(["--socket-mode", "0666"], socket_path=path)
    # two requests: one line comes back, then the connection is closed
    lines = run_as(NOBODY, NOBODY, [], path, [{"op": "ping", "id": 1}, {"op": "ping", "id": 2}])
    assert len(lines) == 1, lines
    reply = lines[0]
    assert reply["ok"] is False and reply["error"]["code"] == "permission_denied"
    assert "id" not in reply


def test_allow_uid(daemon_factory, open_dir):
    path = socket_in(open_dir, precreate=False)
    daemon_factory(["--allow-uid", str(NOBODY)], socket_path=path)
    lines = run_as(NOBODY, NOBODY, [], path, [{"op": "ping", "id": 1}])
    assert lines == [{"id": 1, "ok": True}]


def test_allow_uid_does_not_allow_other_uids(daemon_factory, open_dir):
    path = socket_in(open_dir, precreate=False)
    daemon_factory(["--allow-uid", "12345"], socket_path=path)
    lines = run_as(NOBODY, NOBODY, [], path, [{"op": "ping", "id": 1}, {"op": "ping", "id": 2}])
    assert len(lines) == 1 and lines[0]["error"]["code"] == "permission_denied", lines


def test_allow_gid_primary_group(daemon_factory, open_dir):
    path = socket_in(open_dir, precreate=False)
    daemon_factory(["--allow-gid", str(OTHER_GID)], socket_path=path)
    assert run_as(NOBODY, OTHER_GID, [], path, [{"op": "ping", "id": 1}]) == [{"id": 1, "ok": True}]
    denied = run_as(NOBODY, NOBODY, [], path, [{"op": "ping", "id": 1}])
    assert denied[0]["error"]["code"] == "permission_denied"


def test_allow_gid_supplementary_group(daemon_factory, open_dir):
    path = socket_in(open_dir, precreate=False)
    daemon_factory(["--allow-gid", str(OTHER_GID)], socket_path=path)
    assert run_as(NOBODY, NOBODY, [OTHER_GID], path, [{"op": "ping", "id": 1}]) == [{"id": 1, "ok": True}]


def test_sessions_are_per_uid(daemon_factory, open_dir):
    path = socket_in(open_dir, precreate=False)
    d = daemon_factory(["--allow-uid", str(NOBODY)], socket_path=path)
    mine = d.client()
    mine.hello("shared-name")
    mine.waker(1)
    # nobody's "shared-name" is another session: not busy, and root's waker
    # cannot be woken from there.
    lines = run_as(
        NOBODY, NOBODY, [], path,
        [{"op": "hello", "id": 1, "session": "shared-name"}, {"op": "wake", "id": 2, "token": 1, "session": "shared-name"}],
    )
    assert lines[0]["ok"] is True, lines
    assert lines[1]["ok"] is False, lines
    assert mine.next_event(0.3) is None


def test_root_sees_and_ends_the_sessions_of_every_uid(daemon_factory, open_dir):
    """`sessions` shows root every uid's named sessions, and `list`/`end`
    with `uid` reach them; another uid sees only its own, and may not name
    a uid (docs/protocol.md, "Operations")."""
    path = socket_in(open_dir, precreate=False)
    d = daemon_factory(["--allow-uid", str(NOBODY)], socket_path=path)
    root = d.raw()
    root.ok({"op": "hello", "session": "mine", "persist": True})
    lines = run_as(NOBODY, NOBODY, [], path, [
        {"op": "hello", "id": 1, "session": "theirs", "persist": True},
        {"op": "waker", "id": 2, "token": 4},
        {"op": "sessions", "id": 3},
        {"op": "list", "id": 4, "session": "mine", "uid": 0},
        {"op": "list", "id": 5, "session": "mine"},
    ])
    assert [line.get("ok") for line in lines] == [True, True, True, False, False], lines
    assert [s["name"] for s in lines[2]["sessions"]] == ["theirs"], "a uid sees its own sessions only"
    assert lines[3]["error"]["code"] == "permission_denied"
    assert lines[4]["error"]["code"] == "unknown_session", "names are per uid"
    listed = root.ok({"op": "sessions"})["sessions"]
    assert [(s["uid"], s["name"], s["registrations"]) for s in listed] == [(0, "mine", 0), (NOBODY, "theirs", 1)]
    assert root.ok({"op": "list", "session": "theirs", "uid": NOBODY})["registrations"] == [
        {"token": 4, "interest": ["readable"], "mode": "edge", "kind": "waker"}]
    assert root.ok({"op": "end", "id": 6, "session": "theirs", "uid": NOBODY}) == {"id": 6, "ok": True}
    assert [s["name"] for s in root.ok({"op": "sessions"})["sessions"]] == ["mine"]
    d.close_all_and_check_fds()
