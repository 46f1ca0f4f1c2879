#!/usr/bin/env python3
"""`make bench`: each workload for our code and for its C baseline, in the
same run, both pinned the same way, several repetitions; prints a table and
writes the figures to bench-results/bench.json.

Pinning: `taskset -c 0` for both sides by default. BENCH_SPLIT=1 pins the
two threads/processes of a workload to CPUs 0 and 1 instead (where the
workload has two sides); BENCH_REPS sets the repetitions (default 5).
"""
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "Benchmarks" / "bin"
RELEASE = ROOT / ".build" / "release"
REPS = int(os.environ.get("BENCH_REPS", "5"))
CPUS = "0,1" if os.environ.get("BENCH_SPLIT") == "1" else "0"


def pinned(argv):
    return ["taskset", "-c", CPUS] + [str(a) for a in argv]


def run_json(argv):
    out = subprocess.run(pinned(argv), check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def fanout():
    """4096 pipes, one byte each per round, drained by the poll loop."""
    pipes, rounds = 4096, 100
    ours, base = [], []
    for _ in range(REPS):  # interleaved, so drift on a shared machine hits both
        ours.append(run_json([RELEASE / "mio-bench", "fanout", pipes, rounds])["events_per_second"])
        base.append(run_json([BIN / "fanout_epoll", pipes, rounds])["events_per_second"])
    o, b = summary(ours), summary(base)
    return {
        "workload": "fanout (MioCore vs C epoll)",
        "unit": "events/s",
        "ours": o,
        "baseline": b,
        "ratio": o["median"] / b["median"],
        "target": ">= 0.95x",
        "met": o["median"] / b["median"] >= 0.95,
    }


WORKLOADS = [fanout]


def main():
    selected = sys.argv[1:]
    results = [w() for w in WORKLOADS if not selected or w.__name__ in selected]
    print(f"\n{'workload':<34} {'unit':<10} {'ours (median, min-max)':<34} {'C baseline (median, min-max)':<34} {'ratio':>6}  target")
    for r in results:
        o, b = r["ours"], r["baseline"]
        fmt = lambda s: f"{s['median']:,.0f} ({s['min']:,.0f}-{s['max']:,.0f})"
        print(f"{r['workload']:<34} {r['unit']:<10} {fmt(o):<34} {fmt(b):<34} {r['ratio']:>5.2f}x  {r['target']} {'met' if r['met'] else 'NOT met'}")
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"cpus": CPUS, "reps": REPS, "results": results}, indent=2))
    print(f"\nfigures: {out / 'bench.json'} (pinned to CPU {CPUS}, {REPS} runs each)")


if __name__ == "__main__":
    main()
