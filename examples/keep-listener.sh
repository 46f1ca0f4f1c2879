#!/usr/bin/env bash
# Keeps a listening socket in a persistent session, so the program that
# serves it can restart without ever closing it: connections that arrive
# meanwhile wait in its backlog.
#
#   examples/keep-listener.sh hold  SOCKET_PATH      # make the socket, hand it to the daemon
#   examples/keep-listener.sh serve                  # fetch it and serve one connection with it
#
# `serve` runs `mioctl fetch -- python3 …`: the server finds the socket at
# fd 3 with LISTEN_FDS=1, as under systemd socket activation.
set -euo pipefail
mioctl=${MIOCTL:-mioctl}
session=${SESSION:-keep-listener}
case "${1:-}" in
  hold)
    path=${2:?usage: $0 hold SOCKET_PATH}
    python3 - "$path" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(64)
os.dup2(s.fileno(), 3)          # give it to mioctl as fd 3
os.set_inheritable(3, True)     # (dup2 onto itself would keep close-on-exec)
os.execvp(os.environ.get("MIOCTL", "mioctl"),
          ["mioctl", "hold", "--session", os.environ.get("SESSION", "keep-listener"), "--fd", "3", "--token", "1"])
PY
    ;;
  serve)
    exec "$mioctl" fetch --session "$session" --token 1 -- python3 -c '
import os, socket
assert os.environ["LISTEN_FDS"] == "1" and int(os.environ["LISTEN_PID"]) == os.getpid()
listener = socket.socket(fileno=3)
conn, _ = listener.accept()
conn.sendall(b"served by pid %d\n" % os.getpid())
conn.close()
'
    ;;
  *)
    echo "usage: $0 hold SOCKET_PATH | serve" >&2
    exit 2
    ;;
esac
