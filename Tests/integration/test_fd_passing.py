"""File descriptors (docs/protocol.md, "Passing file descriptors"): which request gets which fds, and every fd the daemon
receives is held by one registration or closed — counted in /proc/<pid>/fd."""

import os
import socket
import threading
import time

from raw_connection import line
from replies import assert_error, assert_ok
from timing import QUIET_S


def reg(token, request_id=None, interest=("readable",)):
    obj = {"op": "register", "token": token, "interest": list(interest)}
    if request_id is not None:
        obj["id"] = request_id
    return line(obj)


def test_register_without_fd_then_with_fd(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(reg(1, 1))
    raw.send(reg(1, 2), [r])
    assert_error(raw.read_json(), "no_fd", 1)
    assert_ok(raw.read_json(), 2)
    daemon.assert_fds_released(open_connections=1, held=1)
    daemon.close_all_and_check_fds()


def test_register_without_fd_then_with_fd_after_reply(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(reg(1, 1))
    assert_error(raw.read_json(), "no_fd", 1)
    raw.send(reg(1, 2), [r])
    assert_ok(raw.read_json(), 2)
    daemon.close_all_and_check_fds()


def test_fds_go_to_the_last_line_beginning_in_the_message(daemon, fds):
    # Not what a client should do, but the rule is exact: a ping and a register
    # in one sendmsg with one fd — the fd belongs to the register.
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "ping", "id": 1}) + reg(5, 2), [r])
    assert_ok(raw.read_json(), 1)
    assert_ok(raw.read_json(), 2)
    daemon.assert_fds_released(open_connections=1, held=1)
    # …and the other way round: the fd goes to the ping (bad_request), the
    # register gets none (no_fd).
    r2, _ = fds.pipe()
    raw.send(reg(6, 3) + line({"op": "ping", "id": 4}), [r2])
    assert_error(raw.read_json(), "no_fd", 3)
    assert_error(raw.read_json(), "bad_request", 4)
    daemon.assert_fds_released(open_connections=1, held=1)
    daemon.close_all_and_check_fds()


def test_fd_with_the_tail_of_a_line_goes_to_that_line(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    text = reg(1, 1)
    raw.send(text[:10])
    raw.expect_silence(0.1)
    raw.send(text[10:], [r])  # no line begins here: the fd goes to the one running through
    assert_ok(raw.read_json(), 1)
    daemon.close_all_and_check_fds()


def test_fd_with_the_head_of_a_line_stays_with_it(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    text = reg(1, 1)
    raw.send(text[:10], [r])
    raw.expect_silence(0.1)
    raw.send(text[10:])
    assert_ok(raw.read_json(), 1)
    daemon.close_all_and_check_fds()


def test_fds_on_ping_are_bad_request_and_closed(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "ping", "id": 1}), [r, w])
    assert_error(raw.read_json(), "bad_request", 1)
    daemon.assert_fds_released(open_connections=1)
    assert not daemon.holds(r)


def test_fd_on_every_fdless_op_is_bad_request(daemon, fds):
    raw = daemon.raw()
    ops = [
        {"op": "ping"},
        {"op": "hello"},
        {"op": "list"},
        {"op": "stats"},
        {"op": "end"},
        {"op": "waker", "token": 1},
        {"op": "wake", "token": 1},
        {"op": "deregister", "token": 1},
        {"op": "reregister", "token": 1, "interest": ["readable"]},
        {"op": "fetch", "token": 1},
    ]
    for i, op in enumerate(ops):
        r, _ = fds.pipe()
        raw.send(line(dict(op, id=i)), [r])
        assert_error(raw.read_json(), "bad_request", i)
    daemon.assert_fds_released(open_connections=1)


def test_fd_on_bad_json_is_bad_json_and_closed(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(b'{"op":"register","token":1,\n', [r])
    assert_error(raw.read_json(), "bad_json")
    daemon.assert_fds_released(open_connections=1)


def test_fd_on_unknown_op_is_closed(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(line({"op": "frobnicate", "id": 1}), [r])
    assert_error(raw.read_json(), "unknown_op", 1)
    daemon.assert_fds_released(open_connections=1)


def test_two_fds_on_register_is_bad_request_both_closed(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send(reg(1, 1), [r, w])
    assert_error(raw.read_json(), "bad_request", 1)
    daemon.assert_fds_released(open_connections=1)
    assert raw.request({"op": "list", "id": 2})["registrations"] == []


def test_two_scm_rights_headers_on_register_is_bad_request(daemon, fds):
    r, w = fds.pipe()
    raw = daemon.raw()
    raw.send_groups(reg(1, 1), [[r], [w]])
    assert_error(raw.read_json(), "bad_request", 1)
    daemon.assert_fds_released(open_connections=1)


def test_253_fds_on_one_request_all_closed(daemon, fds):
    pipes = [fds.pipe() for _ in range(127)]
    many = [fd for pair in pipes for fd in pair][:253]
    raw = daemon.raw()
    raw.send(line({"op": "ping", "id": 1}), many)
    assert_error(raw.read_json(), "bad_request", 1)
    daemon.assert_fds_released(open_connections=1)
    raw.send(reg(1, 2), [many[0]])
    assert_ok(raw.read_json(), 2)
    daemon.close_all_and_check_fds()


def test_blank_line_with_fds_is_bad_request_without_id(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(b"\n", [r])
    reply = raw.read_json()
    assert_error(reply, "bad_request", has_id=False)
    raw.send(b"\r\n", [r])
    assert_error(raw.read_json(), "bad_request", has_id=False)
    daemon.assert_fds_released(open_connections=1)
    raw.send(line({"op": "ping", "id": 3}))
    assert_ok(raw.read_json(), 3)


def test_blank_line_without_fds_gets_no_reply(daemon):
    raw = daemon.raw()
    raw.send(b"\n")
    raw.expect_silence()


def test_over_long_line_with_fd(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(b'{"op":"register","token":1,"interest":["readable"],"pad":"' + b"z" * 70000 + b'"}\n', [r])
    assert_error(raw.read_json(), "line_too_long", has_id=False)
    daemon.assert_fds_released(open_connections=1)
    r2, _ = fds.pipe()
    raw.send(reg(2, 2), [r2])
    assert_ok(raw.read_json(), 2)
    daemon.close_all_and_check_fds()


def test_over_long_line_with_fd_in_a_later_chunk(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(b'{"op":"ping","pad":"' + b"z" * 70000)
    raw.send(b"z" * 1000, [r])  # arrives while the daemon discards the line
    raw.send(b'"}\n' + line({"op": "ping", "id": 2}))
    assert_error(raw.read_json(), "line_too_long", has_id=False)
    assert_ok(raw.read_json(), 2)
    daemon.assert_fds_released(open_connections=1)


def test_unterminated_last_line_fds_closed_at_end_of_input(daemon, fds):
    r, _ = fds.pipe()
    raw = daemon.raw()
    raw.send(reg(1, 1).rstrip(b"\n"), [r])
    raw.shutdown_write()
    raw.expect_silence()
    daemon.assert_fds_released(open_connections=1)


def test_fds_of_unread_lines_closed_when_client_disconnects(daemon, fds):
    raw = daemon.raw()
    for i in range(20):
        r, _ = fds.pipe()
        raw.send(reg(i, i), [r])
    raw.send(reg(99, 99).rstrip(b"\n"), [fds.pipe()[0]])  # unterminated, with an fd
    daemon.close_all_and_check_fds()


def test_many_registers_pipelined_without_reading(daemon, fds):
    """More fd-carrying requests than SCM_MAX_FD in flight at once."""
    raw = daemon.raw()
    n = 300
    for i in range(n):
        r, _ = fds.pipe()
        raw.send(reg(i, i), [r])
    for i in range(n):
        assert_ok(raw.read_reply(), i)
    daemon.assert_fds_released(open_connections=1, held=n)
    daemon.close_all_and_check_fds()


def test_same_pipe_registered_twice_under_two_tokens(daemon, fds):
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    c.register(r, 2)
    os.write(w, b"x")
    seen = set()
    while seen != {1, 2}:
        ev = c.next_event(5)
        assert ev is not None, f"events seen: {seen}"
        seen.add(ev["token"])
    daemon.assert_fds_released(open_connections=1, held=2)
    daemon.close_all_and_check_fds()


def test_fd_received_is_close_on_exec_and_a_copy(daemon, fds):
    """Closing our copy does not disturb the daemon's registration."""
    r, w = fds.pipe()
    c = daemon.client()
    c.register(r, 1)
    fds.close(r)
    os.write(w, b"x")
    ev = c.next_event(5)
    assert ev is not None and ev["token"] == 1 and ev["readable"]
    daemon.close_all_and_check_fds()


def test_socket_fd_passed_is_registered(daemon, fds):
    a, b = fds.socketpair()
    c = daemon.client()
    c.register(a, 1)
    b.send(b"x")
    ev = c.next_event(5)
    assert ev["token"] == 1 and ev["readable"]
    daemon.close_all_and_check_fds()


def test_fd_sent_in_separate_messages_for_consecutive_registers(daemon, fds):
    raw = daemon.raw()
    pipes = [fds.pipe() for _ in range(10)]
    for i, (r, _) in enumerate(pipes):
        raw.send(reg(i, i), [r])
    for i in range(10):
        assert_ok(raw.read_json(), i)
    listed = raw.request({"op": "list", "id": "l"})["registrations"]
    assert sorted(x["token"] for x in listed) == list(range(10))
    # each token got its own pipe: write to pipe 7 only
    os.write(pipes[7][1], b"x")
    ev = raw.read_json()
    assert ev["event"] == "ready" and ev["token"] == 7
    daemon.close_all_and_check_fds()


def test_socket_kind_sockets_of_other_families(daemon, fds):
    s = fds.keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    c = daemon.client()
    c.register(s, 1, ("writable",))
    ev = c.next_event(5)
    assert ev["token"] == 1 and ev["writable"]
    daemon.close_all_and_check_fds()


def test_daemon_holds_received_fds_close_on_exec(daemon, fds):
    """Received with MSG_CMSG_CLOEXEC: a child the daemon might spawn never
    inherits a client's fd."""
    r, _ = fds.pipe()
    os.set_inheritable(r, True)
    c = daemon.client()
    c.register(r, 1)
    held = daemon.fds_on(r)
    assert len(held) == 1, held
    assert daemon.fd_flags(held[0]) & os.O_CLOEXEC, "the daemon's copy of a client fd is not close-on-exec"
    daemon.close_all_and_check_fds()


def test_daemon_never_reads_or_writes_client_fds(daemon, fds):
    a, b = fds.socketpair()
    r, w = fds.pipe()
    c = daemon.client()
    c.register(a, 1, ("readable", "writable"))
    c.register(w, 2, ("writable",))
    b.send(b"for the client only")
    events = list(c.events(QUIET_S))
    assert {e["token"] for e in events} == {1, 2}
    b.setblocking(True)
    a.settimeout(5)
    assert a.recv(100) == b"for the client only"  # still there: the daemon did not read it
    b.setblocking(False)
    try:
        extra = b.recv(100)
    except BlockingIOError:
        extra = b""
    assert extra == b"", "the daemon wrote to a client socket"
    try:
        piped = os.read(r, 100)
    except BlockingIOError:
        piped = b""
    assert piped == b"", "the daemon wrote to a client pipe"
    daemon.close_all_and_check_fds()


def test_fds_of_unprocessed_lines_stay_bounded(daemon, fds):
    """The daemon processes what it has read before it reads more: fds it
    has received but not yet given to a registration stay at most 253, even
    when a client floods it while not reading its replies."""
    n = 1000
    pipes = [fds.pipe() for _ in range(n)]
    flood = daemon.raw()
    flood.sock.settimeout(30)
    watcher = daemon.client()
    filler = b"".join(line({"op": "stats", "id": f"s{i}"}) for i in range(30000))
    errors = []

    def send():
        try:
            flood.sock.sendall(filler)  # replies go unread: the daemon stops reading
            for token, (r, _) in enumerate(pipes):
                flood.send(reg(token, token), [r])
        except OSError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    worst = 0

    def sample():
        nonlocal worst
        count = daemon.fd_count()
        held = watcher.stats()["fds_held"]  # read after the count: never too low
        worst = max(worst, count - daemon.fd_baseline - 2 - held)

    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        sample()
    replies = 0
    deadline = time.monotonic() + 30
    while replies < 30000 + n and time.monotonic() < deadline:
        flood.read_json()
        replies += 1
        if replies % 2000 == 0:
            sample()
    sender.join(10)
    assert not errors, errors
    assert replies == 30000 + n
    assert worst <= 253, f"{worst} received fds were not attached to a registration at once"
    daemon.assert_fds_released(open_connections=2, held=n)
    daemon.close_all_and_check_fds()


# The daemon reads a connection with one recvmmsg of two reads
# (docs/protocol.md, "Decisions and additions"): each read's fds go to its
# own line, and an end of input read with lines is seen after they are answered.

def test_pipelined_registers_each_keep_their_own_fd(daemon, fds):
    raw = daemon.raw()
    pipes = [fds.pipe() for _ in range(40)]
    for token, (r, _) in enumerate(pipes):
        raw.send(reg(token, token), [r])
    for token in range(len(pipes)):
        assert_ok(raw.read_reply(), token)
    for token in (0, 1, 17, 38, 39):
        raw.events.clear()
        os.write(pipes[token][1], b"x")
        events = raw.collect_events()
        assert [e["token"] for e in events] == [token], f"a byte in pipe {token} woke {events}"
        os.read(pipes[token][0], 16)
    daemon.close_all_and_check_fds()


def test_requests_then_end_of_input_in_one_read_are_all_answered(daemon, fds):
    raw = daemon.raw()
    r, w = fds.pipe()
    raw.send(reg(7, "r"), [r])
    raw.send(line({"op": "ping", "id": "p"}))
    raw.shutdown_write()
    assert_ok(raw.read_reply(), "r")
    assert_ok(raw.read_reply(), "p")
    os.write(w, b"x")  # events go on after the end of input
    assert [e["token"] for e in raw.collect_events()] == [7]
    daemon.close_all_and_check_fds()


def test_a_register_sent_just_before_hanging_up_is_kept_by_a_persistent_session(daemon, fds):
    raw = daemon.raw()
    assert_ok(raw.request({"op": "hello", "id": "h", "session": "kept", "persist": True}), "h")
    r, _ = fds.pipe()
    raw.send(reg(3, "r"), [r])
    raw.hangup()
    other = daemon.raw()
    deadline = time.monotonic() + 5
    while True:
        listed = other.request({"op": "list", "id": "l", "session": "kept"})
        if listed.get("ok") and [e["token"] for e in listed["registrations"]] == [3]:
            break
        assert time.monotonic() < deadline, f"the register before the hang-up was lost: {listed}"
        time.sleep(0.05)
    assert_ok(other.request({"op": "end", "id": "e", "session": "kept"}), "e")
    daemon.close_all_and_check_fds()
