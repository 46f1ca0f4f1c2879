#!/usr/bin/env bash
# `make run`: the release daemon in the foreground, on the default socket
# path of protocol §1 (or $MIO_SOCKET / the socket given in MIO_ARGS).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/mio-daemon
if [ -n "${MIO_SOCKET:-}" ]; then
  path=$MIO_SOCKET
elif [ "$(id -u)" -eq 0 ]; then
  path=/run/mio-daemon/mio.sock
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then
  path=$XDG_RUNTIME_DIR/mio-daemon/mio.sock
else
  path=/tmp/mio-daemon-$(id -u)/mio.sock
fi
echo "mio-daemon: serving $path (Ctrl-C stops it)"
echo "try:  socat - UNIX-CONNECT:$path      then type  {\"op\":\"ping\"}"
echo
exec "$bin" --socket "$path" ${MIO_ARGS:-}
