#!/usr/bin/env python3
"""Soak test for mio-daemon: clients killed at random, nothing may leak.

    python3 Tests/soak/soak.py --minutes N      (default 1)

Starts the daemon (the test kit's Daemon, Tests/common/daemon.py:
$MIO_DAEMON_BIN or $MIO_BUILD_DIR, else .build/release/mio-daemon if it
exists, else .build/debug/mio-daemon) on a socket in a temporary directory,
records its fd count and RSS, then for N minutes keeps --clients (default 8)
client processes running. Each client connects, maybe says hello with a
named session (persistent or not, from a small pool of names, sometimes
taking it over), registers pipes, socketpairs, eventfds and wakers, makes
them ready, reads events (or polls), deregisters, fetches, wakes, sends
garbage and misplaced fds, pipelines pings, sometimes ends its session, and
is SIGKILLed at a random moment (often in the middle of a loop of
sendmsg() calls) or leaves on its own. Every few seconds a fresh client
pings the daemon.

After a first quarter (at most --checkpoint-seconds) and at the end, every
client is gone and a janitor ends every session of the pool; then the
daemon's fd count must equal the baseline (and, at the end, its RSS must be
within the baseline + --rss-slack-mib; the daemon runs with glibc's mmap
threshold pinned, see --no-malloc-pin). The daemon is stopped with
SIGTERM and must exit 0. A one-line JSON summary is printed last. Exit
status 0 on success, 1 on failure.
"""

from __future__ import annotations

import argparse
import array
import json
import os
import pathlib
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PERSISTENT_POOL = [f"soak-p{i}" for i in range(12)]
PLAIN_POOL = [f"soak-n{i}" for i in range(12)]
SCM_MAX_FD = 253
INT_SIZE = array.array("i").itemsize
ANC_SIZE = socket.CMSG_SPACE(SCM_MAX_FD * INT_SIZE) + 256
MSG_CMSG_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0x40000000)


def line(obj: Dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# ==========================================================================
# The client (a subprocess: `soak.py --worker`)


class Anomaly(Exception):
    pass


class WorkerConn:
    """Non-blocking connection: writes never block while the daemon has
    output for us (we read while we wait), replies are matched in order."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.sock.setblocking(False)
        self.buf = b""
        self.pending: List[Tuple[Any, Tuple[str, ...]]] = []  # (id, allowed error codes)
        self.next_id = 0
        self.events = 0
        self.replies = 0
        self.taken = False
        self.eof = False
        self.last_reply: Dict[Any, Dict[str, Any]] = {}

    def _read_some(self, timeout: float) -> None:
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return
        try:
            data, anc, flags, _ = self.sock.recvmsg(1 << 16, ANC_SIZE, MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data, anc = b"", []
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                for fd in array.array("i", payload[: len(payload) - len(payload) % INT_SIZE]):
                    os.close(fd)
        if not data:
            self.eof = True
            raise Anomaly("daemon closed the connection")
        self.buf += data
        while b"\n" in self.buf:
            text, self.buf = self.buf.split(b"\n", 1)
            self._handle(text)

    def _handle(self, text: bytes) -> None:
        obj = json.loads(text)
        if "event" in obj:
            self.events += 1
            if obj["event"] == "session_taken":
                self.taken = True
            elif obj["event"] == "shutdown":
                raise Anomaly("daemon sent shutdown")
            return
        if not self.pending:
            raise Anomaly(f"unexpected reply {text[:200]!r}")
        want_id, allowed = self.pending.pop(0)
        if obj.get("id") != want_id:
            raise Anomaly(f"reply out of order: wanted id {want_id!r}, got {text[:200]!r}")
        self.replies += 1
        if obj.get("ok") is not True:
            code = obj.get("error", {}).get("code")
            if code not in allowed:
                raise Anomaly(f"unexpected error {code} for request {want_id!r}: {text[:300]!r}")
        self.last_reply[want_id] = obj

    def send(self, data: bytes, fds: Sequence[int] = ()) -> None:
        view = memoryview(data)
        first = True
        while view:
            try:
                if first and fds:
                    n = self.sock.sendmsg([view], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", list(fds)))])
                else:
                    n = self.sock.send(view)
                first = False
                view = view[n:]
            except BlockingIOError:
                self._read_some(0.0)
                select.select([self.sock], [self.sock], [], 0.05)

    def request(self, obj: Dict[str, Any], fds: Sequence[int] = (), allowed: Tuple[str, ...] = ()) -> Any:
        self.next_id += 1
        obj = dict(obj, id=self.next_id)
        self.pending.append((self.next_id, allowed))
        self.send(line(obj), fds)
        return self.next_id

    def bogus(self, data: bytes, fds: Sequence[int] = (), replies: int = 1, want_id: Any = None) -> None:
        """Bytes whose replies (errors, no id unless ``want_id``) we expect
        but do not check beyond their order."""
        for _ in range(replies):
            self.pending.append((want_id, ("bad_json", "bad_request", "unknown_op", "no_fd", "line_too_long")))
        self.send(data, fds)

    def sync(self, timeout: float = 20.0) -> None:
        self.request({"op": "ping"})
        end = time.monotonic() + timeout
        while self.pending:
            if time.monotonic() > end:
                raise Anomaly(f"no reply within {timeout} s ({len(self.pending)} outstanding)")
            self._read_some(0.05)

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read_some(max(0.0, min(0.02, end - time.monotonic())))


def worker(path: str, seed: int, steps: int) -> int:
    rng = random.Random(seed)
    out = sys.stdout

    def report(kind: str, n: Any = 1) -> None:
        out.write(f"{kind} {n}\n")
        out.flush()

    try:
        return work(path, rng, steps, report)
    except Anomaly as e:
        report("anomaly", json.dumps(str(e)))
        return 2


def work(path: str, rng: random.Random, steps: int, report) -> int:
    conn = WorkerConn(path)
    report("connected")
    poll_delivery = False
    persistent = False
    if rng.random() < 0.6:
        if rng.random() < 0.6:
            name = rng.choice(PERSISTENT_POOL)
            persistent = True
        else:
            name = rng.choice(PLAIN_POOL)
        poll_delivery = rng.random() < 0.2
        hello = {"op": "hello", "protocol": 1, "session": name, "persist": persistent, "takeover": rng.random() < 0.4,
                 "delivery": "poll" if poll_delivery else "stream", "client": "soak"}
        hid = conn.request(hello, allowed=("session_busy",))
        conn.sync()
        if conn.last_reply[hid].get("ok"):
            report("hello")
        else:
            poll_delivery = persistent = False
    # our fds: token -> (fd we keep to make it ready, kind)
    mine: Dict[int, Tuple[int, str]] = {}
    wakers: List[int] = []
    local: List[int] = []

    def new_token() -> int:
        return rng.getrandbits(62)

    def register_batch(n: int) -> None:
        ids = []
        for _ in range(n):
            kind = rng.choice(["pipe", "socket", "eventfd", "waker"])
            tok = new_token()
            if kind == "waker":
                conn.request({"op": "waker", "token": tok}, allowed=("token_in_use",))
                wakers.append(tok)
                continue
            if kind == "pipe":
                r, w = os.pipe()
                give, keep = r, w
            elif kind == "socket":
                a, b = socket.socketpair()
                give, keep = a.detach(), b.detach()
            else:
                give = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                keep = os.dup(give)
            os.set_blocking(keep, False)
            interest = rng.choice([["readable"], ["readable", "writable"], "readable", ["readable", "priority"]])
            mode = "oneshot" if rng.random() < 0.2 else "edge"
            # one sendmsg per register, in a tight loop: a favourite place to be killed
            ids.append(conn.request({"op": "register", "token": tok, "interest": interest, "mode": mode}, [give], allowed=("token_in_use",)))
            os.close(give)
            mine[tok] = (keep, kind)
            local.append(keep)
        conn.sync()
        report("r", sum(1 for i in ids if conn.last_reply.get(i, {}).get("ok")))

    def make_ready(k: int) -> None:
        for tok in rng.sample(list(mine), min(k, len(mine))):
            fd, kind = mine[tok]
            try:
                if kind == "eventfd":
                    os.write(fd, (1).to_bytes(8, "little"))
                else:
                    os.write(fd, b"x")
            except (BlockingIOError, BrokenPipeError, OSError):
                pass

    def forget(tok: int) -> None:
        fd, _ = mine.pop(tok)
        local.remove(fd)
        os.close(fd)

    try:
        register_batch(rng.randint(1, 12))
        step = 0
        while steps == 0 or step < steps:
            step += 1
            action = rng.choices(
                ["register", "ready", "drain", "deregister", "fetch", "reregister", "wake", "poll", "pipeline", "bogus", "half", "end", "list", "leave"],
                weights=[10, 25, 15, 6, 4, 4, 5, 6 if poll_delivery else 1, 3, 3, 2, 2 if persistent else 0.3, 2, 1 if steps else 0],
            )[0]
            if conn.taken:
                # our session went to another client; its registrations too
                for tok in list(mine):
                    forget(tok)
                wakers.clear()
                conn.taken = False
                poll_delivery = persistent = False
            if action == "register":
                if len(mine) < 150:
                    register_batch(rng.randint(1, 20))
            elif action == "ready":
                make_ready(rng.randint(1, 30))
            elif action == "drain":
                conn.drain(rng.uniform(0.0, 0.05))
            elif action == "deregister" and mine:
                tok = rng.choice(list(mine))
                conn.request({"op": "deregister", "token": tok}, allowed=("unknown_token",))
                forget(tok)
            elif action == "fetch" and mine:
                tok = rng.choice(list(mine))
                dereg = rng.random() < 0.5
                conn.request({"op": "fetch", "token": tok, "deregister": dereg}, allowed=("unknown_token",))
                if dereg:
                    forget(tok)
            elif action == "reregister" and mine:
                tok = rng.choice(list(mine))
                conn.request({"op": "reregister", "token": tok, "interest": ["readable", "writable"], "mode": rng.choice(["edge", "oneshot"])}, allowed=("unknown_token",))
            elif action == "wake":
                if wakers:
                    target = {"op": "wake", "token": rng.choice(wakers)}
                    if rng.random() < 0.3:
                        target["session"] = rng.choice(PERSISTENT_POOL)
                    conn.request(target, allowed=("unknown_token",))
            elif action == "poll":
                conn.request({"op": "poll", "timeout_ms": rng.choice([0, 0, 5, 20]), "max_events": rng.choice([1, 16, 1024])}, allowed=("wrong_state",))
            elif action == "pipeline":
                for _ in range(rng.randint(100, 3000)):
                    conn.request({"op": rng.choice(["ping", "stats", "list"]) if len(mine) < 50 else "ping"})
            elif action == "bogus":
                choice = rng.randint(0, 4)
                if choice == 0:  # fds on a ping
                    fds = [os.eventfd(0) for _ in range(rng.randint(1, 40))]
                    conn.request({"op": "ping"}, fds, allowed=("bad_request",))
                    for fd in fds:
                        os.close(fd)
                elif choice == 1:  # garbage
                    conn.bogus(b"!" + bytes(rng.getrandbits(8) & 0x7F | 0x20 for _ in range(rng.randint(1, 300))) + b"\n")
                elif choice == 2:  # several fds on a register
                    r1, w1 = os.pipe()
                    conn.request({"op": "register", "token": new_token(), "interest": "readable"}, [r1, w1], allowed=("bad_request",))
                    os.close(r1)
                    os.close(w1)
                elif choice == 3:  # a long line
                    conn.bogus(b'{"op":"ping","x":"' + b"a" * rng.randint(70000, 300000) + b'"}\n')
                else:  # a blank line with an fd
                    fd = os.eventfd(0)
                    conn.bogus(b"\n", [fd])
                    os.close(fd)
            elif action == "half":
                # half a line with an fd, then (maybe) the rest: a favourite place to be killed
                fd = os.eventfd(0)
                tok = new_token()
                data = line({"op": "register", "token": tok, "interest": "readable", "id": "half"})
                cut = rng.randint(1, len(data) - 1)
                conn.pending.append(("half", ("token_in_use",)))
                conn.send(data[:cut], [fd])
                time.sleep(rng.uniform(0, 0.05))
                conn.send(data[cut:])
                keep = os.dup(fd)
                os.close(fd)
                mine[tok] = (keep, "eventfd")
                local.append(keep)
            elif action == "end":
                conn.request({"op": "end"})
                conn.sync()
                report("end")
                for tok in list(mine):
                    forget(tok)
                wakers.clear()
                poll_delivery = persistent = False
            elif action == "list":
                conn.request({"op": "list"})
            elif action == "leave":
                break
            if rng.random() < 0.1:
                conn.sync()
        conn.sync()
        report("done")
        return 0
    finally:
        for fd in local:
            os.close(fd)


# ==========================================================================
# The driver


def pick_binary() -> str:
    """$MIO_DAEMON_BIN or $MIO_BUILD_DIR (binaries.py), else a release build
    if there is one, else the debug build."""
    import binaries

    release = REPO_ROOT / ".build" / "release" / "mio-daemon"
    if not binaries.chosen_explicitly() and os.access(release, os.X_OK):
        return str(release)
    return binaries.daemon_binary()


def drive(args: argparse.Namespace) -> int:
    # The shared test kit, imported here: the workers need none of it.
    sys.path.insert(0, str(REPO_ROOT / "clients" / "python"))
    sys.path.insert(0, str(REPO_ROOT / "Tests" / "common"))
    from daemon import Daemon

    binary = args.binary or pick_binary()
    rng = random.Random(args.seed)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="mio-soak-"))
    env = {}
    if not args.no_malloc_pin:
        # glibc raises its mmap threshold as big blocks are freed, after
        # which freed output buffers stay in the heap and RSS plateaus
        # ~10 MiB above the start for good. Pinning the threshold at its
        # default keeps RSS a measure of live memory, so that a leak of a
        # few MiB shows.
        env["MALLOC_MMAP_THRESHOLD_"] = os.environ.get("MALLOC_MMAP_THRESHOLD_", "131072")
    # Not strict: the janitor's replies interleave with the events of the
    # sessions it attaches to.
    daemon = Daemon(binary, workdir, args.daemon_arg or [], log_level="info", env=env, raw_strict=False)
    failures: List[str] = []
    counts = {"clients_started": 0, "clients_killed": 0, "clients_exited": 0, "registrations": 0, "hellos": 0, "ends": 0,
              "anomalies": 0, "health_pings": 0, "health_failures": 0}
    anomalies: List[str] = []
    state = {"max_ping": 0.0, "rss_peak": -1, "fd_peak": -1}
    running: Dict[int, Dict[str, Any]] = {}
    me = [sys.executable, os.path.abspath(__file__), "--worker", "--socket", daemon.socket_path]

    def spawn() -> None:
        seed = rng.getrandbits(32)
        # 75% work until they are SIGKILLed at a random moment; the
        # others do a number of steps and leave (or are killed at 8 s)
        doomed = rng.random() < 0.75
        steps = 0 if doomed else rng.randint(5, 200)
        lifetime = rng.uniform(0.05, 3.0) if doomed else 8.0
        p = subprocess.Popen(me + ["--seed", str(seed), "--steps", str(steps)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.set_blocking(p.stdout.fileno(), False)
        running[p.pid] = {"proc": p, "deadline": time.monotonic() + lifetime, "out": b"", "seed": seed}
        counts["clients_started"] += 1

    def absorb(info: Dict[str, Any], final: bool = False) -> None:
        p = info["proc"]
        try:
            while True:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                info["out"] += chunk
        except BlockingIOError:
            pass
        *lines, info["out"] = info["out"].split(b"\n")
        if final and info["out"]:
            lines.append(info["out"])
            info["out"] = b""
        for text in lines:
            parts = text.decode(errors="replace").split(" ", 1)
            if parts[0] == "r":
                counts["registrations"] += int(parts[1])
            elif parts[0] == "hello":
                counts["hellos"] += 1
            elif parts[0] == "end":
                counts["ends"] += 1
            elif parts[0] == "anomaly":
                counts["anomalies"] += 1
                anomalies.append(f"client seed {info['seed']}: {parts[1]}")

    def reap(pid: int, info: Dict[str, Any]) -> None:
        p = info["proc"]
        absorb(info, final=True)
        err = p.stderr.read()
        p.stdout.close()
        p.stderr.close()
        if p.returncode == -signal.SIGKILL:
            counts["clients_killed"] += 1
        else:
            counts["clients_exited"] += 1
            if p.returncode not in (0, 2):  # 2: an anomaly, already reported
                counts["anomalies"] += 1
                anomalies.append(f"client seed {info['seed']} exited {p.returncode}: {err.decode(errors='replace')[-800:]}")
        del running[pid]

    def run_phase(seconds: float, label: str) -> None:
        start = time.monotonic()
        end = start + seconds
        next_health = start + 1
        next_report = start + 10
        while time.monotonic() < end:
            if not daemon.alive():
                failures.append(f"daemon died with status {daemon.proc.returncode}")
                return
            while len(running) < args.clients:
                spawn()
            now = time.monotonic()
            for pid, info in list(running.items()):
                p = info["proc"]
                absorb(info)
                if p.poll() is None and now >= info["deadline"]:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                if p.poll() is not None:
                    reap(pid, info)
            if now >= next_health:
                next_health = now + 2
                counts["health_pings"] += 1
                try:
                    state["max_ping"] = max(state["max_ping"], daemon.ping_fresh(timeout=2.0))
                except (OSError, EOFError, AssertionError) as e:
                    counts["health_failures"] += 1
                    failures.append(f"{label}: health ping failed at {now - start:.0f} s: {e!r}")
                state["rss_peak"] = max(state["rss_peak"], daemon.rss_kib())
                state["fd_peak"] = max(state["fd_peak"], daemon.fd_count())
            if now >= next_report:
                next_report = now + 10
                print(f"soak: {label} {now - start:5.0f} s: {counts['clients_started']} clients, {counts['clients_killed']} killed, "
                      f"{counts['registrations']} registrations, daemon {daemon.fd_count()} fds, RSS {daemon.rss_kib()} KiB", flush=True)
            time.sleep(0.02)

    def quiesce(label: str) -> Tuple[int, int]:
        """Every client gone, every session of the pool ended; returns the
        daemon's fd count and RSS then."""
        for pid, info in list(running.items()):
            p = info["proc"]
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
            reap(pid, info)
        if not daemon.alive():
            failures.append(f"daemon died with status {daemon.proc.returncode}")
            return -1, -1
        janitor = daemon.raw(timeout=10)
        for name in PERSISTENT_POOL + PLAIN_POOL:
            r = janitor.request({"op": "hello", "id": name, "session": name, "takeover": True})
            if not r.get("ok") and r["error"]["code"] == "limit_exceeded":
                continue  # no such session (attaching to one never counts against the cap)
            if not r.get("ok"):
                failures.append(f"{label}: janitor hello {name}: {r}")
                continue
            r = janitor.request({"op": "end", "id": "end"})
            if not r.get("ok"):
                failures.append(f"{label}: janitor end {name}: {r}")
        settle = time.monotonic() + 10
        while True:
            stats = janitor.request({"op": "stats", "id": "stats"})["stats"]
            if (stats["connections"], stats["registrations"], stats["fds_held"]) == (1, 0, 0) and stats["sessions"] <= 1:
                break
            if time.monotonic() > settle:
                failures.append(f"{label}: daemon still has {stats} after every client left and every session ended")
                break
            time.sleep(0.05)
        janitor.close()
        settle = time.monotonic() + 5
        while daemon.fd_count() != fd_start and time.monotonic() < settle:
            time.sleep(0.05)
        time.sleep(0.2)
        fds = daemon.fd_count()
        if fds != fd_start:
            targets = sorted(os.readlink(f"/proc/{daemon.pid}/fd/{n}") for n in os.listdir(f"/proc/{daemon.pid}/fd"))
            failures.append(f"{label}: daemon has {fds} fds, baseline {fd_start}: {targets[:30]}")
        return fds, daemon.rss_kib()

    fd_start = rss_start = rss_checkpoint = fd_final = rss_final = -1
    cpu_total = -1.0
    checkpoint = min(args.checkpoint_seconds, args.minutes * 60 / 4)
    daemon_exit: Optional[int] = None
    try:
        try:
            daemon.start()
        except AssertionError as e:
            raise SystemExit(str(e))
        fd_start = daemon.fd_baseline
        rss_start = daemon.rss_baseline_kib
        cpu_start = daemon.cpu_s()
        print(f"soak: {binary} pid {daemon.pid}, {args.minutes} min, {args.clients} clients, seed {args.seed}; "
              f"baseline {fd_start} fds, RSS {rss_start} KiB at start", flush=True)
        # a first checkpoint: after a short round, everything is cleaned up
        # and the fd count must be back at the baseline already
        if checkpoint > 0:
            run_phase(checkpoint, "part 1")
            _, rss_checkpoint = quiesce("checkpoint")
            print(f"soak: checkpoint after {checkpoint:.0f} s: {daemon.fd_count()} fds, RSS {rss_checkpoint} KiB", flush=True)
        if not failures:
            run_phase(args.minutes * 60 - checkpoint, "part 2")
            fd_final, rss_final = quiesce("end")
            if daemon.alive():
                cpu_total = daemon.cpu_s() - cpu_start
                if rss_final > rss_start + args.rss_slack_mib * 1024:
                    failures.append(f"daemon RSS {rss_final} KiB > baseline {rss_start} KiB + {args.rss_slack_mib} MiB")
        if anomalies:
            failures.append(f"{len(anomalies)} client anomalies, e.g. {anomalies[:3]}")
    finally:
        for info in running.values():
            if info["proc"].poll() is None:
                info["proc"].kill()
                info["proc"].wait()
        daemon_exit = daemon.stop(timeout=10) if daemon.proc is not None else None
    if daemon_exit != 0:
        failures.append(f"daemon exit status {daemon_exit} after SIGTERM")

    print(f"soak: fds: baseline {fd_start}, peak {state['fd_peak']}, final {fd_final}; "
          f"RSS: baseline {rss_start} KiB, checkpoint {rss_checkpoint} KiB, peak {state['rss_peak']} KiB, "
          f"final {rss_final} KiB (allowed: baseline + {args.rss_slack_mib} MiB); daemon CPU {cpu_total:.1f} s", flush=True)
    for f in failures:
        print(f"soak: FAIL: {f}", flush=True)
    if failures:
        print(f"soak: daemon log (its end, full log in {daemon.stderr_path}):\n{daemon.stderr_tail(4000)}", flush=True)
    summary = dict(
        ok=not failures, minutes=args.minutes, binary=binary, clients=args.clients, seed=args.seed,
        **counts, max_health_ping_ms=round(state["max_ping"] * 1000, 1),
        fd_baseline=fd_start, fd_peak=state["fd_peak"], fd_final=fd_final,
        rss_baseline_kib=rss_start, rss_checkpoint_kib=rss_checkpoint, rss_peak_kib=state["rss_peak"], rss_final_kib=rss_final,
        rss_growth_kib=(rss_final - rss_start) if rss_final >= 0 else None,
        daemon_cpu_s=round(cpu_total, 2), daemon_exit=daemon_exit, failures=len(failures),
    )
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return 0 if not failures else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--binary", default=None, help="daemon binary (default: $MIO_DAEMON_BIN, release, debug)")
    ap.add_argument("--rss-slack-mib", type=float, default=6.0, help="allowed RSS growth over the baseline")
    ap.add_argument("--no-malloc-pin", action="store_true",
                    help="do not pin glibc's mmap threshold in the daemon (then allow ~12 MiB of allocator retention with --rss-slack-mib)")
    ap.add_argument("--checkpoint-seconds", type=float, default=15.0,
                    help="after this long (at most a quarter of the run) clean up once and check the fd count mid-run")
    ap.add_argument("--daemon-arg", action="append", help="extra daemon flag (repeatable)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--socket", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.socket, args.seed or 0, args.steps)
    if args.seed is None:
        args.seed = random.randrange(1 << 32)
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
