"""Batched sends (issue 26): the replies to the messages of one read chunk leave with one
``send()``, in order, and anything else sent meanwhile (a broadcast, a close) keeps its
place.  Real loopback sockets; the segments the server's TCP socket sent are read from
``TCP_INFO`` (``tcpi_segs_out``), so "one send()" is counted, not timed."""

from __future__ import annotations

import os
import socket
import struct
import time

import pytest

import wslab
from wslab.net import loop as lab
from wslab.net.server.connection import Connection
from wslab.protocol.frames import Frame, FrameParser, Opcode, encode_frame

from .conftest import wait_until
from .raw_upgrade import upgraded

BURST = 50
_SEGS_OUT = 136  # offset of tcpi_segs_out in struct tcp_info (Linux 4.2 and later)


def _open(port: int, path: str = "/echo") -> socket.socket:
    sock, head = upgraded(port, path, nodelay=True)
    assert head.endswith(b"\r\n\r\n")
    return sock


def _frames(sock: socket.socket, count: int, timeout: float = 10.0) -> list[Frame]:
    parser, got = FrameParser(), []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} of {count} frames within {timeout} s"
        sock.settimeout(left)
        chunk = sock.recv(1 << 20)
        assert chunk, "the server closed the connection"
        got.extend(parser.feed(chunk))
    return got


def _burst(texts: list[str]) -> bytes:
    return b"".join(encode_frame(Frame(Opcode.TEXT, t.encode(), mask_key=os.urandom(4)))
                    for t in texts)


def _segments_out(conn: Connection) -> int:
    sock = conn.live_protocol.stream.socket
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < _SEGS_OUT + 4:
        pytest.skip("this kernel's TCP_INFO has no tcpi_segs_out")
    return int(struct.unpack_from("I", info, _SEGS_OUT)[0])


def _segments_for_burst(server, sock: socket.socket, conn: Connection, tag: str) -> int:
    texts = [f"{tag}-{i}" for i in range(BURST)]
    before = lab.call(_segments_out, conn)
    sock.sendall(_burst(texts))  # one segment on loopback: one read chunk for the server
    got = _frames(sock, BURST)
    assert [f.payload.decode() for f in got] == texts  # every reply, in order
    return lab.call(_segments_out, conn) - before


def test_the_replies_to_one_chunk_leave_in_one_send(monkeypatch):
    server = wslab.serve(name="batched")
    sock = _open(server.port)
    try:
        wait_until(lambda: server.clients, what="the open")
        conn = server.connection(server.clients[0].id)
        _segments_for_burst(server, sock, conn, "warm")
        batched = [_segments_for_burst(server, sock, conn, f"b{r}") for r in range(3)]
        monkeypatch.setattr(Connection, "cork", lambda self: None)  # one send() per reply
        single = [_segments_for_burst(server, sock, conn, f"s{r}") for r in range(3)]
        # one send(): one segment (an ACK at most besides); one send() per reply: many
        assert max(batched) <= 2, (batched, single)
        assert max(single) > 2 * max(batched), (batched, single)
    finally:
        sock.close()
        server.stop()


def test_a_broadcast_and_a_close_keep_their_place_among_gathered_replies():
    server = wslab.serve(name="batched-order")
    sock = _open(server.port)
    try:
        wait_until(lambda: server.clients, what="the open")

        @server.on_message
        def reply(conn, message):
            conn.send_now(f"re {message}")
            if message == "m2":
                conn.server.broadcast_local("to all")
            if message == "m4":
                conn.close_now(1000, "done")

        sock.sendall(_burst([f"m{i}" for i in range(5)]))
        got = _frames(sock, 7)
        assert [f.payload for f in got[:6]] == [b"re m0", b"re m1", b"re m2", b"to all",
                                                b"re m3", b"re m4"]
        assert got[6].opcode == Opcode.CLOSE and got[6].payload[2:] == b"done"
    finally:
        sock.close()
        server.stop()
