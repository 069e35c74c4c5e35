"""The open-file limit (issue 26): the server raises its soft RLIMIT_NOFILE to the hard
one and says so; at the limit a new client gets a 503, never a hang.  Each case runs the
server in a child process whose limits it changes (a kernel's own limits stay as they are)."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from wslab.protocol.handshake import build_request, make_key

REPO = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import json, resource, sys
    soft, hard = (int(x) if x != "keep" else None for x in sys.argv[1:3])
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard if hard is not None else old[1]))
    import wslab
    server = wslab.serve(name="limit")
    limit = [e.reason for e in server.events if e.kind == "limit"]
    print(json.dumps({"port": server.port, "limit": limit,
                      "rlimit": resource.getrlimit(resource.RLIMIT_NOFILE)}), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    print(json.dumps({"errors": [e.reason for e in server.events if e.kind == "error"]}),
          flush=True)
    server.stop()
""")


def _child(soft: int, hard: int | None) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(soft),
                             "keep" if hard is None else str(hard)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"the child did not start (exit {proc.poll()})"
    return proc, json.loads(line)


def _end(proc: subprocess.Popen[str]) -> dict:
    try:
        out, _ = proc.communicate("", timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return json.loads(out.strip().splitlines()[-1])


def test_the_server_raises_its_soft_file_limit_and_says_so():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 256:
        import pytest
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")
    proc, info = _child(256, None)
    try:
        assert info["rlimit"][0] == info["rlimit"][1] > 256
        [said] = info["limit"]
        assert "from 256 to" in said and "503" in said
    finally:
        _end(proc)


def _handshake(port: int, timeout: float) -> tuple[str, socket.socket]:
    """The first line of the server's answer to one upgrade request (raises on a hang)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(build_request(host=f"127.0.0.1:{port}", path="/echo", key=make_key()))
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)  # socket.timeout (a hang) fails the test
        assert chunk, f"closed without an answer after {head!r}"
        head += chunk
    return head.split(b"\r\n", 1)[0].decode(), sock


def test_at_the_file_limit_new_clients_get_503_never_a_hang():
    proc, info = _child(64, 64)  # hard too: the server cannot raise it
    held: list[socket.socket] = []
    statuses: list[str] = []
    try:
        assert info["limit"] == []
        deadline = time.monotonic() + 60
        while statuses.count("503") < 3 and len(statuses) < 200:
            assert time.monotonic() < deadline, statuses
            # at most BACKOFF_MAX (2 s) for a 503 while the server backs off
            status, sock = _handshake(info["port"], timeout=10)
            statuses.append(status.split(" ")[1])
            held.append(sock)
        assert statuses.count("101") >= 30, statuses   # ~64 descriptors minus the process's
        first = statuses.index("503")
        assert set(statuses[first:]) == {"503"}, statuses  # once full, every client told so
    finally:
        for s in held:
            s.close()
        done = _end(proc)
    assert any("EMFILE" in e for e in done["errors"]), done
