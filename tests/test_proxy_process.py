"""The process server's control channel and its stop, against a real child process.

Calls carry ids (a late reply never answers a later call); the options, the token and
the pickled handler go over the child's stdin, never its command line; ``stop(grace=)``
ends a child whose handler is stuck within about twice the grace.
"""

from __future__ import annotations

import time

import pytest

import wslab
from tests.conftest import wait_until
from wslab.net.errors import LabTimeout

SECRET = "s3cret-token-on-no-command-line"


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def test_no_secret_or_handler_on_the_command_line_and_a_large_handler_works():
    blob = "z" * (200 * 1024)  # closed over: the pickled handler is > 200 KB

    def big(conn, message):
        conn.send(f"{len(blob)}:{message}")

    server = wslab.serve(name="proxy-proc-argv", process=True, auth=SECRET, handler=big)
    try:
        argv = _cmdline(server.pid)
        assert SECRET.encode() not in argv
        assert b"zzzz" not in argv and len(argv) < 4096, argv[:200]
        client = wslab.connect(f"{server.url}?token={SECRET}")
        client.send("hi")
        assert client.recv(timeout=5) == f"{200 * 1024}:hi"
        client.close()
    finally:
        server.stop()


def test_a_late_reply_never_answers_a_later_call():
    def slow(conn, message):
        conn.send("started")
        time.sleep(1.5)  # the child's loop is busy: calls that need it wait
        conn.send(message)

    server = wslab.serve(name="proxy-proc-ids", process=True, handler=slow)
    client = wslab.connect(server.url)
    try:
        client.send("x")
        assert client.recv(timeout=5) == "started"  # the handler sleeps now
        server.timeout = 0.3
        with pytest.raises(LabTimeout):
            server.broadcast("late")  # answered (1 client) after the sleep: too late
        server.timeout = 10
        assert client.recv(timeout=5) == "x"
        clients = server.clients  # the late "1" must not be taken for this answer
        assert isinstance(clients, list) and len(clients) == 1, clients
        assert server.broadcast("z") == 1
    finally:
        client.close(timeout=2)
        server.stop()


@pytest.mark.parametrize("grace", [0.5, 2.0])
def test_stop_with_a_stuck_handler_is_bounded_by_grace(grace):
    def stuck(conn, message):
        time.sleep(60)

    server = wslab.serve(name="proxy-proc-stuck", process=True, handler=stuck)
    client = wslab.connect(server.url)
    try:
        client.send("hang")
        wait_until(lambda: any(e.kind == "message" for e in server.events), 5,
                   what="the handler to be called")
        t0 = time.monotonic()
        server.stop(grace=grace)
        took = time.monotonic() - t0
        assert took < 2 * grace + 1.5, took
        assert not server.running
    finally:
        client.close(timeout=2)
        server.stop()


def test_stop_grace_must_be_seconds():
    server = wslab.serve(name="proxy-proc-grace", process=True)
    try:
        with pytest.raises(ValueError, match="grace"):
            server.stop(grace=-1)
        assert server.running
    finally:
        server.stop()
