"""Reliability under load and abuse: churn, malformed handshakes, protocol violations,
abrupt disconnects.  Bounded in count and time; the server must keep serving throughout."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wslab
from tests.conftest import wait_until
from wslab.net import loop as lab
from wslab.protocol import frames as fr

UPGRADE = (b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _tasks() -> int:
    async def count():
        return len(asyncio.all_tasks())
    return lab.run(count())


def _raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data``, read until the server closes or stays silent; return what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


@pytest.fixture
def busy_server():
    """A server with a concurrent echo client that must keep working throughout."""
    server = wslab.serve(name="abuse", max_message_size=64 * 1024)
    watcher = wslab.connect(server.url)
    yield server, watcher
    watcher.send("still alive?")
    assert watcher.recv(timeout=5) == "still alive?"
    watcher.close()
    server.stop()


def test_churn_2000_connect_disconnect_cycles_returns_to_baseline():
    server = wslab.serve(name="churn")
    try:
        with wslab.connect(server.url) as warm:
            warm.send("w")
            warm.recv()
        wait_until(lambda: not server.clients)
        fds, threads, tasks = _fds(), set(threading.enumerate()), _tasks()
        for i in range(2000):
            c = wslab.connect(server.url)
            if i % 100 == 0:
                c.send("x")
                assert c.recv() == "x"
            c.close()
        wait_until(lambda: not server.clients and _fds() <= fds and _tasks() <= tasks, 30,
                   what=f"clients gone, at most {fds} descriptors and {tasks} tasks")
        # no thread the churn started is left (a thread of an earlier test may end meanwhile)
        assert set(threading.enumerate()) - threads == set()
        assert len(server.events.of("open")) == 2000 or server.event_log.total > 4000
    finally:
        server.stop()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=600),
    st.builds(lambda n: UPGRADE[:n], st.integers(0, len(UPGRADE) - 1)),  # truncated
    st.builds(lambda junk: UPGRADE.replace(b"Upgrade: websocket", junk), st.binary(max_size=40)),
    st.builds(lambda k: UPGRADE.replace(b"dGhlIHNhbXBsZSBub25jZQ==", k), st.binary(max_size=30)),
))
def test_malformed_handshakes_get_an_http_error_or_a_close(busy_server, data):
    server, watcher = busy_server
    answer = _raw(server.port, data, timeout=3)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 "), answer[:80]
    if answer.startswith(b"HTTP/1.1 101"):  # it was a valid upgrade after all
        assert data.startswith(b"GET ")
    watcher.send("ping")
    assert watcher.recv(timeout=5) == "ping"


def test_64_kib_of_headers_is_refused(busy_server):
    server, _ = busy_server
    huge = UPGRADE[:-2] + b"X-Padding: " + b"a" * 65536 + b"\r\n\r\n"
    answer = _raw(server.port, huge)
    assert answer == b"" or answer.split(b" ")[1] in (b"400", b"431")


def _upgraded(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(UPGRADE)
    assert s.recv(4096).startswith(b"HTTP/1.1 101")
    return s


def _close_code(s: socket.socket) -> int | None:
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    frame, _ = fr.decode_frame(data, require_mask=False)
    assert frame.opcode == fr.Opcode.CLOSE
    return fr.parse_close_payload(frame.payload)[0]


M = b"\x11\x22\x33\x44"


@pytest.mark.parametrize("payload, code", [
    (b"\xff\xfe\xfd\xfc" * 8, 1002),  # random bytes: reserved opcode / bits
    (fr.encode_frame(fr.Frame(fr.Opcode.TEXT, b"ok \xff", mask_key=M), strict=False), 1007),
    (fr.encode_frame(fr.Frame(fr.Opcode.BINARY, b"x" * 70_000, mask_key=M)), 1009),
    (fr.encode_frame(fr.Frame(fr.Opcode.TEXT, b"unmasked")), 1002),
    (fr.encode_frame(fr.Frame(fr.Opcode.CLOSE, b"\x03\xec", mask_key=M), strict=False), 1002),
    (fr.encode_frame(fr.Frame(fr.Opcode.TEXT, b"caf\xc3", fin=False, mask_key=M), strict=False)
     + fr.encode_frame(fr.Frame(fr.Opcode.CONTINUATION, b"\xa9 \xff", fin=False, mask_key=M),
                       strict=False), 1007),  # fails at the first bad fragment, no FIN needed
])
def test_violations_after_the_handshake_get_the_rfc_close_code(busy_server, payload, code):
    server, watcher = busy_server
    s = _upgraded(server.port)
    try:
        s.sendall(payload)
        assert _close_code(s) == code
    finally:
        s.close()
    wait_until(lambda: any(e.code == code for e in server.events.of("error")))
    watcher.send("unaffected")
    assert watcher.recv(timeout=5) == "unaffected"


@pytest.mark.parametrize("cut", ["mid-handshake", "mid-frame", "mid-close"])
def test_abrupt_disconnects_leave_nothing_behind(busy_server, cut):
    server, watcher = busy_server
    wait_until(lambda: len(server.clients) == 1)
    fds, tasks = _fds(), _tasks()
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        if cut == "mid-handshake":
            s.sendall(UPGRADE[:40])
        else:
            s.sendall(UPGRADE)
            s.recv(4096)
            big = fr.encode_frame(fr.Frame(fr.Opcode.BINARY, b"x" * 5000, mask_key=M))
            s.sendall(big[:100] if cut == "mid-frame" else b"\x88\x82" + M)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
    wait_until(lambda: len(server.clients) == 1 and _fds() <= fds and _tasks() <= tasks)
