"""Clients keep their own copies of fds the daemon has let go of (after
deregister, fetch with deregister, end, a closed connection). An epoll item
lives as long as its open file, not its fd: if the daemon closed its copy
without removing it from epoll, the kernel would go on reporting the old
file under the old data, to whoever now uses that slot. Then make the old
files ready and check that nobody hears of it."""

from __future__ import annotations

import os

import pytest

from daemon import Daemon
from mio_testkit import close_quietly


def _pipes(n):
    return [os.pipe() for _ in range(n)]


def _reg(c, id_, token, fd, interest="readable"):
    return c.ok({"op": "register", "id": id_, "token": token, "interest": interest}, [fd])


def _fetch_fd(c, id_, token, deregister):
    """fetch: the reply line and the fds that came with it."""
    c.send_json({"op": "fetch", "id": id_, "token": token, "deregister": deregister})
    return c.read_line_fds()


@pytest.mark.parametrize("how", ["deregister", "fetch-deregister", "end", "connection-closed", "persistent-end"])
def test_old_files_stay_silent_after_the_daemon_lets_go(daemon: Daemon, how: str) -> None:
    old = _pipes(20)
    new = _pipes(20)
    kept = []
    try:
        c = daemon.raw()
        if how == "persistent-end":
            c.ok({"op": "hello", "id": "h", "session": "stale", "persist": True})
        for i, (r, _) in enumerate(old):
            _reg(c, i, 100 + i, r, ["readable", "writable"])
        if how == "deregister":
            for i in range(20):
                c.ok({"op": "deregister", "id": f"d{i}", "token": 100 + i})
        elif how == "fetch-deregister":
            for i in range(20):
                data, fds = _fetch_fd(c, f"f{i}", 100 + i, True)
                assert b'"ok":true' in data and len(fds) == 1, (data, fds)
                kept += fds  # the daemon's own copy, now ours: the file stays open
        elif how in ("end", "persistent-end"):
            c.ok({"op": "end", "id": "e"})
        else:
            c.close()
            daemon.expect_fd_count(daemon.fd_baseline)
            c = daemon.raw()
        c.collect_events(quiet=0.2)
        c.events.clear()
        # new registrations take the slots (and fd numbers) the old ones had
        for i, (r, _) in enumerate(new):
            _reg(c, f"n{i}", i, r)
        other = daemon.raw()
        # the old files become ready, read-closed, everything
        for r, w in old:
            os.write(w, b"old")
        for _, w in old:
            os.close(w)
        evs = c.collect_events(quiet=0.5)
        assert not evs, f"events after the daemon let go of the old fds ({how}): {evs[:5]}"
        assert not other.collect_events(quiet=0.1)
        # the new ones still work
        for _, w in new[:3]:
            os.write(w, b"new")
        evs = c.collect_events(quiet=0.3)
        assert {e["token"] for e in evs} == {0, 1, 2}, evs
        c.close()
        other.close()
    finally:
        close_quietly([r for r, _ in old] + [fd for p in new for fd in p] + kept)
    daemon.assert_healthy()
