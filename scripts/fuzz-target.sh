#!/usr/bin/env bash
# One libFuzzer target for a number of seconds: fails when the target finds
# a crash (the input is left as Fuzz/crash-*), and when it would run blind.
# usage: scripts/fuzz-target.sh BINARY CORPUS_NAME SECONDS
set -uo pipefail
bin=$1 name=$2 seconds=$3
log=$(mktemp)
trap 'rm -f "$log"' EXIT
mkdir -p "Fuzz/.build/corpus/$name"
# The Swift runtime's backtracer, run inside an ASan process, trips ASan
# itself and buries the real failure: the precondition's message is enough.
SWIFT_BACKTRACE=enable=no "$bin" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix=Fuzz/ "Fuzz/.build/corpus/$name" "Fuzz/corpus/$name" >"$log" 2>&1
status=$?
grep -E 'inline 8-bit counters|stat::number_of_executed_units|Precondition failed|Fatal error|ERROR|Test unit written|Done' "$log"
if [ $status -ne 0 ]; then
  echo "fuzz $name: failed (exit $status); the input that failed is in Fuzz/" >&2
  exit 1
fi
# A target built without coverage shows libFuzzer only its own ~94
# counters, and the fuzzer mutates blind: that is a broken build, not a pass
# (the Makefile's fuzz rule says how it happened once).
counters=$(sed -nE 's/.*Loaded 1 modules +\(([0-9]+) inline 8-bit counters\).*/\1/p' "$log" | head -1)
if [ -z "$counters" ] || [ "$counters" -lt 1000 ]; then
  echo "fuzz $name: failed: only ${counters:-no} coverage counters loaded: the target is not instrumented" >&2
  exit 1
fi
