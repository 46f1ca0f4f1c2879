#!/usr/bin/env bash
# Waits (up to 10 s) for a line on a FIFO with `mioctl wait`, then reads it.
# Usage: examples/wait-on-fifo.sh FIFO      (create it with mkfifo first)
set -euo pipefail
fifo=${1:?usage: $0 FIFO}
mioctl=${MIOCTL:-mioctl}
# Open read-write so that opening does not block waiting for a writer.
exec 3<>"$fifo"
if "$mioctl" wait --fd 3 --timeout 10; then
  IFS= read -r line <&3
  echo "got: $line"
else
  status=$?
  [ "$status" -eq 1 ] && echo "nothing within 10 s" >&2
  exit "$status"
fi
