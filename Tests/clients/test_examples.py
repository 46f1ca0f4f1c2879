"""The shell scripts in examples/, run for real."""
import os
import socket
import subprocess
import threading
import time

from binaries import REPO_ROOT as REPO


def test_wait_on_fifo(daemon, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def writer():
        time.sleep(0.5)
        with open(fifo, "w") as f:
            f.write("ping over fifo\n")

    threading.Thread(target=writer).start()
    r = subprocess.run([str(REPO / "examples" / "wait-on-fifo.sh"), str(fifo)], env=daemon.client_env,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r
    assert r.stdout.strip() == "got: ping over fifo"


def test_keep_listener_across_server_restarts(daemon, tmp_path):
    path = str(tmp_path / "service.sock")
    baseline = daemon.fd_count()
    script = str(REPO / "examples" / "keep-listener.sh")
    r = subprocess.run([script, "hold", path], env=daemon.client_env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r
    assert daemon.settled_fd_count(baseline + 1) == baseline + 1
    # Two server "restarts": each fetches the same listening socket and serves a
    # client that connected while no server was running.
    pids = set()
    for _ in range(2):
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        r = subprocess.run([script, "serve"], env=daemon.client_env, capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r
        reply = client.recv(100).decode()
        assert reply.startswith("served by pid ")
        pids.add(reply.split()[-1])
        client.close()
    assert len(pids) == 2, "two different server processes served the same socket"
