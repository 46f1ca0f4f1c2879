"""A consumer of the daemon's event ring (docs/protocol.md, "Ring
delivery"), written for the tests: it follows the document's layout and
rules closely enough to test the daemon's side, and it can also break them
on purpose (the hostile suite writes anything anywhere in the mapping).

It is a test tool, not a client: Python has no C11 atomics. What makes it
correct on x86-64 (the only machine the suites run on):

- Every field is naturally aligned, and the reader reads and writes each
  with one aligned load or store of its width: a ``memoryview`` cast to
  ``Q``/``I`` copies the item with a single ``memcpy`` of 8 or 4 bytes, which
  the compiler emits as one ``mov``, atomic on x86-64. (``struct`` with an
  explicit byte order would go byte by byte: not used.)
- x86-64 keeps loads in order with loads and stores with stores (TSO), so a
  plain load is an acquire and a plain store a release.
- The one reordering x86-64 does (a load passing an earlier store) is what
  the document's ``fence(seq_cst)`` forbids; :func:`full_fence` is a lock
  acquire and release, a locked read-modify-write instruction: a full
  barrier.
"""

from __future__ import annotations

import errno
import fcntl
import json
import mmap
import os
import select
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from replies import FLAGS

MAGIC = 0x474E4952  # the bytes "RING"
VERSION = 1
RECORD_SIZE = 16
RECORDS_OFFSET = 256
DEFAULT_ENTRIES = 4096

#: Byte offsets of the header fields, and which side writes each.
OFF_MAGIC, OFF_VERSION, OFF_ENTRIES, OFF_RECORD_SIZE, OFF_RECORDS_OFFSET = 0, 4, 8, 12, 16
OFF_HEAD, OFF_OVERFLOW = 64, 72
OFF_TAIL, OFF_SLEEPING = 128, 136
#: The header bytes the daemon may write after it made the ring: head and
#: overflow. Everything else it writes is inside the records area.
DAEMON_WRITES_IN_HEADER = (range(OFF_HEAD, OFF_HEAD + 8), range(OFF_OVERFLOW, OFF_OVERFLOW + 4))

F_GET_SEALS = getattr(fcntl, "F_GET_SEALS", 1034)
F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8

_fence_lock = threading.Lock()


def full_fence() -> None:
    """fence(seq_cst): a locked instruction (see the module's docstring)."""
    _fence_lock.acquire()
    _fence_lock.release()


def ring_size(entries: int) -> int:
    """The memfd's size for ``entries`` records: 256 + 16 each, rounded up to a page."""
    page = mmap.PAGESIZE
    return (RECORDS_OFFSET + entries * RECORD_SIZE + page - 1) // page * page


def flags_of(event: Dict[str, Any]) -> int:
    """A JSON event's six booleans as a record's flag bits."""
    return sum(1 << bit for bit, name in enumerate(FLAGS) if event.get(name))


def flag_names(flags: int) -> Set[str]:
    return {name for bit, name in enumerate(FLAGS) if flags & (1 << bit)}


class Ring:
    """The ring of one ``hello`` reply: ``memfd`` mapped shared, ``doorbell``
    kept. ``take()`` consumes as the document says; the properties read and
    write single fields (for tests that need to look or to cheat)."""

    def __init__(self, memfd: int, doorbell: int) -> None:
        self.memfd = memfd
        self.doorbell = doorbell
        self.size = os.fstat(memfd).st_size
        self.map = mmap.mmap(memfd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.u64 = memoryview(self.map).cast("Q")
        self.u32 = memoryview(self.map).cast("I")
        self.entries = self.u32[OFF_ENTRIES // 4]
        self.records_offset = self.u32[OFF_RECORDS_OFFSET // 4]
        #: Our position: what we have consumed (published as ``tail``).
        self.consumed = self.tail
        #: Every record taken so far: (position, token, flags).
        self.taken: List[Tuple[int, int, int]] = []
        self.closed = False

    # -- fields ---------------------------------------------------------------

    def u32_at(self, offset: int) -> int:
        return self.u32[offset // 4]

    @property
    def head(self) -> int:
        return self.u64[OFF_HEAD // 8]

    @property
    def tail(self) -> int:
        return self.u64[OFF_TAIL // 8]

    @tail.setter
    def tail(self, value: int) -> None:
        self.u64[OFF_TAIL // 8] = value % (1 << 64)

    @property
    def overflow(self) -> int:
        return self.u32[OFF_OVERFLOW // 4]

    @overflow.setter
    def overflow(self, value: int) -> None:
        self.u32[OFF_OVERFLOW // 4] = value

    @property
    def sleeping(self) -> int:
        return self.u32[OFF_SLEEPING // 4]

    @sleeping.setter
    def sleeping(self, value: int) -> None:
        self.u32[OFF_SLEEPING // 4] = value % (1 << 32)

    def record(self, position: int) -> Tuple[int, int, int]:
        """(token, flags, reserved) of the record at ``position``."""
        offset = self.records_offset + (position % self.entries) * RECORD_SIZE
        return self.u64[offset // 8], self.u32[(offset + 8) // 4], self.u32[(offset + 12) // 4]

    def records_end(self) -> int:
        return self.records_offset + self.entries * RECORD_SIZE

    # -- the consumer's protocol ------------------------------------------------

    def take(self, sock: Optional[socket.socket] = None, refill: bool = True) -> List[Tuple[int, int, int]]:
        """Records from our position up to ``head``, then ``tail`` published;
        if ``overflow`` is set and ``refill``: clear it and send the newline on
        ``sock``. Returns the new records as (position, token, flags)."""
        head = self.head
        assert head - self.consumed <= self.entries, f"head {head} is more than a ring ahead of tail {self.consumed}"
        out = []
        for position in range(self.consumed, head):
            token, flags, _ = self.record(position)
            out.append((position, token, flags))
        self.consumed = head
        self.tail = head
        if refill and self.overflow:
            self.overflow = 0
            assert sock is not None, "overflow set: the refill newline needs the socket"
            sock.sendall(b"\n")
        self.taken.extend(out)
        return out

    def arm(self) -> bool:
        """About to sleep: sleeping = 1, fence, look again. False (and
        sleeping back to 0) if there is work after all."""
        self.sleeping = 1
        full_fence()
        if self.head != self.consumed or self.overflow:
            self.sleeping = 0
            return False
        return True

    def disarm(self) -> None:
        self.sleeping = 0

    # -- the doorbell ------------------------------------------------------------

    def doorbell_ready(self, timeout: float = 0.0) -> bool:
        poller = select.poll()
        poller.register(self.doorbell, select.POLLIN)
        return bool(poller.poll(int(timeout * 1000)))

    def read_doorbell(self) -> int:
        """What the doorbell (a pipe's read end) holds, read: one byte per
        ring; 0 when it has not rung. Never blocks, even if someone cleared
        O_NONBLOCK on our end."""
        total = 0
        while self.doorbell_ready():
            try:
                chunk = os.read(self.doorbell, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            total += len(chunk)
        return total

    # -- ending ---------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.u64.release()
        self.u32.release()
        self.map.close()
        for fd in (self.memfd, self.doorbell):
            try:
                os.close(fd)
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise


def hello_ring(conn: Any, entries: Optional[int] = None, request_id: Any = "ring", **fields: Any) -> Tuple[Dict[str, Any], Ring]:
    """``hello`` with ``"delivery":"ring"`` on a RawConnection; the reply
    must be ok and come with exactly two fds. Returns (reply, ring)."""
    request: Dict[str, Any] = {"op": "hello", "id": request_id, "delivery": "ring", **fields}
    if entries is not None:
        request["ring_entries"] = entries
    conn.send_json(request)
    text, fds = conn.read_line_fds()
    reply = json.loads(text)
    if len(fds) != 2 or reply.get("ok") is not True:
        for fd in fds:
            os.close(fd)
        raise AssertionError(f"hello ring: expected ok with 2 fds, got {reply} with {len(fds)} fd(s)")
    return reply, Ring(fds[0], fds[1])


def drain_until(ring: Ring, sock: socket.socket, want: Set[int], timeout: float,
                on_records: Optional[Callable[[List[Tuple[int, int, int]]], None]] = None) -> Set[int]:
    """Consume (refilling on overflow) until every token of ``want`` was seen
    or ``timeout`` passed; returns the tokens seen. Sleeps on the doorbell
    by the document's rules between looks."""
    seen: Set[int] = set()
    end = time.monotonic() + timeout
    while not want <= seen and time.monotonic() < end:
        records = ring.take(sock)
        if on_records:
            on_records(records)
        seen.update(token for _, token, _ in records)
        if records or want <= seen:
            continue
        if ring.arm():
            ring.doorbell_ready(min(0.2, max(0.0, end - time.monotonic())))
            ring.read_doorbell()
            ring.disarm()
    return seen
