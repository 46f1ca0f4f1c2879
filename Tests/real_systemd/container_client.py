#!/usr/bin/python3
"""The client side of the real-systemd suite, run *inside* the container
(by nsenter, with the container's /usr/bin/python3; stdlib only).

It lives for the whole suite, so it holds what a real client holds across a
daemon restart: its connections, and the other end of every fd it gave the
daemon (a pipe's write end, a FIFO's writer, a socketpair's peer, its own
copy of an eventfd). That is how the suite makes readiness happen while the
daemon is down. The client closes its own copy of each fd it registers, so
afterwards only the daemon (or PID 1's fd store) holds it.

The test process drives it with one JSON command per line on stdin and
reads one JSON result per line on stdout: {"ok": true, ...} or
{"ok": false, "error": "..."}.
"""

import errno
import grp
import json
import os
import pwd
import resource
import select
import socket
import stat
import sys
import time
import traceback

SOCKET_PATH = "/run/mio-daemon/mio.sock"
FIFO_DIR = "/run/mio-test-fifos"


def readable(socks, timeout):
    """Those of ``socks`` readable within ``timeout`` s (poll: fds above 1024 are common here)."""
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    return [by_fd[fd] for fd, _ in poller.poll(int(timeout * 1000) + 1)]


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""
        self.events = []  # event lines not yet taken, each with "t" (arrival, CLOCK_MONOTONIC)
        self.closed = False
        self.next_id = 0
        self.fds = []  # fds that came with replies (fetch), until a request takes or closes them

    def send(self, obj, fd=None):
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        if fd is None:
            self.sock.sendall(data)
        else:
            # A request with an fd goes in a sendmsg of its own (docs/protocol.md, "Sending: one `sendmsg()` per `register`").
            sent = self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))])
            if sent < len(data):
                self.sock.sendall(data[sent:])

    def read_line(self, deadline):
        """The next line from the daemon, or None at the deadline or at end of stream."""
        while b"\n" not in self.buffer:
            if self.closed:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not readable([self.sock], remaining):
                return None
            try:
                chunk, ancillary, _flags, _address = self.sock.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
            except (ConnectionResetError, BrokenPipeError):
                chunk, ancillary = b"", []
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    self.fds += [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data) - len(data) % 4, 4)]
            if not chunk:
                self.closed = True
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        message = json.loads(line)
        message["t"] = time.monotonic()
        return message

    def request(self, obj, fd=None, timeout=10.0, keep_fds=False):
        """Sends one request and returns its reply; event lines read meanwhile
        are kept. Fds beside the reply are closed, or with ``keep_fds`` left
        in ``self.fds`` for the caller."""
        if not keep_fds:
            try:
                return self.request(obj, fd, timeout, keep_fds=True)
            finally:
                for received in self.fds:
                    os.close(received)
                self.fds = []
        self.next_id += 1
        request_id = f"c{self.next_id}"
        self.send(dict(obj, id=request_id), fd)
        deadline = time.monotonic() + timeout
        while True:
            message = self.read_line(deadline)
            if message is None:
                state = "the daemon closed the connection" if self.closed else f"no reply in {timeout} s"
                raise RuntimeError(f"{obj.get('op')}: {state}")
            if "event" in message:
                self.events.append(message)
            elif message.get("id") == request_id:
                return message
            else:
                raise RuntimeError(f"{obj.get('op')}: unexpected line {message}")

    def close(self):
        self.sock.close()
        self.closed = True


class Client:
    def __init__(self):
        self.connections = {}
        self.other_ends = {}  # label -> (kind, fd the client keeps to make readiness)
        self.fifo_serial = 0
        # 1000 registrations mean 1000 kept ends: lift the soft limit.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    # --- connections ---------------------------------------------------

    def cmd_connect(self, conn, hello=None, timeout=10.0):
        """A new connection (replacing any of that name), with an optional hello."""
        if conn in self.connections:
            self.connections.pop(conn).close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.connect(SOCKET_PATH)
        connection = Connection(sock)
        self.connections[conn] = connection
        connected_at = time.monotonic()
        reply = connection.request(hello, timeout=timeout) if hello else None
        return {"reply": reply, "connected_at": connected_at}

    def cmd_close(self, conn):
        self.connections.pop(conn).close()
        return {}

    def cmd_request(self, conn, request, timeout=10.0):
        return {"reply": self.connections[conn].request(request, timeout=timeout)}

    def cmd_wait_closed(self, conn, timeout):
        """Reads until the daemon ends the connection; returns the notices and events it sent."""
        connection = self.connections[conn]
        deadline = time.monotonic() + timeout
        while not connection.closed and time.monotonic() < deadline:
            message = connection.read_line(deadline)
            if message is not None:
                connection.events.append(message)
        return {"closed": connection.closed, "events": self._take(connection)}

    def cmd_events(self, conn, tokens, timeout):
        """Reads until an event has come for every token in ``tokens`` (or the
        timeout); returns every event line read, with arrival times."""
        connection = self.connections[conn]
        wanted = set(tokens)
        deadline = time.monotonic() + timeout
        while wanted - {e.get("token") for e in connection.events}:
            if not self._read_event(connection, deadline):
                break
        return {"events": self._take(connection), "closed": connection.closed}

    def cmd_quiet_events(self, conn, seconds):
        """Every event line that arrives within ``seconds``."""
        connection = self.connections[conn]
        deadline = time.monotonic() + seconds
        while self._read_event(connection, deadline):
            pass
        return {"events": self._take(connection)}

    @staticmethod
    def _read_event(connection, deadline):
        message = connection.read_line(deadline)
        if message is None:
            return False
        connection.events.append(message)
        return True

    @staticmethod
    def _take(connection):
        events, connection.events = connection.events, []
        return events

    def cmd_reattach_many(self, sessions, timeout):
        """Connects one connection per session at once (``sessions``: conn ->
        session name) with a persistent hello, asks each for its ``list``, and
        reads until every listed token has had an event, or the timeout.
        Reports per connection: when the hello reply came, the tokens listed,
        and the arrival time of every event (CLOCK_MONOTONIC)."""
        pending = {}
        for conn, session in sessions.items():
            if conn in self.connections:
                self.connections.pop(conn).close()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            sock.connect(SOCKET_PATH)  # queued by the socket unit while the daemon is down
            connection = Connection(sock)
            self.connections[conn] = connection
            connection.send({"op": "hello", "protocol": 1, "session": session, "persist": True, "id": "hello"})
            pending[conn] = {"hello_at": None, "listed": None, "events": {}}
        deadline = time.monotonic() + timeout
        def done(state):
            return state["listed"] is not None and set(state["listed"]) <= set(state["events"])
        while not all(done(state) for state in pending.values()) and time.monotonic() < deadline:
            socks = {self.connections[c].sock: c for c, state in pending.items()
                     if not done(state) and not self.connections[c].closed}
            if not socks:
                break
            for sock in readable(list(socks), max(0.0, deadline - time.monotonic())):
                conn = socks[sock]
                connection, state = self.connections[conn], pending[conn]
                message = connection.read_line(time.monotonic() + 0.5)  # at least one line is there, or its start
                while message is not None:
                    if message.get("event") == "ready":
                        state["events"].setdefault(message["token"], message["t"])
                    elif message.get("id") == "hello":
                        if not message.get("ok"):
                            raise RuntimeError(f"hello {sessions[conn]}: {message}")
                        state["hello_at"] = message["t"]
                        connection.send({"op": "list", "id": "list"})
                    elif message.get("id") == "list":
                        state["listed"] = [r["token"] for r in message["registrations"]]
                    if b"\n" not in connection.buffer:
                        break
                    message = connection.read_line(time.monotonic())
        return {"sessions": {conn: {"hello_at": state["hello_at"], "listed": state["listed"] or [],
                                    "first_event_at": {str(k): v for k, v in state["events"].items()}}
                             for conn, state in pending.items()}}

    def cmd_reset(self):
        """Closes every connection and every kept end (between tests)."""
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()
        for _, fd in self.other_ends.values():
            os.close(fd)
        self.other_ends.clear()
        return {}

    # --- fds the daemon holds, and the ends the client keeps -------------

    def _register(self, conn, token, fd, interest, mode):
        try:
            return self.connections[conn].request(
                {"op": "register", "token": token, "interest": interest, "mode": mode}, fd=fd)
        finally:
            os.close(fd)  # from now on only the daemon holds it

    def cmd_register(self, conn, token, kind, label, interest=("readable",), mode="edge"):
        """Registers a new fd of ``kind``; keeps its other end under ``label``."""
        if label in self.other_ends:
            raise RuntimeError(f"label {label} is in use")
        if kind == "pipe":
            held, kept = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        elif kind == "fifo":
            os.makedirs(FIFO_DIR, exist_ok=True)
            self.fifo_serial += 1
            path = f"{FIFO_DIR}/{label}.{self.fifo_serial}"
            os.mkfifo(path, 0o600)
            held = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            kept = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.unlink(path)
        elif kind == "socketpair":
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            held, kept = a.detach(), b.detach()
        elif kind == "eventfd":
            held = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            kept = os.dup(held)  # the same eventfd: writing the copy readies the daemon's
        else:
            raise RuntimeError(f"unknown kind {kind}")
        self.other_ends[label] = (kind, kept)
        return {"reply": self._register(conn, token, held, list(interest), mode)}

    def cmd_store_memfd(self, conn, token, content):
        """Stores a new memfd holding ``content`` (text) under ``token``, never polled."""
        fd = os.memfd_create(f"mio-test-{token}", os.MFD_CLOEXEC)
        os.write(fd, content.encode())
        try:
            return {"reply": self.connections[conn].request({"op": "store", "token": token}, fd=fd)}
        finally:
            os.close(fd)  # from now on only the daemon holds it

    def cmd_fetch_content(self, conn, token):
        """Fetches a copy of a held memfd or file and returns its content."""
        connection = self.connections[conn]
        reply = connection.request({"op": "fetch", "token": token}, keep_fds=True)
        try:
            content = os.pread(connection.fds[0], 1 << 16, 0).decode() if reply.get("ok") and connection.fds else None
        finally:
            for received in connection.fds:
                os.close(received)
            connection.fds = []
        return {"reply": reply, "content": content}

    def cmd_register_pipes(self, conn, first_token, count, label_prefix):
        """``count`` pipes under tokens first_token…; their write ends are kept as label_prefix<token>."""
        failures = []
        for token in range(first_token, first_token + count):
            held, kept = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self.other_ends[f"{label_prefix}{token}"] = ("pipe", kept)
            reply = self._register(conn, token, held, ["readable"], "edge")
            if not reply.get("ok"):
                failures.append(reply)
        return {"failures": failures}

    def cmd_ready(self, labels):
        """Makes the fd behind each label readable (one byte, or eventfd += 1)."""
        results = {}
        for label in labels:
            kind, fd = self.other_ends[label]
            try:
                os.write(fd, (1).to_bytes(8, sys.byteorder) if kind == "eventfd" else b"x")
                results[label] = "ok"
            except OSError as error:  # EPIPE: nobody holds the read end any more
                results[label] = errno.errorcode.get(error.errno, str(error.errno))
        return {"results": results}

    def cmd_ready_prefix(self, label_prefix):
        labels = [label for label in self.other_ends if label.startswith(label_prefix)]
        return self.cmd_ready(labels)

    def cmd_forget(self, label_prefix):
        """Closes the kept ends under a label prefix (a test's cleanup)."""
        for label in [label for label in self.other_ends if label.startswith(label_prefix)]:
            os.close(self.other_ends.pop(label)[1])
        return {}

    # --- processes ------------------------------------------------------

    def cmd_fd_count(self, pid):
        return {"count": len(os.listdir(f"/proc/{pid}/fd"))}

    def cmd_wait_pid_gone(self, pid, timeout):
        deadline = time.monotonic() + timeout
        while os.path.exists(f"/proc/{pid}") and _state(pid) != "Z":
            if time.monotonic() >= deadline:
                return {"gone": False}
            time.sleep(0.005)
        return {"gone": True, "t": time.monotonic()}

    def cmd_ping_as(self, user, timeout=5.0):
        """Connects as ``user`` (with its supplementary groups), sends a hello
        and a ping, and reports what came back."""
        entry = pwd.getpwnam(user)
        groups = os.getgrouplist(user, entry.pw_gid)
        report_r, report_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(report_r)
            result = {}
            try:
                os.setgroups(groups)
                os.setgid(entry.pw_gid)
                os.setuid(entry.pw_uid)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(SOCKET_PATH)
                except OSError as error:
                    result = {"connected": False, "errno": errno.errorcode.get(error.errno, str(error.errno))}
                else:
                    connection = Connection(sock)
                    try:
                        connection.send({"op": "hello", "protocol": 1, "id": 1})
                        connection.send({"op": "ping", "id": 2})
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # a refused peer: the daemon may have closed already; its line is still there to read
                    lines, deadline = [], time.monotonic() + timeout
                    while len(lines) < 2:
                        line = connection.read_line(deadline)
                        if line is None:
                            break
                        line.pop("t")
                        lines.append(line)
                    result = {"connected": True, "lines": lines, "closed_by_daemon": connection.closed}
            except BaseException as error:  # report, never fall back into the parent's loop
                result = {"connected": False, "errno": repr(error)}
            os.write(report_w, json.dumps(dict(result, uid=os.getuid(), groups=os.getgroups())).encode())
            os._exit(0)
        os.close(report_w)
        data = b""
        while chunk := os.read(report_r, 65536):
            data += chunk
        os.close(report_r)
        os.waitpid(pid, 0)
        return json.loads(data)

    def cmd_socket_mode(self):
        st = os.stat(SOCKET_PATH)
        return {"is_socket": stat.S_ISSOCK(st.st_mode), "mode": stat.S_IMODE(st.st_mode),
                "owner": pwd.getpwuid(st.st_uid).pw_name, "group": grp.getgrgid(st.st_gid).gr_name}


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def main():
    client = Client()
    for line in sys.stdin:
        command = json.loads(line)
        name = command.pop("cmd")
        try:
            result = dict(getattr(client, f"cmd_{name}")(**command), ok=True)
        except Exception as error:  # the test shows it; the client goes on
            result = {"ok": False, "error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
