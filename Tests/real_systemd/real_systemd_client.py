"""The test process's handle on container_client.py, the long-lived client
running inside the container: one JSON command out, one JSON result back."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Dict, Iterable, List

from real_systemd_container import CHECKOUT_IN_CONTAINER, NspawnContainer

CLIENT_SCRIPT = f"{CHECKOUT_IN_CONTAINER}/Tests/real_systemd/container_client.py"


class ClientError(AssertionError):
    pass


def hello(session: str, persist: bool = True, **extra: Any) -> Dict[str, Any]:
    return dict({"op": "hello", "protocol": 1, "session": session, "persist": persist}, **extra)


class ContainerClient:
    def __init__(self, container: NspawnContainer):
        self.process = subprocess.Popen(container.command(["/usr/bin/python3", CLIENT_SCRIPT]),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def call(self, cmd: str, **args: Any) -> Dict[str, Any]:
        """Runs one command; a failed one raises with the client's own account."""
        if self.process.poll() is not None:
            raise ClientError(f"the container client has exited ({self.process.returncode})")
        self.process.stdin.write(json.dumps(dict(args, cmd=cmd)) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise ClientError(f"the container client died during {cmd}")
        result = json.loads(line)
        if not result.pop("ok"):
            raise ClientError(f"{cmd} {args}: {result['error']}\n{result.get('trace', '')}")
        return result

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # --- the usual steps, each checked -------------------------------------

    def attach(self, conn: str, session: str, persist: bool = True, **extra: Any) -> Dict[str, Any]:
        """A connection with a hello for ``session``; returns the hello reply (ok checked)."""
        reply = self.call("connect", conn=conn, hello=hello(session, persist, **extra))["reply"]
        if not reply.get("ok"):
            raise ClientError(f"hello {session}: {reply}")
        return reply

    def request(self, conn: str, op: str, **fields: Any) -> Dict[str, Any]:
        return self.call("request", conn=conn, request=dict(fields, op=op))["reply"]

    def ok(self, conn: str, op: str, **fields: Any) -> Dict[str, Any]:
        reply = self.request(conn, op, **fields)
        if not reply.get("ok"):
            raise ClientError(f"{op} {fields}: {reply}")
        return reply

    def register(self, conn: str, token: int, kind: str, label: str, interest: Iterable[str] = ("readable",),
                 mode: str = "edge") -> None:
        reply = self.call("register", conn=conn, token=token, kind=kind, label=label,
                          interest=list(interest), mode=mode)["reply"]
        if not reply.get("ok"):
            raise ClientError(f"register {token} ({kind}): {reply}")

    def registrations(self, conn: str) -> Dict[int, Dict[str, Any]]:
        """``list`` of the attached session, by token."""
        return {r["token"]: r for r in self.ok(conn, "list")["registrations"]}

    def ready(self, *labels: str) -> None:
        results = self.call("ready", labels=list(labels))["results"]
        failed = {label: result for label, result in results.items() if result != "ok"}
        if failed:
            raise ClientError(f"cannot make these ready (their fds are held by nobody): {failed}")

    def events(self, conn: str, tokens: Iterable[int], timeout: float = 5.0) -> List[Dict[str, Any]]:
        """Event lines read until each of ``tokens`` has had one (or the timeout)."""
        return self.call("events", conn=conn, tokens=list(tokens), timeout=timeout)["events"]

    def wait_closed(self, conn: str, timeout: float = 10.0) -> Dict[str, Any]:
        return self.call("wait_closed", conn=conn, timeout=timeout)

    def fd_count(self, pid: int) -> int:
        return self.call("fd_count", pid=pid)["count"]


def readable_tokens(events: Iterable[Dict[str, Any]]) -> set:
    return {e["token"] for e in events if e.get("event") == "ready" and e.get("readable")}
