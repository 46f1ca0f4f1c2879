"""Defects a review of the restructure (a3a4bed) and the fd store mirror
(2e3facc) found, shown against the real daemon: each test failed before
its fix (ea0f367) and its docstring says why.

Which suite: Tests/hostile tests clients that break the rules or push the
limits; each test ends with the daemon healthy."""
import os
import socket
import threading
import time

from fake_service_manager import FakeManager


def test_deregistered_waker_with_pending_readiness_closes_its_eventfd(daemon):
    """A deregistered waker's eventfd must close with the deregister.

    Registration keeps the Waker twice (``held`` and ``let waker``), so
    ``Registration.close()`` drops only one reference; the eventfd closes
    when the Registration object dies. A woken waker's Registration sits in
    its session's pending queue until the next delivery, so in a `poll`
    session that is not polled (or a stream session whose client does not
    read) every waker/wake/deregister cycle leaves one eventfd open while the
    registration count goes back to 0: the limits never stop it, and the
    daemon's fd table fills."""
    conn = daemon.raw()
    assert conn.request({"op": "hello", "delivery": "poll"})["ok"]
    cycles = 40
    for _ in range(cycles):
        assert conn.request({"op": "waker", "token": 1})["ok"]
        assert conn.request({"op": "wake", "token": 1})["ok"]
        assert conn.request({"op": "ping"})["ok"]  # the wake's readiness is queued by now
        assert conn.request({"op": "deregister", "token": 1})["ok"]
    stats = conn.request({"op": "stats"})
    assert stats["stats"]["registrations"] == 0, stats
    # Only the connection itself should be open beyond the baseline.
    count = daemon.settled_fd_count(daemon.fd_baseline + 1)
    assert count == daemon.fd_baseline + 1, \
        f"{count - daemon.fd_baseline - 1} eventfds of deregistered wakers are still open with 0 registrations"
    daemon.close_all_and_check_fds()


def test_fd_store_budget_does_not_starve_other_connections(tmp_path, daemon_factory):
    """The 256 store operations a turn must not starve a connection forever.

    ``serviceScheduled`` walks the connections in the order they were
    scheduled; one with store work left reschedules itself first, so next
    turn it is first again and spends the whole budget again, and every
    connection after it finds ``hasBudget`` false before *any* request —
    even a `ping`, which needs no store operation. A client that keeps
    sending `reregister` lines on a persistent session (2 store operations
    each) holds every other client's requests for as long as it likes."""
    manager = FakeManager(str(tmp_path / "notify.sock"))
    sock_path = str(tmp_path / "mio.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    r, w = os.pipe()
    stop = threading.Event()
    try:
        d = daemon_factory(listen_fds=[(listener.fileno(), "mio-daemon.socket")], socket_path=sock_path,
                           socket_flag=False, env={"NOTIFY_SOCKET": manager.path}, wait=False)
        manager.wait_for("READY=1")
        d.wait_ready()
        victim = d.raw(strict=False)
        assert victim.request({"op": "ping"})["ok"]

        flooder = d.raw(strict=False)
        assert flooder.request({"op": "hello", "session": "flood", "persist": True})["ok"]
        assert flooder.request({"op": "register", "token": 1, "interest": ["readable"]}, [r])["ok"]
        raw = flooder.sock
        raw.settimeout(0.2)
        chunk = (b'{"op":"reregister","token":1,"interest":["readable"]}\n'
                 b'{"op":"reregister","token":1,"interest":["readable","writable"]}\n') * 2000

        def write() -> None:
            # The socket has a timeout (shared with the reader): a send that
            # times out is tried again, so the flood never stops by itself.
            view, offset = memoryview(chunk), 0
            while not stop.is_set():
                try:
                    offset = (offset + raw.send(view[offset:])) % len(chunk)
                except socket.timeout:
                    continue
                except OSError:
                    return

        def drain() -> None:
            while not stop.is_set():
                try:
                    if not raw.recv(1 << 20):
                        return
                except socket.timeout:
                    continue
                except OSError:
                    return

        threads = [threading.Thread(target=write, daemon=True), threading.Thread(target=drain, daemon=True)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # the flood is under way
        started = time.monotonic()
        victim.send_json({"op": "ping", "id": "v"})
        reply = None
        try:
            reply = victim.read_json(timeout=5.0)
        except Exception:
            pass
        waited = time.monotonic() - started
        stop.set()
        for t in threads:
            t.join(5)
        flooder.close()  # its queued lines go with it
        if reply is None:
            # Not lost: answered as soon as the flooder is gone.
            late = victim.read_json(timeout=10.0)
            assert late.get("id") == "v", late
        assert reply is not None and reply.get("id") == "v", \
            f"a ping on another connection went unanswered for {waited:.1f} s while one client kept the fd store budget"
    finally:
        stop.set()
        os.close(w)
        os.close(r)
        listener.close()
        manager.close()


def test_restore_keeps_a_name_in_the_store_when_its_first_copy_is_refused(tmp_path, daemon_factory):
    """Two copies under one name, the first refused, the second restored:
    the name must still be in the store, since the daemon holds it.

    ``restore`` sends FDSTOREREMOVE for the refused first copy at once
    (``fdStore.forget``), and systemd removes every fd under that name; the
    second copy is then restored with ``storedName = name`` ("already in the
    store"), so it is held but stored nowhere, and lost at the next crash.
    The fake manager starts with the name stored, as systemd had it."""
    manager = FakeManager(str(tmp_path / "notify.sock"))
    sock_path = str(tmp_path / "mio.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    uid = os.getuid()
    name = f"mio~{uid}~keep~9~r~e~w"
    pipe_r, pipe_w = os.pipe()          # not an eventfd: refused as a waker
    waker_fd = os.eventfd(0, os.EFD_NONBLOCK)
    with manager.lock:
        manager.store[name] = os.dup(waker_fd)
    try:
        d = daemon_factory(listen_fds=[(listener.fileno(), "mio-daemon.socket"), (pipe_r, name), (waker_fd, name)],
                           socket_path=sock_path, socket_flag=False, env={"NOTIFY_SOCKET": manager.path}, wait=False)
        manager.wait_for("READY=1")
        d.wait_ready()
        client = d.raw(strict=False)
        assert client.request({"op": "hello", "session": "keep"})["ok"]
        listed = [r["token"] for r in client.request({"op": "list"})["registrations"]]
        assert listed == [9], listed
        manager.pump(0.3)
        with manager.lock:
            names = set(manager.store)
        assert names == {name}, f"the daemon holds token 9 but the store has {names or 'nothing'}"
    finally:
        for fd in (pipe_r, pipe_w, waker_fd):
            os.close(fd)
        listener.close()
        manager.close()
