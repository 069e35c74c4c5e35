"""The server's fast path agrees with the sans-I/O Receiver, and both ends walk TRANSITIONS.

StrictProtocol handles whole plain frames itself (speed) and gives everything
else to :class:`wslab.protocol.receiver.Receiver`.  Here the same byte streams
(valid and broken, sent in one write so that the fast path sees whole frames)
go to a real LabServer over loopback and to a Receiver: the messages echoed
and the close code must be the same.  Then: one text frame cut into three TCP
writes with invalid UTF-8 in the 1st or 2nd gets 1007 before the 3rd is sent
(RFC 6455 8.1, Autobahn 6.4.3/6.4.4); and a client and the server record the
rows of the state table they walked.
"""

from __future__ import annotations

import queue
import random
import struct

import pytest

import wslab
from tests.conftest import wait_until
from tests.test_client_strict import RawServer
from wslab.protocol import state as st
from wslab.protocol.assembler import Message
from wslab.protocol.frames import Frame, Opcode, encode_frame
from wslab.protocol.receiver import ProtocolViolation, Receiver, Role
from wslab.protocol.state import TRANSITIONS, State

from .test_strict_protocol import Raw

TIMEOUT = 5.0
KEY = b"\x37\xfa\x21\x3d"


class RawClient(Raw):
    """A handshake by wslab.protocol, then frames written by hand over loopback."""

    def __init__(self, port: int, path: str = "/echo") -> None:
        super().__init__(port, path=path)

    def until_close(self) -> tuple[list[str | bytes], int | None]:
        """Data frames received, then the Close frame's code (None: TCP ended first)."""
        got: list[str | bytes] = []
        while True:
            try:
                frame = self.recv_frame()
            except (EOFError, ConnectionResetError):
                return got, None
            if frame.opcode == Opcode.CLOSE:
                return got, frame.close_info()[0]
            if frame.opcode == Opcode.TEXT:
                got.append(frame.payload.decode())
            elif frame.opcode == Opcode.BINARY:
                got.append(frame.payload)


def c(opcode: int, payload: bytes = b"", **flags) -> bytes:
    """A client frame (masked), rules not checked."""
    return encode_frame(Frame(opcode, payload, mask_key=KEY, **flags), strict=False)


# a vocabulary of frames, most of them fine (the fast path's), some not
GOOD = [
    lambda r: c(Opcode.TEXT, r.choice(["hi", "héllo", "", "x" * 200]).encode()),
    lambda r: c(Opcode.BINARY, r.randbytes(r.choice([0, 5, 125, 126, 300]))),
    lambda r: c(Opcode.PING, b"p"),
    lambda r: c(Opcode.PONG, b"q"),
    lambda r: c(Opcode.TEXT, b"fra", fin=False) + c(Opcode.PING, b"") +
    c(Opcode.CONTINUATION, b"gment"),
]
BAD = [
    lambda r: c(Opcode.TEXT, b"\xff"),
    lambda r: c(Opcode.CONTINUATION, b"x"),
    lambda r: c(0x3),
    lambda r: c(Opcode.TEXT, b"x", rsv2=True),
    lambda r: encode_frame(Frame(Opcode.TEXT, b"unmasked")),
    lambda r: b"\x81\xfe\x00\x05" + KEY + bytes(5),
    lambda r: c(Opcode.BINARY, bytes(2000)),
    lambda r: c(Opcode.CLOSE, struct.pack("!H", 1005)),
    lambda r: c(Opcode.CLOSE, struct.pack("!H", 1000) + b"bye"),
]


def expected(data: bytes, max_size: int) -> tuple[list[str | bytes], int | None]:
    rx = Receiver(Role.SERVER, max_size=max_size)
    rx.handshake_done()
    rx.receive_data(data)
    msgs, code = [], None
    for event in rx.events_received():
        if isinstance(event, Message):
            msgs.append(event.data)
        elif isinstance(event, ProtocolViolation):
            code = event.close_code
        elif hasattr(event, "code") and event.code is not None:
            code = event.code  # a valid Close is echoed with its code
    return msgs, code


def test_fast_path_and_receiver_agree_on_random_streams():
    server = wslab.serve(name="fastpath", max_message_size=1024)
    try:
        rng = random.Random(6455)
        for _ in range(40):
            parts = [rng.choice(GOOD)(rng) for _ in range(rng.randrange(1, 12))]
            if rng.random() < 0.7:
                parts.append(rng.choice(BAD)(rng))
            parts.append(c(Opcode.CLOSE, struct.pack("!H", 1000)))
            data = b"".join(parts)
            raw = RawClient(server.port)
            try:
                raw.sock.sendall(data)
                assert raw.until_close() == expected(data, 1024), data.hex()
            finally:
                raw.sock.close()
    finally:
        server.stop()


# --- split invalid UTF-8: 1007 before the frame ends, on both ends ----------------------------
def _pieces(bad_at: int, mask_key: bytes | None) -> list[bytes]:
    text = b"a" * 40 + b"\xff" + b"b" * 40
    data = encode_frame(Frame(Opcode.TEXT, text, mask_key=mask_key), strict=False)
    head = len(data) - len(text)
    cut1 = head + (45 if bad_at == 1 else 20)
    cut2 = cut1 + (10 if bad_at == 1 else 30)
    return [data[:cut1], data[cut1:cut2], data[cut2:]]


@pytest.mark.parametrize("bad_at", [1, 2])
def test_server_fails_split_invalid_utf8_before_the_frame_ends(bad_at):
    server = wslab.serve(name="splitutf8")
    try:
        raw = RawClient(server.port)
        try:
            first, second, last = _pieces(bad_at, KEY)
            raw.sock.sendall(first)
            if bad_at == 2:
                raw.sock.sendall(second)
            frame = raw.recv_frame()  # the last piece has not been sent
            assert frame.opcode == Opcode.CLOSE and frame.close_info()[0] == 1007
        finally:
            raw.sock.close()
    finally:
        server.stop()


@pytest.mark.parametrize("bad_at", [1, 2])
def test_client_fails_split_invalid_utf8_before_the_frame_ends(bad_at):
    srv = RawServer()
    try:
        client = srv.connect()
        try:
            first, second, last = _pieces(bad_at, None)
            srv.send(first)
            if bad_at == 2:
                srv.send(second)
            frame = srv.recv_frame()  # the last piece has not been sent
            assert frame.opcode == Opcode.CLOSE and frame.close_info()[0] == 1007
            assert client.violation == (1007, "invalid UTF-8 in text")
        finally:
            client.stop()
    finally:
        srv.close()


# --- both ends walk the same table ------------------------------------------------------------
def _walk(rows: list[st.Transition]) -> list[tuple[State, str, State]]:
    assert all(row in TRANSITIONS for row in rows)
    return [(r.source, r.event, r.target) for r in rows]


OPEN = (State.CONNECTING, st.HANDSHAKE_SUCCEEDED, State.OPEN)


@pytest.mark.parametrize("who", ["client", "server"])
def test_both_ends_record_the_closing_handshake_they_walked(who):
    server = wslab.serve(name="walk")
    protocols: queue.Queue = queue.Queue()
    server.on_open(lambda conn: protocols.put(conn.protocol))
    try:
        client = wslab.connect(server.url)
        proto = protocols.get(timeout=TIMEOUT)
        if who == "client":
            client.close(1000, "done")
        else:
            server.close_client(server.clients[0].id, 4000, "bye")
            with pytest.raises(wslab.ConnectionClosed):
                client.recv(timeout=TIMEOUT)
        first, second = ((st.CLOSE_SENT, st.CLOSE_RECEIVED) if who == "client"
                         else (st.CLOSE_RECEIVED, st.CLOSE_SENT))
        assert _walk(client.transitions) == [OPEN, (State.OPEN, first, State.CLOSING),
                                             (State.CLOSING, second, State.CLOSED)]
        # the server walked the mirror image
        wait_until(lambda: proto.receiver.state == State.CLOSED, TIMEOUT, what="CLOSED")
        assert _walk(proto.receiver.machine.history) == [
            OPEN, (State.OPEN, second, State.CLOSING), (State.CLOSING, first, State.CLOSED)]
    finally:
        server.stop()


def test_server_walks_protocol_error_then_tcp_closed():
    server = wslab.serve(name="walkerr")
    protocols: queue.Queue = queue.Queue()
    server.on_open(lambda conn: protocols.put(conn.protocol))
    try:
        raw = RawClient(server.port)
        try:
            proto = protocols.get(timeout=TIMEOUT)
            raw.sock.sendall(encode_frame(Frame(Opcode.TEXT, b"unmasked")))
            assert raw.until_close() == ([], 1002)
        finally:
            raw.sock.close()
        wait_until(lambda: proto.receiver.state == State.CLOSED, TIMEOUT, what="CLOSED")
        assert _walk(proto.receiver.machine.history) == [
            OPEN, (State.OPEN, st.PROTOCOL_ERROR, State.CLOSING),
            (State.CLOSING, st.TCP_CLOSED, State.CLOSED)]
    finally:
        server.stop()


def test_a_consumer_gets_turns_while_a_long_burst_is_read():
    """Reading a chunk of many small frames gives other tasks a turn every few hundred
    messages (as Tornado's loop does): a consumer awaiting arecv() keeps up, so a burst
    longer than the client's receive queue loses nothing."""
    from wslab.net.client import RECV_QUEUE_MAX

    n = RECV_QUEUE_MAX + 2000
    server = wslab.serve(name="burst")
    try:
        client = wslab.connect(server.url)

        async def burst() -> list[str | bytes]:
            for i in range(n):
                assert client.send_soon(f"{i:05d}")
            return [await client.arecv(TIMEOUT) for _ in range(n)]

        got = wslab.net.loop.run(burst(), timeout=60)
        assert got == [f"{i:05d}" for i in range(n)] and client.dropped == 0
        client.close()
    finally:
        server.stop()
