"""Exec a program as systemd starts a socket-activated service: the given
fds at 3, 4, … and LISTEN_FDS, LISTEN_PID (the pid that exec keeps) and
LISTEN_FDNAMES naming them.

    python3 listen_fds_exec.py FD:NAME [FD:NAME …] -- PROGRAM [ARG …]

A wrapper process rather than a ``preexec_fn``: that would run between
fork and exec in a test process that has threads (the fake service
manager reads its socket in one), where only async-signal-safe code may run.
The fds must be inherited (``pass_fds``).
"""

import fcntl
import os
import sys


def main(argv):
    split = argv.index("--")
    pairs = [item.split(":", 1) for item in argv[:split]]
    program = argv[split + 1:]
    sources = [int(fd) for fd, _ in pairs]
    first, count = 3, len(sources)
    # Out of the way of 3 … 3+count-1 first, then into place.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, first + count) for fd in sources]
    for fd in sources:
        os.close(fd)
    for index, fd in enumerate(high):
        os.dup2(fd, first + index)  # dup2 leaves close-on-exec off
        os.close(fd)
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDS"] = str(count)
    os.environ["LISTEN_FDNAMES"] = ":".join(name for _, name in pairs)
    os.execv(program[0], program)


if __name__ == "__main__":
    main(sys.argv[1:])
