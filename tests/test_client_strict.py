"""wslab's Client receives by RFC 6455's rules too, and both ends walk the state table.

A raw server on a loopback socket (the handshake by wslab.protocol, then frames
written by hand) sends the Client every rule-breaking frame that
tests/test_strict_protocol.py sends the server; the Client must fail the
connection with the same close code (RFC 6455 7.1.7), i.e. send a masked Close
frame with it and close TCP.  Invalid UTF-8 in one text frame cut into three
TCP writes gets 1007 before the last piece is sent, on the client and on the
server.  Finally both ends of a real connection record the transitions of
:data:`wslab.protocol.state.TRANSITIONS` they walked.
"""

from __future__ import annotations

import random
import socket
import struct
import threading

import pytest

import wslab
from wslab.protocol import handshake
from wslab.protocol import state as st
from wslab.protocol.errors import NeedMoreData
from wslab.protocol.frames import Frame, FrameParser, Opcode, encode_frame
from wslab.protocol.state import State

TIMEOUT = 5.0
KEY = b"\x37\xfa\x21\x3d"


class RawServer:
    """One connection: answer the handshake, then let the test write frames by hand."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.sock: socket.socket | None = None
        self.parser = FrameParser(require_mask=True)  # a client masks (RFC 6455 5.1)
        self.frames: list[Frame] = []
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
            sock.settimeout(TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            data = b""
            while True:
                try:
                    request = handshake.parse_request(data)
                    break
                except NeedMoreData:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise EOFError("the client closed during the handshake") from None
                    data += chunk
            sock.sendall(handshake.build_response(key=request.key))
            self.sock = sock
        except BaseException as exc:  # noqa: BLE001 - reported by connect() in the test
            self.error = exc
        finally:
            self.ready.set()

    def connect(self, **kwargs) -> wslab.Client:
        client = wslab.connect(self.url, **kwargs)
        assert self.ready.wait(TIMEOUT) and self.error is None, self.error
        return client

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def recv_frame(self) -> Frame:
        assert self.sock is not None
        while not self.frames:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("the client closed TCP")
            self.frames.extend(self.parser.feed(chunk))
        return self.frames.pop(0)

    def expect_close(self) -> Frame:
        """The client's Close frame (masked, RFC 6455 5.1), then the end of TCP."""
        frame = self.recv_frame()
        assert frame.opcode == Opcode.CLOSE, f"expected a Close frame, got {frame}"
        assert frame.masked
        assert self.sock is not None
        try:
            rest = self.sock.recv(1 << 16)
        except ConnectionResetError:
            rest = b""
        assert rest == b"", f"expected the end of TCP, got {rest[:40]!r}"
        return frame

    def close(self) -> None:
        self.thread.join(TIMEOUT)
        if self.sock is not None:
            self.sock.close()
        self.listener.close()


@pytest.fixture
def raw_server():
    made: list[RawServer] = []

    def make() -> RawServer:
        srv = RawServer()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()


def s(opcode: int, payload: bytes = b"", **flags) -> bytes:
    """A server frame (never masked, RFC 6455 5.1), rules not checked."""
    return encode_frame(Frame(opcode, payload, **flags), strict=False)


# Every rule-breaking frame tests/test_strict_protocol.py sends the server, from a server;
# the masking rule is the other way round (a server must not mask).
BROKEN = [
    ("reserved opcode 0x3", s(0x3, b"?"), 1002, "reserved opcode 0x3"),
    ("reserved opcode 0xb", s(0xB, b"?"), 1002, "reserved opcode 0xb"),
    ("rsv1", s(Opcode.TEXT, b"hi", rsv1=True), 1002, "RSV1"),
    ("rsv2", s(Opcode.TEXT, b"hi", rsv2=True), 1002, "RSV2"),
    ("rsv3", s(Opcode.TEXT, b"hi", rsv3=True), 1002, "RSV3"),
    ("long ping", s(Opcode.PING, b"\x03\xe8" + b"x" * 124), 1002,
     "control frame over 125 bytes"),
    ("long close", s(Opcode.CLOSE, b"\x03\xe8" + b"x" * 124), 1002,
     "control frame over 125 bytes"),
    ("fragmented ping", s(Opcode.PING, b"a", fin=False), 1002, "fragmented control frame"),
    ("masked server frame", encode_frame(Frame(Opcode.TEXT, b"masked", mask_key=KEY)), 1002,
     "masked server frame"),
    ("orphan continuation", s(Opcode.CONTINUATION, b"orphan"), 1002,
     "continuation frame without a message"),
    ("interleaved message", s(Opcode.TEXT, b"first ", fin=False) + s(Opcode.BINARY, b"2nd"),
     1002, "new data frame inside a fragmented message"),
    ("non-minimal length", b"\x81\x7e\x00\x05" + bytes(5), 1002, "non-minimal payload length"),
    ("bad utf-8 in a fragment", s(Opcode.TEXT, b"caf\xc3", fin=False)
     + s(Opcode.CONTINUATION, b"\xa9 ok", fin=False)
     + s(Opcode.CONTINUATION, b"bad \xff", fin=False), 1007, "invalid UTF-8 in text"),
    ("bad utf-8", s(Opcode.TEXT, b"\xed\xa0\x80"), 1007, "invalid UTF-8 in text"),
    ("too big", s(Opcode.BINARY, bytes(1025)), 1009, "message too big"),
    ("too big in fragments", s(Opcode.TEXT, b"a" * 600, fin=False)
     + s(Opcode.CONTINUATION, b"b" * 600, fin=False), 1009, "message too big"),
    *[(f"close code {c}", s(Opcode.CLOSE, struct.pack("!H", c) + b"why"), 1002,
       f"close code {c} not allowed") for c in (0, 999, 1005, 1006, 1015, 2999, 5000)],
    ("1-byte close", s(Opcode.CLOSE, b"\x03"), 1002, "1-byte close payload"),
    ("bad close reason", s(Opcode.CLOSE, b"\x03\xe8bye \xff"), 1007,
     "invalid UTF-8 in close reason"),
]


@pytest.mark.parametrize("name, data, code, reason", BROKEN, ids=[b[0] for b in BROKEN])
def test_client_fails_the_connection_with_the_servers_code(raw_server, name, data, code,
                                                           reason):
    srv = raw_server()
    client = srv.connect(max_message_size=1024)
    try:
        srv.send(s(Opcode.TEXT, b"fine"))
        assert client.recv(timeout=TIMEOUT) == "fine"
        srv.send(data)
        got, why = srv.expect_close().close_info()
        assert got == code and reason in why, (got, why)
        with pytest.raises(wslab.ConnectionClosed):  # once closed, recv says so
            client.recv(timeout=TIMEOUT)
        assert client.violation == (code, why)
        assert client.state == State.CLOSED and client.close_code == 1006  # no Close came
        assert [t.event for t in client.transitions] == [
            st.HANDSHAKE_SUCCEEDED, st.PROTOCOL_ERROR, st.TCP_CLOSED]
    finally:
        client.stop()


def test_client_still_answers_pings_and_takes_a_clean_close(raw_server):
    srv = raw_server()
    client = srv.connect()
    try:
        srv.send(s(Opcode.PING, b"hb") + s(Opcode.TEXT, "é".encode(), fin=False)
                 + s(Opcode.CONTINUATION, b"!"))
        assert srv.recv_frame().payload == b"hb"  # the pong (RFC 6455 5.5.3)
        assert client.recv(timeout=TIMEOUT) == "é!"
        srv.send(s(Opcode.CLOSE, struct.pack("!H", 4001) + b"bye"))
        assert srv.expect_close().close_info() == (4001, "")  # the code echoed
        with pytest.raises(wslab.ConnectionClosed):
            client.recv(timeout=TIMEOUT)
        assert (client.close_code, client.close_reason) == (4001, "bye")
        assert client.violation is None
        assert [t.event for t in client.transitions] == [
            st.HANDSHAKE_SUCCEEDED, st.CLOSE_RECEIVED, st.CLOSE_SENT]
    finally:
        client.stop()


def test_client_fast_path_agrees_with_the_receiver(raw_server):
    """The client's fast path (whole plain frames) and the Receiver give the same messages
    and the same close code on random streams, sent in one write."""
    from wslab.protocol.assembler import Message
    from wslab.protocol.receiver import ProtocolViolation, Receiver, Role

    rng = random.Random(7692)
    good = [lambda: s(Opcode.TEXT, rng.choice(["hi", "héllo", "", "y" * 300]).encode()),
            lambda: s(Opcode.BINARY, rng.randbytes(rng.choice([0, 3, 126, 1000]))),
            lambda: s(Opcode.PONG, b"q"),
            lambda: s(Opcode.BINARY, b"ab", fin=False) + s(Opcode.CONTINUATION, b"cd")]
    bad = [lambda: s(Opcode.TEXT, b"\xc3("), lambda: s(0xC),
           lambda: encode_frame(Frame(Opcode.BINARY, b"m", mask_key=KEY)),
           lambda: b"\x82\x7e\x00\x7d" + bytes(125), lambda: s(Opcode.BINARY, bytes(1025))]
    for _ in range(12):
        data = b"".join(rng.choice(good)() for _ in range(rng.randrange(1, 10)))
        data += rng.choice(bad)()
        rx = Receiver(Role.CLIENT, max_size=1024)
        rx.handshake_done()
        rx.receive_data(data)
        events = rx.events_received()
        want = [e.data for e in events if isinstance(e, Message)]
        code = next(e.close_code for e in events if isinstance(e, ProtocolViolation))
        srv = raw_server()
        client = srv.connect(max_message_size=1024)
        try:
            srv.send(data)
            assert srv.expect_close().close_info()[0] == code
            got = []
            with pytest.raises(wslab.ConnectionClosed):
                while True:
                    got.append(client.recv(timeout=TIMEOUT))
            assert got == want
        finally:
            client.stop()


def test_keepalive_timeout_walks_close_sent_then_close_timeout(raw_server):
    """A peer that never answers a ping: Close 1011 "keepalive timeout", no answer to it
    either, so TCP is dropped after close_timeout (RFC 6455 7.1.1): CLOSE_TIMEOUT."""
    srv = raw_server()
    client = srv.connect(ping_interval=0.1, ping_timeout=0.2)
    try:
        with pytest.raises(wslab.ConnectionClosed):
            client.recv(timeout=TIMEOUT)
        ping = srv.recv_frame()
        assert ping.opcode == Opcode.PING and ping.payload == b"keepalive-1"
        assert srv.expect_close().close_info() == (1011, "keepalive timeout")
        assert client.close_code == 1006 and "keepalive timeout" in client.close_reason
        assert [t.event for t in client.transitions] == [
            st.HANDSHAKE_SUCCEEDED, st.CLOSE_SENT, st.CLOSE_TIMEOUT]
        assert client.keepalive.timed_out_at is not None
    finally:
        client.stop()
