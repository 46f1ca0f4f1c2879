"""Clients that push the new ops (store, timer, leases) past reason: a
flood of fast timers nobody reads, stores of the daemon's own sockets, a
lease churned by quick attach/detach. The daemon stays responsive to
others, its memory bounded, and every fd accounted for."""

import os
import socket
import time

from replies import assert_error


def test_a_flood_of_fast_timers_nobody_reads(daemon):
    c = daemon.raw()
    for token in range(1, 1001):
        c.send_json({"op": "timer", "token": token, "after_ms": 0, "interval_ms": 1, "id": token})
    for _ in range(1000):
        c.read_reply(timeout=10)
    # 1000 timers at 1 ms: up to a million expiries a second, coalesced per token.
    time.sleep(1.0)
    daemon.ping_fresh(2.0)
    other = daemon.raw()
    other.ok({"op": "waker", "token": 1})
    other.ok({"op": "wake", "token": 1})
    assert other.read_json(timeout=2)["token"] == 1, "another client's events still flow"
    daemon.assert_rss_bounded()
    stats = other.ok({"op": "stats"})["stats"]
    assert stats["registrations"] == 1001 and stats["fds_held"] == 0, stats
    c.close()
    other.close()
    daemon.close_all_and_check_fds()


def test_store_of_the_daemons_sockets_and_of_a_path_to_them(daemon, fds):
    c = daemon.raw()
    listener_copy = daemon.listening_socket_fd_in_daemon()
    assert listener_copy >= 0
    peer = fds.keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    peer.connect(daemon.socket_path)
    c.send_json({"op": "store", "token": 1, "id": 1}, [peer.fileno()])
    assert_error(c.read_reply(), "bad_fd")
    # An O_PATH fd of the socket file cannot connect or accept: it may be held.
    path_fd = fds.own(os.open(daemon.socket_path, os.O_PATH | os.O_CLOEXEC))
    c.ok({"op": "store", "token": 2}, [path_fd])
    assert c.ok({"op": "list"})["registrations"] == [{"token": 2, "held": True, "kind": "path"}]
    peer.close()
    daemon.close_all_and_check_fds()


def test_a_lease_churned_by_attach_and_detach(daemon):
    for _ in range(200):
        c = daemon.raw()
        c.ok({"op": "hello", "session": "churn", "persist": True, "lease_s": 1})
        c.close()
    watcher = daemon.raw()
    sessions = watcher.ok({"op": "sessions"})["sessions"]
    assert [s["name"] for s in sessions] == ["churn"]
    assert sum("timerfd" in t for t in daemon.fd_targets()) == 1, "one lease timer, however often it was set"
    deadline = time.monotonic() + 3
    while watcher.ok({"op": "sessions"})["sessions"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watcher.ok({"op": "sessions"})["sessions"] == []
    daemon.close_all_and_check_fds()
