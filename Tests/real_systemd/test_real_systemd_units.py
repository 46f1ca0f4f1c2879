"""The installed units under a real systemd 252 (PID 1 of a container):
socket activation, persistence across restart, SIGKILL and the watchdog,
the fd store's count, and who may connect.

Every test starts from a fresh daemon with an empty fd store (the
``baseline`` fixture) and ends with the daemon's fd count back at that
baseline. The measured figures (recovery times, the store's count after
each step) are printed at the end of the run.
"""

import time

import pytest

from real_systemd_client import readable_tokens
from real_systemd_figures import record
from real_systemd_recovery import (WATCHDOG_SEC, add_watchdog, conn_name, end_sessions, end_stopped_daemon,
                                   sigkill_recovery, watchdog_kill)
from real_systemd_service import SERVICE, SOCKET, wait_until

# What a session's ``list`` shows of each registration; compared before and after.
KINDS = {1: "pipe", 2: "fifo", 3: "socketpair", 4: "eventfd"}


def register_each_kind(client, conn, prefix):
    """A pipe, a FIFO, a socketpair, an eventfd (tokens 1-4), a oneshot pipe
    (5), a readable+priority pipe (6) and a waker (7). Returns the ``list``."""
    for token, kind in KINDS.items():
        client.register(conn, token, kind, f"{prefix}-{token}")
    client.register(conn, 5, "pipe", f"{prefix}-5", mode="oneshot")
    client.register(conn, 6, "pipe", f"{prefix}-6", interest=["readable", "priority"])
    client.ok(conn, "waker", token=7)
    listed = client.registrations(conn)
    assert sorted(listed) == [1, 2, 3, 4, 5, 6, 7]
    return listed


def wake(client, session, token):
    """A wake from another connection of the same uid, the session detached."""
    client.call("connect", conn="waker-caller")
    client.ok("waker-caller", "wake", token=token, session=session)
    client.call("close", conn="waker-caller")


def assert_events(client, conn, tokens, what):
    events = client.events(conn, tokens, timeout=5)
    missing = set(tokens) - readable_tokens(events)
    assert not missing, f"{what}: no readable event for tokens {sorted(missing)} (got {events})"


def assert_back_to_baseline(service, client, baseline, conns):
    end_sessions(client, conns)
    count = service.settled_fd_count()
    assert count == baseline, f"the daemon holds {count} fds, {baseline} when fresh"


def kill_and_wait_restart(service, client, labels_while_down=()):
    """SIGKILL; readiness on ``labels_while_down`` while no daemon runs;
    Restart=on-failure brings a new one. Returns the new pid."""
    pid = service.kill("SIGKILL")
    assert service.wait_gone(pid, 10) is not None, "SIGKILL did not end the daemon"
    if labels_while_down:
        results = client.call("ready", labels=list(labels_while_down))["results"]
        lost = sorted(label for label, result in results.items() if result == "EPIPE")
        assert not lost, f"{lost}: lost at SIGKILL (EPIPE: neither the fd store nor anyone else holds them)"
        assert results == dict.fromkeys(labels_while_down, "ok"), results
        assert service.running_pid() == 0, "the new daemon was up before the readiness was made"
    assert service.wait_restarted(pid, 10) is not None, f"no restart after SIGKILL:\n{service.journal()}"
    return service.main_pid()


def test_first_connection_starts_the_service(service, client):
    service.container.run(["systemctl", "stop", SERVICE])
    assert service.show("ActiveState")["ActiveState"] == "inactive"
    listening = service.show("ActiveState", "SubState", unit=SOCKET)
    assert (listening["ActiveState"], listening["SubState"]) == ("active", "listening")
    before = client.call("socket_mode")
    assert before == {"is_socket": True, "mode": 0o660, "owner": "root", "group": "mio"}

    reply = client.call("connect", conn="first", hello={"op": "ping"})["reply"]
    assert reply["ok"], reply
    pid = wait_until(service.running_pid, 10, "the service to start on the first connection")
    stats = client.ok("first", "stats")["stats"]
    assert stats["connections"] == 1
    with_connection = service.settled_fd_count(pid)
    client.call("close", conn="first")
    assert service.settled_fd_count(pid) == with_connection - 1
    # Socket activation: the daemon served systemd's socket, it made no socket file of its own.
    assert client.call("socket_mode") == before


def test_restart_keeps_every_persistent_registration(service, client, baseline):
    client.attach("detached", "restart-detached")
    listed_detached = register_each_kind(client, "detached", "rd")
    client.attach("attached", "restart-attached")
    client.register("attached", 1, "pipe", "ra-1")
    listed_attached = client.registrations("attached")

    client.call("close", conn="detached")
    client.ready("rd-1")  # detached, before the restart
    wake(client, "restart-detached", 7)
    old = service.main_pid()
    service.restart()
    closed = client.wait_closed("attached")
    assert closed["closed"] and {"event": "shutdown"} in [{"event": e.get("event")} for e in closed["events"]]
    client.ready("rd-2", "ra-1")  # after the restart, not yet re-attached

    client.attach("detached", "restart-detached")
    assert_events(client, "detached", [1, 2, 7], "readiness while detached across the restart")
    assert client.registrations("detached") == listed_detached
    client.attach("attached", "restart-attached")
    assert_events(client, "attached", [1], "readiness after the restart")
    assert client.registrations("attached") == listed_attached
    # The restored fds are live: new readiness on the untouched ones, the oneshot still armed.
    client.ready("rd-3", "rd-4", "rd-5", "rd-6")
    assert_events(client, "detached", [3, 4, 5, 6], "readiness after re-attach")
    assert service.main_pid() != old
    assert_back_to_baseline(service, client, baseline, ["detached", "attached"])


def test_sigkill_restores_sessions_stored_by_a_clean_restart(service, client, baseline):
    client.attach("k", "kill-stored")
    listed = register_each_kind(client, "k", "ks")
    service.restart()
    client.wait_closed("k")
    client.attach("k", "kill-stored")
    assert client.registrations("k") == listed

    kill_and_wait_restart(service, client, labels_while_down=["ks-1", "ks-2"])
    assert client.wait_closed("k")["closed"]
    client.attach("k", "kill-stored")
    assert_events(client, "k", [1, 2], "readiness made while the daemon was down")
    assert client.registrations("k") == listed
    client.ready("ks-3", "ks-4")
    wake(client, "kill-stored", 7)
    assert_events(client, "k", [3, 4, 7], "readiness after re-attach")
    assert_back_to_baseline(service, client, baseline, ["k"])


def test_sigkill_restores_sessions_made_since_the_last_start(service, client, baseline):
    client.attach("old", "kill-old")
    client.register("old", 1, "pipe", "ko-1")
    service.restart()
    client.wait_closed("old")
    client.attach("old", "kill-old")
    client.register("old", 2, "pipe", "ko-2")  # a new registration in a session from before the start
    listed_old = client.registrations("old")
    client.attach("new", "kill-new")  # a session from after the start
    listed_new = register_each_kind(client, "new", "kn")

    kill_and_wait_restart(service, client, labels_while_down=["ko-2", "kn-1", "kn-3"])
    client.attach("old", "kill-old")
    client.attach("new", "kill-new")
    lost_old = sorted(set(listed_old) - set(client.registrations("old")))
    lost_new = sorted(set(listed_new) - set(client.registrations("new")))
    assert not lost_old and not lost_new, \
        f"lost at SIGKILL: tokens {lost_old} of kill-old (made after its restore), tokens {lost_new} of kill-new"
    assert client.registrations("old") == listed_old
    assert client.registrations("new") == listed_new
    assert_events(client, "old", [2], "readiness made while the daemon was down")
    assert_events(client, "new", [1, 3], "readiness made while the daemon was down")
    assert_back_to_baseline(service, client, baseline, ["old", "new"])


def test_sigkill_does_not_bring_back_what_was_removed(service, client, baseline):
    client.attach("d", "kill-removed")
    for token in (1, 2, 3):
        client.register("d", token, "pipe", f"kr-{token}")
    client.ok("d", "waker", token=4)
    client.attach("e", "kill-ended")
    client.register("e", 1, "pipe", "ke-1")
    service.restart()  # all of it in the store
    for conn, session in (("d", "kill-removed"), ("e", "kill-ended")):
        client.wait_closed(conn)
        client.attach(conn, session)

    client.ok("d", "deregister", token=1)
    client.ok("d", "fetch", token=2, deregister=True)  # the fd comes back to the client, which closes it
    client.ok("d", "deregister", token=4)
    client.ok("e", "end")
    # PID 1 reads FDSTOREREMOVE asynchronously (a datagram queued before each
    # reply): once its store holds only kr-3, nobody holds those read ends
    # any more, not even PID 1, and writing to them is EPIPE.
    try:
        wait_until(lambda: service.fd_store_count() == 1, 10, "PID 1 to read the removals (fd store 1: kr-3)")
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}; fd store {service.fd_store_count()}") from None
    results = client.call("ready", labels=["kr-1", "kr-2", "ke-1"])["results"]
    assert results == {"kr-1": "EPIPE", "kr-2": "EPIPE", "ke-1": "EPIPE"}, \
        f"removed fds still open somewhere (fd store {service.fd_store_count()}): {results}"

    kill_and_wait_restart(service, client)
    client.attach("d", "kill-removed")
    client.attach("e", "kill-ended")
    assert sorted(client.registrations("d")) == [3], "a removed token came back after SIGKILL"
    assert client.registrations("e") == {}, "an ended session came back after SIGKILL"
    assert_back_to_baseline(service, client, baseline, ["d", "e"])


def test_a_stored_memfd_keeps_its_content_across_exit_restart_and_sigkill(service, client, baseline):
    """docs/protocol.md, "Holding without polling": a memfd with state,
    never polled, comes back with the same content after the client goes,
    after systemctl restart and after a SIGKILL of the daemon; so do a
    timer and a lease, from the fd store."""
    client.attach("m", "memfd-state", lease_s=3600)
    assert client.call("store_memfd", conn="m", token=1, content="generation=41")["reply"]["ok"]
    client.ok("m", "timer", token=2, after_ms=3600000, interval_ms=3600000)

    def content():
        return client.call("fetch_content", conn="m", token=1)["content"]

    client.call("close", conn="m")  # the client exits
    client.attach("m", "memfd-state")
    assert content() == "generation=41", "after the client's exit"
    service.restart()
    client.wait_closed("m")
    client.attach("m", "memfd-state")
    assert content() == "generation=41", "after systemctl restart"
    kill_and_wait_restart(service, client)
    client.attach("m", "memfd-state")
    assert content() == "generation=41", "after SIGKILL"
    listed = client.registrations("m")
    assert listed[1] == {"token": 1, "held": True, "kind": "memfd"}, listed
    assert listed[2]["kind"] == "timer" and listed[2]["interval_ms"] == 3600000, listed
    sessions = {s["name"]: s for s in client.ok("m", "sessions")["sessions"]}
    assert sessions["memfd-state"]["lease_s"] == 3600, sessions
    record(f"memfd in the fd store: content kept across client exit, restart and SIGKILL; NFileDescriptorStore {service.fd_store_count()}")
    assert service.fd_store_count() == 3, "the memfd, the timer and the lease"
    assert_back_to_baseline(service, client, baseline, ["m"])


def test_fd_store_holds_exactly_the_persistent_registrations(service, client, baseline):
    steps = []

    def step(what, expected):
        # PID 1 reads the daemon's FDSTORE messages asynchronously: allow it a
        # moment (a loaded CI machine has needed more than one second).
        deadline = time.monotonic() + 10
        while (observed := service.fd_store_count()) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        steps.append((what, expected, observed))

    def attempt(conn, op, **fields):
        # After a lossy crash an op can fail: note it in the table, go on to the next step.
        reply = client.request(conn, op, **fields)
        if not reply["ok"]:
            steps.append((f"({op} {fields} failed: {reply['error']['code']})", None, None))

    step("fresh daemon", 0)
    client.attach("s1", "store-1")
    for token in (1, 2, 3):
        client.register("s1", token, "pipe", f"st1-{token}")
    client.ok("s1", "waker", token=4)
    step("session store-1: 3 pipes and a waker", 4)
    client.call("connect", conn="anon")
    client.register("anon", 1, "pipe", "sta-1")
    client.attach("np", "store-not-persistent", persist=False)
    client.register("np", 1, "pipe", "stn-1")
    step("+ an anonymous and a non-persistent session (not stored)", 4)
    client.attach("np2", "store-not-persistent", persist=True, takeover=True)
    step("the non-persistent session taken over with persist: it pushes its fd", 5)
    client.call("close", conn="anon")
    service.restart()
    step("systemctl restart", 5)
    for conn, session in (("s1", "store-1"), ("np2", "store-not-persistent")):
        client.attach(conn, session)
    client.ok("s1", "deregister", token=1)
    step("deregister 1 of store-1", 4)
    client.attach("s2", "store-2")
    client.register("s2", 1, "pipe", "st2-1")
    client.register("s2", 2, "pipe", "st2-2")
    step("session store-2: 2 pipes", 6)
    kill_and_wait_restart(service, client)
    step("SIGKILL, restart", 6)
    for conn, session in (("s1", "store-1"), ("s2", "store-2"), ("np2", "store-not-persistent")):
        client.attach(conn, session)
    attempt("s1", "end")
    step("end store-1", 3)
    attempt("s2", "fetch", token=1, deregister=True)
    step("fetch with deregister in store-2", 2)
    attempt("np2", "reregister", token=1, interest=["readable", "writable"])
    step("reregister (the stored name changes, not the count)", 2)
    service.restart()
    step("systemctl restart", 2)
    for conn, session in (("s2", "store-2"), ("np2", "store-not-persistent")):
        client.attach(conn, session)
        attempt(conn, "end")
    step("end the rest", 0)
    for conn in ("s1", "s2", "np2"):
        client.call("close", conn=conn)

    table = "\n".join(f"  {what}: expected {expected}, NFileDescriptorStore={observed}" if expected is not None
                      else f"  {what}" for what, expected, observed in steps)
    record(f"fd store after each step:\n{table}")
    assert all(expected is not None and expected == observed for _, expected, observed in steps), table
    assert_back_to_baseline(service, client, baseline, [])


def test_watchdog_timeout_kills_and_restarts_with_sessions(service, client, baseline):
    pid = add_watchdog(service)
    try:
        client.attach("w", "watchdog")
        listed = register_each_kind(client, "w", "wd")
        figures = watchdog_kill(service, wait=WATCHDOG_SEC + 7, while_stopped=lambda: client.ready("wd-1"))
        record(figures.summary())
        assert figures.stop_to_death_s is not None, \
            f"the watchdog did not end the SIGSTOPped daemon within {WATCHDOG_SEC + 7} s (WatchdogSec={WATCHDOG_SEC}s)"
        assert figures.stop_to_serving_s is not None, "no new daemon after the watchdog kill"
        client.attach("w", "watchdog")
        assert client.registrations("w") == listed, "registrations lost at the watchdog kill"
        assert_events(client, "w", [1], "readiness after the watchdog restart")
    finally:
        end_stopped_daemon(service, pid)
    assert_back_to_baseline(service, client, baseline, ["w"])


def test_group_members_connect_and_strangers_are_refused(service, client, baseline):
    # A member of mio (a supplementary group, its primary group its own) and a stranger.
    service.container.run(["systemd-sysusers", "--inline", 'u miomember - "mio group member"', "m miomember mio",
                           'u miostranger - "not in group mio"'])
    member = client.call("ping_as", user="miomember")
    assert member["connected"], member
    assert [line.get("ok") for line in member["lines"]] == [True, True], member
    assert member["lines"][0]["protocol"] == 1

    stranger = client.call("ping_as", user="miostranger")
    # The socket's mode (0660 root:mio) is the first gate.
    assert stranger["connected"] is False and stranger["errno"] == "EACCES", stranger
    # The daemon's own check, behind the file mode: open the mode, the daemon still refuses.
    service.container.run(["chmod", "0666", "/run/mio-daemon/mio.sock"])
    try:
        stranger = client.call("ping_as", user="miostranger")
    finally:
        service.container.run(["chmod", "0660", "/run/mio-daemon/mio.sock"])
    assert stranger["connected"], stranger
    assert len(stranger["lines"]) == 1 and stranger["closed_by_daemon"], stranger
    refusal = stranger["lines"][0]
    assert refusal["ok"] is False and refusal["error"]["code"] == "permission_denied" and "id" not in refusal, refusal
    assert_back_to_baseline(service, client, baseline, [])


def test_sigkill_recovery_figures_after_a_clean_restart(service, client, baseline):
    """1000 registrations in 10 persistent sessions, stored by a clean
    restart (as the daemon of today stores them), then SIGKILL."""
    figures = sigkill_recovery(service, client, clean_restart_first=True)
    record(figures.summary("stored by a clean restart first"))
    assert figures.down_at_readiness
    assert figures.registrations_after == figures.registrations_before == 1000, figures.lost
    assert figures.events_after == 1000
    assert_back_to_baseline(service, client, baseline, [conn_name(i) for i in range(10)])


def test_sigkill_recovery_figures_of_sessions_made_since_the_start(service, client, baseline):
    """1000 registrations in 10 persistent sessions made since the daemon
    started, then SIGKILL: the figures of issue 11's closing note."""
    figures = sigkill_recovery(service, client, clean_restart_first=False)
    record(figures.summary("sessions made since the last start"))
    assert figures.down_at_readiness
    assert figures.registrations_after == figures.registrations_before == 1000, \
        f"{figures.registrations_after} of {figures.registrations_before} registrations after SIGKILL"
    assert figures.events_after == 1000
    assert figures.store_after == 1000, f"fd store after the restart: {figures.store_after}"
    assert_back_to_baseline(service, client, baseline, [conn_name(i) for i in range(10)])
