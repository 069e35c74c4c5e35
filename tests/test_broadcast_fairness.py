"""Broadcast fairness (issue 26): a large fan-out goes out in slices, yielding to the loop.

Real loopback sockets, no sleeps: the chatty client's message is in the server's socket
before the broadcast starts (written from the lab loop itself, just before the call), so
which recipients had their copy when the server answered it is an exact count: every one
of them without slices, about a slice's worth with them.  Order per client stays exact:
a client's copies of successive broadcasts, then anything sent to it afterwards (a reply,
a close), arrive in the order they were sent.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

import wslab
from wslab.net import loop as lab
from wslab.net.server import connection as connection_module
from wslab.protocol.frames import Frame, FrameParser, Opcode, encode_frame

from .conftest import wait_until
from .raw_upgrade import upgraded

RECIPIENTS = 400
SLICE = 16


def _open(port: int, path: str) -> socket.socket:
    sock, head = upgraded(port, path)
    assert head.endswith(b"\r\n\r\n"), "no frame may arrive before we ask"
    return sock


def _frames(sock: socket.socket, parser: FrameParser, count: int,
            timeout: float = 10.0) -> list[Frame]:
    """The next ``count`` frames on ``sock`` (AssertionError after ``timeout`` s)."""
    got: list[Frame] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} of {count} frames within {timeout} s"
        sock.settimeout(left)
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        got.extend(parser.feed(chunk))
    return got


def _masked(text: str) -> bytes:
    return encode_frame(Frame(Opcode.TEXT, text.encode(), mask_key=os.urandom(4)))


@pytest.fixture
def fanout():
    """A server with RECIPIENTS clients on /chat and one chatty client on /echo."""
    server = wslab.serve(name="fairness", events_max=100)
    socks: list[socket.socket] = []
    try:
        socks = [_open(server.port, "/chat") for _ in range(RECIPIENTS)]
        chatty = _open(server.port, "/echo")
        wait_until(lambda: len(server.clients) == RECIPIENTS + 1, what="every client open")
        yield server, socks, chatty
        chatty.close()
    finally:
        for s in socks:
            s.close()
        server.stop()


def _probe_during_broadcast(server, socks, chatty, *, slice_size: int) -> int:
    """How many recipients had the broadcast when the server answered the chatty client."""
    recipients = [server.connection(c.id) for c in server.clients if c.path == "/chat"]
    before = {c.id: c.messages_out for c in recipients}
    reached: list[int] = []

    @server.on_message
    def answer(conn, message):
        if message == "probe":
            reached.append(sum(c.messages_out > before[c.id] for c in recipients))
            conn.send_now("answer")

    def on_loop() -> int:
        chatty.sendall(_masked("probe"))  # in the server's socket before the broadcast starts
        return server.broadcast_local("x" * 64, path="/chat")

    saved = connection_module.BROADCAST_SLICE
    connection_module.BROADCAST_SLICE = slice_size
    try:
        assert lab.call(on_loop, what="probe and broadcast") == RECIPIENTS
        [reply] = _frames(chatty, FrameParser(), 1)
        assert reply.payload == b"answer"
        for s in socks:  # every recipient gets its copy, sliced or not
            [frame] = _frames(s, FrameParser(), 1)
            assert frame.payload == b"x" * 64
    finally:
        connection_module.BROADCAST_SLICE = saved
        server.on_message(None)
    assert len(reached) == 1
    return reached[0]


def test_a_chatty_client_is_answered_between_slices_of_a_large_broadcast(fanout):
    server, socks, chatty = fanout
    unsliced = _probe_during_broadcast(server, socks, chatty, slice_size=10 ** 9)
    sliced = _probe_during_broadcast(server, socks, chatty, slice_size=SLICE)
    # Without slices the loop writes to every recipient before it reads anything else.
    assert unsliced == RECIPIENTS
    # With them it reads and answers the chatty client a few slices in, not at the end.
    assert sliced < RECIPIENTS // 2, (sliced, unsliced)


def test_order_per_client_is_exact_across_sliced_broadcasts(fanout):
    server, socks, chatty = fanout
    last = max(c.id for c in server.clients if c.path == "/chat")
    conn = server.connection(last)

    def on_loop() -> None:
        server.broadcast_local("first", path="/chat")
        server.broadcast_local("second", path="/chat")
        conn.send_now("direct")  # the last recipient's turn has not come: its copies go first
        conn.close_now(1000, "bye")

    saved = connection_module.BROADCAST_SLICE
    connection_module.BROADCAST_SLICE = SLICE
    try:
        lab.call(on_loop, what="two broadcasts, a send and a close")
    finally:
        connection_module.BROADCAST_SLICE = saved
    for s in socks[:-1]:
        got = _frames(s, FrameParser(), 2)
        assert [f.payload for f in got] == [b"first", b"second"]
    got = _frames(socks[-1], FrameParser(), 4)
    assert [f.payload[2:] if f.opcode == Opcode.CLOSE else f.payload for f in got] == \
        [b"first", b"second", b"direct", b"bye"]
    assert chatty.fileno() >= 0
