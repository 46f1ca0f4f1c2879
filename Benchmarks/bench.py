#!/usr/bin/env python3
"""`make bench`: each workload for our code and for its C baseline, in the
same run, pinned the same way, several repetitions; prints a table and
writes the figures to bench-results/bench.json.

    python3 Benchmarks/bench.py [WORKLOAD ...]     (default: all)

Workloads:
  core_fanout   MioCore (mio-bench) against a C epoll loop (fanout_epoll.c)
  relay_swift   the relay driven by the Swift client library against the C
                client, both on the daemon: the library's own cost
  relay_libmio  the relay through libmio-client (clients/c, the shared
                library) against the raw C client, both on the daemon
  relay_rust    the same through the Rust crate (clients/rust, its
                relay_bench example built release by cargo, offline)
  ring_fanout   fanout through the shared-memory ring (libmio-client,
                libmio_client_fanout.c) against fanout_baseline.c's loop in
                the same client, in alternating blocks of rounds (a pair,
                as relay-pair), and against fanout_baseline run alone; the
                same through libmio-client over event lines; each placed
                both ways in the same run: pinned (everything on CPU 0) and
                split (daemon, client and C loop unpinned); and through a
                ring of 256 records, smaller than the burst of 4096
  ring_relay    the relay through the ring (libmio_client_relay ring)
                against the JSON relay on the same daemon (the raw C
                client, and libmio-client over event lines) and the C
                epoll relay (relay_baseline.c); pinned and split as above
  ring_relay_swift  the relay through the ring driven by the Swift client
                (mio-bench relay ... ring) against the Swift client over
                event lines on the same daemon and the C epoll relay
                (relay_baseline.c); pinned and split as above
  relay         one pipe through the daemon: write 1 byte, wait for the event
                line, drain; against relay_baseline.c (the pipe passed by
                SCM_RIGHTS, EPOLLIN|EPOLLET, a 64-byte record per edge);
                both up at once, one client alternating blocks of 200 rounds
  fanout        4096 pipes through the daemon; against fanout_baseline.c (the
                same pipes in the process's own epoll)
  registration  register then deregister 9000 pipes, one sendmsg with its fd
                per request; against registration_baseline.c making the
                syscalls the daemon must (epoll_wait, recvmsg, fstat,
                epoll_ctl ADD/DEL, one answer each), and for reference the
                same without epoll_wait and fstat (the bare floor); both up
                at once, one client alternating blocks of 500 requests
  timer         1000 expiries of a 10 ms timer: the daemon's `timer` against
                a timerfd in the client's own epoll loop; lateness from the
                schedule the client started, and jitter from the run's best
                wake-up (daemon_client.c, cmd_timer)
  memory        daemon RSS with 10000 idle registrations minus RSS with none
  slowreader    500 tokens made ready 50 times while the client does not read
  idle          voluntary context switches of the daemon (all threads) over
                10 s with 1000 idle registrations, no watchdog
  start         fork/exec to READY=1 on a NOTIFY_SOCKET of our own

The daemon is driven by a C client (Benchmarks/c/daemon_client.c), which
is also the client of the relay and registration baselines: both sides run
the same client code, only the server differs. Every repetition starts a
fresh daemon / baseline server; ours and the baseline alternate which goes
first. The relay and registration run both servers in each repetition and
one client alternates blocks of work between them (relay-pair,
registration-pair): a pair of runs measured together.

Environment:
  MIO_DAEMON_BIN=PATH   the daemon to measure (default .build/release/mio-daemon)
  BENCH_REPS=N          repetitions (default 5)
  BENCH_SPLIT=1         daemon (and each baseline's server) on CPU 1, the
                        client on CPU 0; default: everything on CPU 0
                        (`taskset -c 0`). core_fanout's two threads: CPUs 0,1.
  BENCH_IDLE_SECONDS=S  the idle window (default 10)

Ratios compare medians (ours / baseline); a paired row's ratio is the
median of its pairs' own ratios. Absolute limits (memory, slow reader,
idle, start) must hold in every run, so they are judged on the worst run.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
C_DIR = ROOT / "Benchmarks" / "c"
BIN = ROOT / "Benchmarks" / "bin"
RELEASE = ROOT / ".build" / "release"
# MIO_DAEMON_BIN: another daemon binary (to compare builds in one way).
DAEMON = Path(os.environ.get("MIO_DAEMON_BIN") or RELEASE / "mio-daemon")
C_CLIENT = ROOT / "clients" / "c"
REPS = int(os.environ.get("BENCH_REPS", "5"))
SPLIT = os.environ.get("BENCH_SPLIT") == "1"
SERVER_CPU = "1" if SPLIT else "0"
CLIENT_CPU = "0"
CPUS = "0,1" if SPLIT else "0"  # core_fanout: both threads of one process
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "10"))

C_PROGRAMS = ["fanout_epoll", "daemon_client", "relay_baseline", "registration_baseline", "fanout_baseline"]

# Variables that would change how the daemon starts (socket activation,
# sd_notify, watchdog): none of them reaches a daemon started here.
SERVICE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "MIO_SOCKET")


class Skip(Exception):
    pass


def build_c():
    """Benchmarks/bin/NAME from Benchmarks/c/NAME.c, as the Makefile's rule
    does, when missing or older than its source or the shared header."""
    BIN.mkdir(parents=True, exist_ok=True)
    header = C_DIR / "bench_common.h"
    for name in C_PROGRAMS:
        src, out = C_DIR / f"{name}.c", BIN / name
        deps = [src] + ([header] if header.exists() else [])
        if out.exists() and all(out.stat().st_mtime >= d.stat().st_mtime for d in deps):
            continue
        cmd = ["gcc", "-O2", "-Wall", "-o", str(out), str(src), "-lpthread"]
        print(" ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    build_libmio_client_programs()


LIBMIO_PROGRAMS = ["libmio_client_relay", "libmio_client_fanout"]


def build_libmio_client_programs():
    """Benchmarks/bin/libmio_client_*, linked to libmio-client's shared
    library (built by clients/c's Makefile first), as the Makefile's rule."""
    subprocess.run(["make", "-s", "-C", str(C_CLIENT), "all"], check=True)
    for name in LIBMIO_PROGRAMS:
        src, out = C_DIR / f"{name}.c", BIN / name
        deps = [src, C_DIR / "bench_common.h", C_CLIENT / "include" / "mio-client.h",
                C_CLIENT / "build" / "libmio-client.so.0"]
        if out.exists() and all(out.stat().st_mtime >= d.stat().st_mtime for d in deps):
            continue
        cmd = ["gcc", "-O2", "-Wall", f"-I{C_CLIENT / 'include'}", "-o", str(out), str(src),
               f"-L{C_CLIENT / 'build'}", "-lmio-client", f"-Wl,-rpath,{C_CLIENT / 'build'}"]
        print(" ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)


def pinned(argv, cpus=CPUS):
    """argv under `taskset -c cpus`; cpus None: unpinned, as it is."""
    if cpus is None:
        return [str(a) for a in argv]
    return ["taskset", "-c", cpus] + [str(a) for a in argv]


def last_json(stdout):
    lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"no JSON line in output: {stdout!r}")
    return json.loads(lines[-1])


def run_json(argv, cpus=CPUS, timeout=120, ok_codes=(0,)):
    proc = subprocess.run(pinned(argv, cpus), capture_output=True, text=True, timeout=timeout)
    if proc.returncode not in ok_codes:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}: {proc.stderr.strip()}")
    return last_json(proc.stdout)


def client(*args, timeout=120, ok_codes=(0,)):
    """daemon_client, pinned to the client CPU."""
    return run_json([BIN / "daemon_client", *args], cpus=CLIENT_CPU, timeout=timeout, ok_codes=ok_codes)


class Server:
    """A server process (the daemon or a C baseline) pinned to `cpus`
    (default SERVER_CPU; None: unpinned) in a fresh directory, up once its
    socket accepts; SIGTERM at the end."""

    def __init__(self, argv_for_socket, name, cpus=SERVER_CPU):
        self.argv_for_socket = argv_for_socket
        self.name = name
        self.cpus = cpus

    def __enter__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="mio-bench-", dir="/tmp"))
        self.socket = self.dir / "mio.sock"
        self.log = open(self.dir / "stderr.log", "w+")
        env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV}
        self.proc = subprocess.Popen(pinned(self.argv_for_socket(self.socket), self.cpus), env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        self.pid = self.proc.pid  # taskset execs: the same pid
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode} at start: {self.stderr()}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.connect(str(self.socket))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} does not listen on {self.socket}")
                time.sleep(0.002)
        return self

    def stderr(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().strip()

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                print(f"warning: {self.name} ignored SIGTERM for 5 s; killed", file=sys.stderr)
        errors = self.stderr()
        if errors:
            print(f"[{self.name} stderr] {errors[:2000]}", file=sys.stderr)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def daemon(cpus=SERVER_CPU):
    if not DAEMON.exists():
        raise Skip(f"{DAEMON} is not built (make release)")
    return Server(lambda sock: [DAEMON, "--socket", sock, "--log-level", "warning"], "mio-daemon", cpus)


def baseline_server(name, cpus=SERVER_CPU, args=()):
    return Server(lambda sock: [BIN / name, sock, *args], name, cpus)


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def interleaved(ours, base):
    """REPS runs of each side, alternating which goes first, so drift on a
    shared machine hits both."""
    o, b = [], []
    for rep in range(REPS):
        if rep % 2 == 0:
            o.append(ours())
            b.append(base())
        else:
            b.append(base())
            o.append(ours())
    return o, b


def compared(workload, unit, ours, base, target, limit, higher_is_better, details=None, paired=False):
    """A row with a baseline: the ratio of the medians against `limit`;
    `paired` (the i-th runs of both sides measured together, as
    relay-pair does): the median of the runs' own ratios. The medians of
    the sides can come from pairs run in different modes of the machine,
    and their ratio then compares a fast run with a slow one."""
    o, b = summary(ours), summary(base)
    if paired:
        ratio = statistics.median(x / y if y else float("nan") for x, y in zip(ours, base))
    else:
        ratio = o["median"] / b["median"] if b["median"] else float("nan")
    met = None if limit is None else (ratio >= limit if higher_is_better else ratio <= limit)
    return {"workload": workload, "unit": unit, "ours": o, "baseline": b, "ratio": ratio,
            "ratio_is": "median of the pairs' ratios" if paired else "ratio of the medians", "target": target,
            "met": met, "details": details}


def absolute(workload, unit, values, target, check, details=None):
    """A row without a baseline: `check` must hold for every run."""
    s = summary(values)
    return {"workload": workload, "unit": unit, "ours": s, "baseline": None, "ratio": None, "target": target,
            "met": all(check(v) for v in values), "details": details}


# ----------------------------------------------------------------- workloads

def core_fanout():
    """MioCore: 4096 pipes, one byte each per round, drained by the poll loop."""
    bench = RELEASE / "mio-bench"
    if not bench.exists():
        raise Skip(f"{bench.relative_to(ROOT)} is not built (make release)")
    pipes, rounds = 4096, 100
    ours, base = interleaved(lambda: run_json([bench, "fanout", pipes, rounds])["events_per_second"],
                             lambda: run_json([BIN / "fanout_epoll", pipes, rounds])["events_per_second"])
    return [compared("core_fanout (MioCore vs C epoll)", "events/s", ours, base, ">= 0.95x", 0.95, True)]


def relay():
    """One pipe: write 1 byte, wait for its event line, drain; per round
    trip. Both servers are up at once and one client takes the rounds in
    alternating blocks (daemon_client relay-pair), so the drift of this
    shared machine, which moves a whole run by more than the gap measured,
    falls on both sides alike."""
    rounds = 20000

    def run():
        with daemon() as d, baseline_server("relay_baseline") as s:
            pair = client("relay-pair", d.socket, s.socket, rounds)
        return pair["a"], pair["b"]

    runs = [run() for _ in range(REPS)]
    o, b = [a for a, _ in runs], [b for _, b in runs]
    pick = lambda runs, key: [r[key] for r in runs]
    details = {"rounds": rounds, "block": 200, "ours": o, "baseline": b}
    return [
        compared("relay p50", "us", pick(o, "p50_us"), pick(b, "p50_us"), "<= 1.1x", 1.1, False, details, paired=True),
        compared("relay p99", "us", pick(o, "p99_us"), pick(b, "p99_us"), "<= 1.25x", 1.25, False, paired=True),
        compared("relay mean", "us", pick(o, "mean_us"), pick(b, "mean_us"), "-", None, False, paired=True),
    ]


def relay_swift():
    """The relay driven by the Swift client library (mio-bench relay) against
    the C client, both on the same daemon: the library's own cost."""
    bench = RELEASE / "mio-bench"
    if not bench.exists():
        raise Skip(f"{bench.relative_to(ROOT)} is not built (make release)")
    rounds = 20000

    def swift():
        with daemon() as d:
            return run_json([bench, "relay", d.socket, rounds], cpus=CLIENT_CPU)

    def c():
        with daemon() as d:
            return client("relay", d.socket, rounds)

    o, b = interleaved(swift, c)
    pick = lambda runs, key: [r[key] for r in runs]
    return [
        compared("relay p50, Swift client vs C client", "us", pick(o, "p50_us"), pick(b, "p50_us"), "-", None, False),
        compared("relay p99, Swift client vs C client", "us", pick(o, "p99_us"), pick(b, "p99_us"), "-", None, False),
    ]


def _relay_through(label, command, target):
    """The relay driven by a client library (`command(socket, rounds)`)
    against the raw C client, each on a fresh daemon, same placement: the
    library's own cost."""
    rounds = 20000

    def library():
        with daemon() as d:
            return run_json(command(d.socket, rounds), cpus=CLIENT_CPU)

    def c():
        with daemon() as d:
            return client("relay", d.socket, rounds)

    o, b = interleaved(library, c)
    pick = lambda runs, key: [r[key] for r in runs]
    return [
        compared(f"relay p50, {label} vs C client", "us", pick(o, "p50_us"), pick(b, "p50_us"), f"<= {target:.2f}x", target,
                 False, {"rounds": rounds, "ours": o, "baseline": b}),
        compared(f"relay p99, {label} vs C client", "us", pick(o, "p99_us"), pick(b, "p99_us"), "-", None, False),
    ]


def relay_libmio():
    """The relay through libmio-client (libmio_client_relay.c, the shared library)."""
    return _relay_through("libmio-client", lambda sock, rounds: [BIN / "libmio_client_relay", sock, rounds], 1.05)


def relay_rust():
    """The relay through the Rust crate mio-daemon-client (its relay_bench
    example: the C client's loop through Poll/Events)."""
    crate = ROOT / "clients" / "rust"
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not os.access(cargo, os.X_OK):
        raise Skip("cargo is not installed (scripts/install-deps.sh installs it)")
    subprocess.run([cargo, "build", "--quiet", "--offline", "--release", "--example", "relay_bench"], cwd=crate, check=True)
    bench = crate / "target" / "release" / "examples" / "relay_bench"
    return _relay_through("Rust crate", lambda sock, rounds: [bench, sock, rounds], 1.10)


def fanout():
    """4096 pipes: 1 byte to each per round, until every token was seen."""
    pipes, rounds = 4096, 100

    def ours():
        with daemon() as d:
            return client("fanout", d.socket, pipes, rounds)

    def base():
        return run_json([BIN / "fanout_baseline", pipes, rounds], cpus=CLIENT_CPU)

    o, b = interleaved(ours, base)
    return [compared("fanout (4096 pipes)", "events/s", [r["events_per_second"] for r in o],
                     [r["events_per_second"] for r in b], ">= 0.75x", 0.75, True,
                     {"pipes": pipes, "rounds": rounds, "ours": o, "baseline": b})]


# The ring workloads run each placement in the same run: pinned (taskset -c
# 0 for the daemon, the client and the C loop) and split (none of them
# pinned: each may use both CPUs, so the daemon and its client pipeline).
PLACEMENTS = [("pinned", "0"), ("split", None)]


def ring_fanout():
    """4096 pipes, 1 byte each per round, until every token was seen (and
    its pipe drained): through the ring and over event lines, both via
    libmio-client, against the C epoll loop placed the same way. Each run
    is a pair (libmio_client_fanout ... pair): the client alternates
    blocks of rounds through the daemon with blocks of fanout_baseline.c's
    loop on pipes of its own, so both sides are measured in the same mode
    of the machine, as the relay and registration are. The C loop run
    alone (fanout_baseline) is a row of its own, for reference."""
    pipes, rounds = 4096, 100
    targets = {"pinned": 0.85, "split": 1.0}
    rows = []
    for placement, cpus in PLACEMENTS:
        def through(delivery, cpus=cpus, entries=0):
            def run():
                with daemon(cpus) as d:
                    result = run_json([BIN / "libmio_client_fanout", d.socket, pipes, rounds, delivery, entries, "pair"],
                                      cpus=cpus)
                if result["events"] != pipes * rounds or result["baseline"]["events"] != pipes * rounds:
                    raise RuntimeError(f"fanout through the {delivery}: {result['events']} of {pipes * rounds} tokens seen")
                return result
            return run

        def alone(cpus=cpus):
            return run_json([BIN / "fanout_baseline", pipes, rounds], cpus=cpus)

        ring_runs, alone_runs = interleaved(through("ring"), alone)
        stream_runs = [through("stream")() for _ in range(REPS)]
        small_runs = [through("ring", entries=256)() for _ in range(REPS)]
        rate = lambda runs: [r["events_per_second"] for r in runs]
        base_rate = lambda runs: [r["baseline"]["events_per_second"] for r in runs]
        target = targets[placement]
        rows.append(compared(f"ring fanout, {placement}", "events/s", rate(ring_runs), base_rate(ring_runs),
                             f">= {target:.2f}x", target, True,
                             {"pipes": pipes, "rounds": rounds, "ours": ring_runs}, paired=True))
        rows.append(compared(f"ring fanout vs the C loop run alone, {placement}", "events/s", rate(ring_runs),
                             rate(alone_runs), "-", None, True, {"baseline": alone_runs}))
        rows.append(compared(f"libmio JSON fanout, {placement}", "events/s", rate(stream_runs), base_rate(stream_runs),
                             "-", None, True, {"ours": stream_runs}, paired=True))
        # A ring of 256 records, a burst of 4096 readiness: the rest waits in
        # the session's pending set and comes as the ring has room.
        rows.append(compared(f"ring fanout, 256-record ring, {placement}", "events/s", rate(small_runs),
                             base_rate(small_runs), "-", None, True, {"ring_entries": 256, "ours": small_runs},
                             paired=True))
    return rows


def in_turn(rep, first, second):
    """Runs both, the one first that goes first in even repetitions."""
    for step in ((first, second) if rep % 2 == 0 else (second, first)):
        step()


def c_epoll_relay(cpus, rounds):
    """One run of the C epoll relay (relay_baseline.c and the C client)."""
    with baseline_server("relay_baseline", cpus) as s:
        return run_json([BIN / "daemon_client", "relay", s.socket, rounds], cpus=cpus)


def ring_relay():
    """One pipe, write 1 byte, wait for its event, drain: through the ring
    (libmio-client) against the JSON relay on the same daemon (the raw C
    client; libmio-client over event lines) and the C epoll relay."""
    rounds = 20000
    rows = []
    for placement, cpus in PLACEMENTS:
        runs = {"ring": [], "json_c": [], "json_libmio": []}
        base_runs = []
        for rep in range(REPS):
            # One daemon for the three clients of a repetition, their order
            # turned each time; the C relay server alternates with it.
            def on_daemon():
                with daemon(cpus) as d:
                    order = ["ring", "json_c", "json_libmio"]
                    for kind in order[rep % 3:] + order[:rep % 3]:
                        if kind == "ring":
                            argv = [BIN / "libmio_client_relay", d.socket, rounds, "ring"]
                        elif kind == "json_libmio":
                            argv = [BIN / "libmio_client_relay", d.socket, rounds, "stream"]
                        else:
                            argv = [BIN / "daemon_client", "relay", d.socket, rounds]
                        runs[kind].append(run_json(argv, cpus=cpus))

            in_turn(rep, on_daemon, lambda: base_runs.append(c_epoll_relay(cpus, rounds)))
        pick = lambda rs, key: [r[key] for r in rs]
        rows += [
            compared(f"ring relay p50 vs JSON (C client), {placement}", "us", pick(runs["ring"], "p50_us"),
                     pick(runs["json_c"], "p50_us"), "<= 1.00x", 1.0, False, {"rounds": rounds, **runs}),
            compared(f"ring relay p50 vs JSON (libmio), {placement}", "us", pick(runs["ring"], "p50_us"),
                     pick(runs["json_libmio"], "p50_us"), "-", None, False),
            compared(f"ring relay p99 vs JSON (C client), {placement}", "us", pick(runs["ring"], "p99_us"),
                     pick(runs["json_c"], "p99_us"), "-", None, False),
            compared(f"ring relay p50 vs C epoll relay, {placement}", "us", pick(runs["ring"], "p50_us"),
                     pick(base_runs, "p50_us"), "-", None, False, {"baseline": base_runs}),
        ]
    return rows


def ring_relay_swift():
    """The relay through the ring, driven by the Swift client library
    (mio-bench relay SOCKET ROUNDS ring), against the same library over
    event lines on the same daemon, and the C epoll relay."""
    bench = RELEASE / "mio-bench"
    if not bench.exists():
        raise Skip(f"{bench.relative_to(ROOT)} is not built (make release)")
    rounds = 20000
    rows = []
    for placement, cpus in PLACEMENTS:
        runs = {"ring": [], "stream": []}
        base_runs = []
        for rep in range(REPS):
            # One daemon for both Swift clients of a repetition, their order
            # turned each time; the C relay server alternates with it.
            def on_daemon():
                with daemon(cpus) as d:
                    for delivery in (("ring", "stream") if rep % 2 == 0 else ("stream", "ring")):
                        runs[delivery].append(run_json([bench, "relay", d.socket, rounds, delivery], cpus=cpus))

            in_turn(rep, on_daemon, lambda: base_runs.append(c_epoll_relay(cpus, rounds)))
        pick = lambda rs, key: [r[key] for r in rs]
        rows += [
            compared(f"Swift ring relay p50 vs Swift JSON, {placement}", "us", pick(runs["ring"], "p50_us"),
                     pick(runs["stream"], "p50_us"), "-", None, False, {"rounds": rounds, **runs}),
            compared(f"Swift ring relay p99 vs Swift JSON, {placement}", "us", pick(runs["ring"], "p99_us"),
                     pick(runs["stream"], "p99_us"), "-", None, False),
            compared(f"Swift ring relay p50 vs C epoll relay, {placement}", "us", pick(runs["ring"], "p50_us"),
                     pick(base_runs, "p50_us"), "-", None, False, {"baseline": base_runs}),
        ]
    return rows


def registration():
    """Register then deregister 9000 pipes, one request and reply at a
    time; against the C loop of the same syscalls (an epoll_wait before
    each recvmsg, an fstat of each fd: what the daemon must do) and, for
    reference, the kernel's bare floor (blocking recvmsg, no fstat). Both
    servers are up at once and one client makes the requests in
    alternating blocks of 500 (daemon_client registration-pair), as the
    relay; it holds both sides' write ends, hence 9000 and not 10000."""
    count = 9000

    def run(*mode):
        with daemon() as d, baseline_server("registration_baseline", args=mode) as s:
            pair = client("registration-pair", d.socket, s.socket, count)
        return pair["a"], pair["b"]

    same = [run("same-syscalls") for _ in range(REPS)]
    floor = [run() for _ in range(REPS)]
    ops = lambda runs, side: [r[side]["ops_per_second"] for r in runs]
    ours_of = lambda runs: [a for a, _ in runs]
    base_of = lambda runs: [b for _, b in runs]
    return [compared("registration (9000 pipes)", "ops/s", ops(same, 0), ops(same, 1), ">= 0.9x", 0.9, True,
                     {"registrations": count, "block": 500, "ours": ours_of(same), "baseline": base_of(same),
                      "baseline_is": "same syscalls"}, paired=True),
            compared("registration vs the bare floor", "ops/s", ops(floor, 0), ops(floor, 1), "-", None, True,
                     {"ours": ours_of(floor), "baseline": base_of(floor), "baseline_is": "blocking recvmsg, no fstat"},
                     paired=True)]


def timer():
    """1000 expiries of a 10 ms periodic timer: the daemon's `timer`
    against a timerfd in the client's own epoll loop; lateness of each
    wake-up after its expiry."""
    expiries, interval_ms = 1000, 10

    def ours():
        with daemon() as d:
            return client("timer", d.socket, expiries, interval_ms, timeout=expiries * interval_ms / 1000 + 60)

    def base():
        return client("timer", "-", expiries, interval_ms, timeout=expiries * interval_ms / 1000 + 60)

    o, b = interleaved(ours, base)
    pick = lambda runs, key: [r[key] for r in runs]
    details = {"expiries": expiries, "interval_ms": interval_ms, "ours": o, "baseline": b}
    return [
        compared("timer lateness p50 (vs client timerfd)", "us", pick(o, "p50_us"), pick(b, "p50_us"), "-", None, False, details),
        compared("timer lateness p99 (vs client timerfd)", "us", pick(o, "p99_us"), pick(b, "p99_us"), "-", None, False),
        compared("timer jitter p50 (vs client timerfd)", "us", pick(o, "jitter_p50_us"), pick(b, "jitter_p50_us"), "-", None, False),
        compared("timer jitter p99 (vs client timerfd)", "us", pick(o, "jitter_p99_us"), pick(b, "jitter_p99_us"), "-", None, False),
    ]


def memory():
    """Daemon RSS with 10000 idle registrations minus RSS with none."""
    count = 10000
    runs = []
    for _ in range(REPS):
        with daemon() as d:
            runs.append(client("memory", d.socket, d.pid, count))
    return [absolute("memory (10000 idle regs)", "B/reg", [r["bytes_per_registration"] for r in runs],
                     "<= 256", lambda v: v <= 256, runs)]


def slowreader():
    """500 tokens made ready 50 times while the client does not read."""
    tokens, rounds = 500, 50
    runs = []
    for _ in range(REPS):
        with daemon() as d:
            runs.append(client("slowreader", d.socket, d.pid, tokens, rounds, ok_codes=(0, 3)))
    return [
        absolute("slow reader RSS growth", "KiB", [r["rss_growth_kb"] for r in runs], "< 1024", lambda v: v < 1024, runs),
        absolute("slow reader tokens delivered", "tokens", [r["tokens_delivered"] for r in runs], f"= {tokens}",
                 lambda v: v == tokens),
    ]


def idle():
    """Voluntary context switches over the idle window, 1000 registrations."""
    count = 1000
    runs = []
    for _ in range(REPS):
        with daemon() as d:
            runs.append(client("idle", d.socket, d.pid, count, IDLE_SECONDS, timeout=IDLE_SECONDS + 60))
    return [absolute(f"idle ({count} regs, {IDLE_SECONDS:g} s)", "switches", [r["voluntary_ctxt_switches"] for r in runs],
                     "= 0", lambda v: v == 0, runs)]


def start():
    """fork+exec of the daemon to READY=1 on our NOTIFY_SOCKET."""
    if not DAEMON.exists():
        raise Skip(f"{DAEMON} is not built (make release)")
    runs = []
    for _ in range(REPS):
        work = Path(tempfile.mkdtemp(prefix="mio-bench-", dir="/tmp"))
        try:
            runs.append(client("start", DAEMON, work, SERVER_CPU, timeout=30))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return [absolute("start (to READY=1)", "ms", [r["ms"] for r in runs], "< 50", lambda v: v < 50, runs)]


WORKLOADS = [core_fanout, relay, relay_swift, relay_libmio, relay_rust, fanout, ring_fanout, ring_relay, ring_relay_swift,
             registration, timer, memory, slowreader, idle, start]


# ----------------------------------------------------------------- output

def number(v):
    if v is None:
        return "-"
    if isinstance(v, int) or abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def cell(s):
    return "-" if s is None else f"{number(s['median'])} ({number(s['min'])}-{number(s['max'])})"


def print_table(results, skipped, failed):
    head = f"{'workload':<46} {'unit':<9} {'ours: median (min-max)':<32} {'C baseline: median (min-max)':<32} {'ratio':>6}  {'target':<9} result"
    print("\n" + head)
    print("-" * len(head))
    for r in results:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        verdict = "-" if r["met"] is None else ("met" if r["met"] else "NOT met")
        print(f"{r['workload']:<46} {r['unit']:<9} {cell(r['ours']):<32} {cell(r['baseline']):<32} {ratio:>6}  {r['target']:<9} {verdict}")
    for name, why in skipped:
        print(f"{name:<46} skipped: {why}")
    for name, why in failed:
        print(f"{name:<46} FAILED: {why}")


def main():
    names = [w.__name__ for w in WORKLOADS]
    selected = sys.argv[1:]
    unknown = [s for s in selected if s not in names]
    if unknown:
        sys.exit(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(names)}")
    build_c()
    results, skipped, failed = [], [], []
    began = time.monotonic()
    for w in WORKLOADS:
        if selected and w.__name__ not in selected:
            continue
        t = time.monotonic()
        print(f"{w.__name__} ...", file=sys.stderr, flush=True)
        try:
            results += w()
        except Skip as why:
            skipped.append((w.__name__, str(why)))
        except Exception as error:  # one broken workload does not hide the others
            failed.append((w.__name__, str(error)))
        print(f"{w.__name__}: {time.monotonic() - t:.1f} s", file=sys.stderr, flush=True)
    print_table(results, skipped, failed)
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps({
        "split": SPLIT, "cpus": {"server": SERVER_CPU, "client": CLIENT_CPU, "core_fanout": CPUS}, "reps": REPS,
        "seconds": round(time.monotonic() - began, 1), "results": results,
        "skipped": [{"workload": n, "reason": r} for n, r in skipped],
        "failed": [{"workload": n, "error": e} for n, e in failed],
    }, indent=2))
    where = "daemon/servers on CPU 1, clients on CPU 0" if SPLIT else "everything on CPU 0"
    print(f"\nfigures: {out / 'bench.json'} ({where}; {REPS} runs each; ratios compare medians, paired "
          f"rows (relay, registration, ring fanout) take the median of their pairs' ratios; "
          f"absolute limits hold in every run; {time.monotonic() - began:.0f} s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
