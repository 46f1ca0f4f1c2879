"""Looking without attaching (docs/protocol.md, "Operations"): `sessions`,
`list` and `end` naming another session of the same uid. Looking attaches
nothing and consumes no pending readiness; ending refuses an attached
session.

Which suite: Tests/integration holds what docs/protocol.md promises a
client that follows it, one promise per test, checked on the exact replies
and events."""

import os

import pytest

from replies import ready


def _persistent(daemon, name, fds, tokens=(1,)):
    """A persistent session `name` holding a pipe per token, left detached;
    returns the write ends."""
    c = daemon.raw()
    c.ok({"op": "hello", "session": name, "persist": True})
    writers = []
    for token in tokens:
        r, w = fds.pipe()
        c.ok({"op": "register", "token": token, "interest": ["readable"]}, [r])
        writers.append(w)
    c.close()
    return writers


def test_sessions_lists_the_named_sessions_of_the_uid(daemon, fds):
    (w,) = _persistent(daemon, "kept", fds)
    attached = daemon.raw()
    attached.ok({"op": "hello", "session": "here"})
    anonymous = daemon.raw()
    anonymous.ok({"op": "waker", "token": 5})
    os.write(w, b"x")
    looker = daemon.raw()
    wanted = [
        {"name": "here", "uid": os.getuid(), "persistent": False, "attached": True, "registrations": 0, "pending": 0,
         "lease_s": None, "expires_in_s": None},
        {"name": "kept", "uid": os.getuid(), "persistent": True, "attached": False, "registrations": 1, "pending": 1,
         "lease_s": None, "expires_in_s": None},
    ]
    for _ in range(50):  # the readiness reaches the session within a loop turn
        got = looker.ok({"op": "sessions", "id": 1})
        if got["sessions"] == wanted:
            break
    assert got == {"id": 1, "ok": True, "sessions": wanted}, "anonymous sessions are not listed"
    daemon.close_all_and_check_fds(held=1)


def test_list_of_another_session_leaves_its_pending_events(daemon, fds):
    (w,) = _persistent(daemon, "quiet", fds, tokens=(7,))
    os.write(w, b"x")
    looker = daemon.raw()
    for _ in range(3):
        assert looker.ok({"op": "list", "id": 2, "session": "quiet"}) == {
            "id": 2, "ok": True, "registrations": [{"token": 7, "interest": ["readable"], "mode": "edge", "kind": "pipe"}]}
    assert looker.ok({"op": "list", "id": 3})["registrations"] == [], "the looker's own session is untouched"
    # A later attach still receives what was pending.
    owner = daemon.raw()
    owner.ok({"op": "hello", "session": "quiet"})
    assert owner.read_json() == ready(7, readable=True)
    daemon.close_all_and_check_fds(held=1)


def test_list_works_while_another_connection_is_attached(daemon, fds):
    r, w = fds.pipe()
    owner = daemon.raw()
    owner.ok({"op": "hello", "session": "busy"})
    owner.ok({"op": "register", "token": 3, "interest": ["readable", "writable"], "mode": "oneshot"}, [r])
    looker = daemon.raw()
    assert looker.ok({"op": "list", "session": "busy"})["registrations"] == [
        {"token": 3, "interest": ["readable", "writable"], "mode": "oneshot", "kind": "pipe"}]
    os.write(w, b"x")
    assert owner.read_json() == ready(3, readable=True), "the owner's events are its own"
    looker.expect_silence()
    daemon.close_all_and_check_fds()


@pytest.mark.parametrize("op", ["list", "end"])
def test_a_missing_session_is_unknown_session(daemon, op):
    c = daemon.raw()
    assert c.request({"op": op, "id": 4, "session": "nowhere"}) == {
        "id": 4, "ok": False, "error": {"code": "unknown_session", "message": f'uid {os.getuid()} has no session named "nowhere"'}}
    assert c.request({"op": op, "id": 5, "session": "bad name"})["error"]["code"] == "bad_request"
    assert c.request({"op": op, "id": 6, "uid": 0})["error"]["code"] == "bad_request", "uid needs session"
    daemon.close_all_and_check_fds()


def test_end_of_another_session_closes_its_fds_and_refuses_an_attached_one(daemon, fds):
    base = daemon.fd_baseline
    _persistent(daemon, "gone", fds, tokens=(1, 2, 3))
    owner = daemon.raw()
    owner.ok({"op": "hello", "session": "held"})
    owner.ok({"op": "waker", "token": 9})
    c = daemon.raw()
    assert c.request({"op": "end", "id": 1, "session": "held"})["error"]["code"] == "session_busy"
    assert c.ok({"op": "end", "id": 2, "session": "gone"}) == {"id": 2, "ok": True}
    assert [s["name"] for s in c.ok({"op": "sessions"})["sessions"]] == ["held"]
    assert c.request({"op": "list", "session": "gone"})["error"]["code"] == "unknown_session"
    daemon.expect_fd_count(base + 3, what="the three pipes closed; two connections and the waker remain")
    owner.ok({"op": "list"})  # the attached session is untouched
    daemon.close_all_and_check_fds()
