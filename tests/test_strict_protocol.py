"""StrictProtocol: Tornado's server, receiving as RFC 6455 says (issue 7).

Each test serves a small Tornado handler built on :class:`StrictProtocol` on the
lab loop, talks raw bytes to it over loopback, and checks the exact Close frame
the server answers before it closes TCP (RFC 6455 7.1.7, fail the connection).
"""

from __future__ import annotations

import asyncio
import collections
import queue
import random
import socket
import struct

import pytest
import tornado.web
import tornado.websocket

import wslab
from wslab.net import _tornado
from wslab.net import loop as lab
from wslab.net.server.strict import StrictProtocol, header_is_plain
from wslab.protocol import handshake
from wslab.protocol.errors import NeedMoreData, ProtocolError
from wslab.protocol.frames import Frame, FrameParser, Opcode, decode_frame, encode_frame

TIMEOUT = 5.0
KEY = b"\x37\xfa\x21\x3d"


# --- the server under test ------------------------------------------------------------
class _StrictEcho(tornado.websocket.WebSocketHandler):
    """Echo handler on StrictProtocol, reporting to its _Box (runs on the lab loop)."""

    def initialize(self, box: _Box) -> None:  # type: ignore[override]
        self.box = box

    def get_compression_options(self):
        return {} if self.box.compression else None

    def get_websocket_protocol(self):
        params = _tornado.WebSocketParams(
            ping_interval=None, ping_timeout=None, max_message_size=self.max_message_size,
            compression_options=self.get_compression_options())
        self.protocol = StrictProtocol(self, False, params)
        return self.protocol

    def open(self) -> None:
        self.task = asyncio.current_task()
        self.box.live.add(self)
        self.box.opened.put(self)

    async def _slow(self, message):
        self.box.log.append(("start", message))
        for _ in range(3):
            await asyncio.sleep(0)
        self.box.log.append(("end", message))
        await self.write_message(message)

    def on_message(self, message):
        if self.box.slow:
            return self._slow(message)
        if message == "close-me":
            self.close(4000, "asked")
            return None
        if message == "ping-me":
            self.ping(b"srv")
            return None
        self.write_message(message, binary=isinstance(message, bytes))
        return None

    def on_pong(self, data: bytes) -> None:
        self.box.pongs.put(data)

    def on_protocol_violation(self, code: int, reason: str) -> None:
        self.box.violations.put((code, reason))

    def on_close(self) -> None:
        self.box.live.discard(self)
        self.box.closed.put((self.close_code, self.close_reason, self.protocol.close_payload,
                             self.protocol.violation))


class _Box:
    def __init__(self, *, max_message_size: int | None = None, compression: bool = False,
                 slow: bool = False) -> None:
        self.max_message_size = max_message_size
        self.compression = compression
        self.slow = slow
        self.opened: queue.Queue = queue.Queue()
        self.closed: queue.Queue = queue.Queue()
        self.violations: queue.Queue = queue.Queue()
        self.pongs: queue.Queue = queue.Queue()
        self.log: list = []
        self.live: set = set()
        self.http = None
        self.port = 0

    async def start(self) -> None:
        settings = {"log_function": lambda handler: None}
        if self.max_message_size is not None:
            settings["websocket_max_message_size"] = self.max_message_size
        app = tornado.web.Application([(r"/ws", _StrictEcho, {"box": self})], **settings)
        self.http = app.listen(0, address="127.0.0.1")
        self.port = _tornado.listening_port(self.http)

    async def stop(self) -> None:
        self.http.stop()
        for handler in list(self.live):
            if handler.ws_connection is not None:
                _tornado.abort(handler.ws_connection)
        await self.http.close_all_connections()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@pytest.fixture
def serve_strict():
    boxes: list[_Box] = []

    def start(**kwargs) -> _Box:
        box = _Box(**kwargs)
        lab.run(box.start())
        boxes.append(box)
        return box

    yield start
    for box in boxes:
        lab.run(box.stop())


# --- a raw client -----------------------------------------------------------------------
class Raw:
    """Bytes over a real socket: the handshake, then frames built by hand."""

    def __init__(self, port: int, extensions: tuple[str, ...] = (), *, path: str = "/ws") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a piece is a segment
        key = handshake.make_key()
        self.sock.sendall(handshake.build_request(host=f"127.0.0.1:{port}", path=path, key=key,
                                                  extensions=extensions))
        data = b""
        while True:
            try:
                response = handshake.check_response(data, key, extensions=extensions)
                break
            except NeedMoreData:
                chunk = self.sock.recv(4096)
                assert chunk, "the server closed during the handshake"
                data += chunk
        self.response = response
        self.parser = FrameParser(require_mask=False)
        self.frames = collections.deque(self.parser.feed(data[response.size:]))

    def send(self, frame: Frame) -> None:
        self.sock.sendall(encode_frame(frame, strict=False))

    def recv_frame(self) -> Frame:
        while not self.frames:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("the server closed TCP")
            self.frames.extend(self.parser.feed(chunk))
        return self.frames.popleft()

    def expect_close(self) -> Frame:
        """The server's Close frame, then the end of TCP (EOF, or a reset)."""
        frame = self.recv_frame()
        assert frame.opcode == Opcode.CLOSE, f"expected a Close frame, got {frame}"
        assert not frame.masked  # a server never masks (RFC 6455 5.1)
        self.expect_eof()
        return frame

    def expect_eof(self) -> None:
        try:
            rest = self.sock.recv(1 << 16)
        except ConnectionResetError:
            rest = b""
        assert rest == b"", f"expected the end of TCP, got {rest[:40]!r}"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_clients():
    made: list[Raw] = []

    def make(port: int, **kwargs) -> Raw:
        raw = Raw(port, **kwargs)
        made.append(raw)
        return raw

    yield make
    for raw in made:
        raw.close()


def m(opcode: int, payload: bytes = b"", **flags) -> Frame:
    """A client frame, masked as RFC 6455 5.1 requires."""
    return Frame(opcode, payload, mask_key=KEY, **flags)


def fails_with(box: _Box, raw: Raw, code: int, reason_has: str = "") -> Frame:
    """The server failed the connection: Close(code), TCP closed, violation recorded."""
    frame = raw.expect_close()
    got, reason = frame.close_info()
    assert got == code, f"Close {got} {reason!r}, expected {code}"
    assert reason_has in reason
    assert box.violations.get(timeout=TIMEOUT) == (code, reason)
    close_code, _, _, violation = box.closed.get(timeout=TIMEOUT)
    assert violation == (code, reason)
    return frame


# --- the header fast path agrees with the protocol layer --------------------------------
def test_header_fast_path_agrees_with_decode_frame_on_every_header():
    for rsv1_ok in (False, True):
        for b0 in range(256):
            for b1 in range(256):
                try:
                    decode_frame(bytes((b0, b1)), require_mask=True, extensions_rsv1=rsv1_ok)
                    fine = True
                except NeedMoreData:
                    fine = True
                except ProtocolError:
                    fine = False
                assert header_is_plain(b0, b1, rsv1_ok) is fine, (hex(b0), hex(b1), rsv1_ok)


# --- RFC 6455 7.1.7: failing the connection, one rule per test ----------------------------
def test_random_bytes_fail_with_1002(serve_strict, raw_clients):
    """RFC 6455 5.2: bytes that are not a frame (here RSV2 set) -> 1002."""
    box = serve_strict()
    raw = raw_clients(box.port)
    junk = random.Random(6455).randbytes(64)
    assert not header_is_plain(junk[0], junk[1], False)
    raw.sock.sendall(junk)
    fails_with(box, raw, 1002)


@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
def test_reserved_opcode_fails_with_1002(serve_strict, raw_clients, opcode):
    """RFC 6455 5.2: opcodes 3-7 and 11-15 are reserved."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(opcode, b"?"))
    fails_with(box, raw, 1002, f"reserved opcode {opcode:#x}")


@pytest.mark.parametrize("flag", ["rsv1", "rsv2", "rsv3"])
def test_rsv_bit_without_extension_fails_with_1002(serve_strict, raw_clients, flag):
    """RFC 6455 5.2: RSV bits MUST be 0 unless an extension defines them."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.TEXT, b"hi", **{flag: True}))
    fails_with(box, raw, 1002, flag.upper())


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_control_frame_over_125_bytes_fails_with_1002(serve_strict, raw_clients, opcode):
    """RFC 6455 5.5: control frames carry at most 125 bytes."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(opcode, b"\x03\xe8" + b"x" * 124))
    fails_with(box, raw, 1002, "control frame over 125 bytes")


def test_fragmented_control_frame_fails_with_1002(serve_strict, raw_clients):
    """RFC 6455 5.5: control frames MUST NOT be fragmented."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.PING, b"a", fin=False))
    fails_with(box, raw, 1002, "fragmented control frame")


def test_unmasked_client_frame_fails_with_1002(serve_strict, raw_clients):
    """RFC 6455 5.1: a server MUST close the connection on an unmasked client frame."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(Frame(Opcode.TEXT, b"not masked"))
    fails_with(box, raw, 1002, "unmasked client frame")


def test_continuation_without_a_message_fails_with_1002(serve_strict, raw_clients):
    """RFC 6455 5.4: a CONTINUATION frame needs an open fragmented message."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.CONTINUATION, b"orphan"))
    fails_with(box, raw, 1002, "continuation frame without a message")


def test_new_data_frame_inside_a_fragmented_message_fails_with_1002(serve_strict, raw_clients):
    """RFC 6455 5.4: fragments of one message may not interleave with another message."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.TEXT, b"first ", fin=False))
    raw.send(m(Opcode.BINARY, b"second"))
    fails_with(box, raw, 1002, "new data frame inside a fragmented message")


def test_non_minimal_length_fails_with_1002(serve_strict, raw_clients):
    """RFC 6455 5.2: the minimal number of bytes MUST encode the payload length."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.sock.sendall(b"\x81\xfe\x00\x05" + KEY + bytes(5))
    fails_with(box, raw, 1002, "non-minimal payload length")


def test_invalid_utf8_fails_with_1007_at_the_first_bad_fragment(serve_strict, raw_clients):
    """RFC 6455 8.1: fail as soon as the text is known to be invalid, not at FIN."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.TEXT, b"caf\xc3", fin=False))  # valid so far (a split "é")
    raw.send(m(Opcode.CONTINUATION, b"\xa9 ok", fin=False))         # completes the "é"
    raw.send(m(Opcode.CONTINUATION, b"bad \xff", fin=False))        # broken here; no FIN sent
    fails_with(box, raw, 1007, "invalid UTF-8 in text")


def test_invalid_utf8_in_a_single_frame_fails_with_1007(serve_strict, raw_clients):
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.TEXT, b"\xed\xa0\x80"))  # a UTF-16 surrogate is not UTF-8
    fails_with(box, raw, 1007, "invalid UTF-8 in text")


def test_message_over_max_message_size_fails_with_1009(serve_strict, raw_clients):
    """RFC 6455 7.4.1: 1009 for a message too big to process (one frame or many)."""
    box = serve_strict(max_message_size=1024)
    raw = raw_clients(box.port)
    raw.send(m(Opcode.BINARY, bytes(1024)))  # exactly the limit is fine
    assert raw.recv_frame().payload == bytes(1024)
    raw.send(m(Opcode.BINARY, bytes(1025)))
    fails_with(box, raw, 1009, "message too big")

    raw = raw_clients(box.port)
    raw.send(m(Opcode.TEXT, b"a" * 600, fin=False))
    raw.send(m(Opcode.CONTINUATION, b"b" * 600, fin=False))
    fails_with(box, raw, 1009, "message too big")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_close_code_forbidden_on_the_wire_is_answered_with_1002(serve_strict, raw_clients,
                                                                 code):
    """RFC 6455 7.4: only 1000-1003, 1007-1014 and 3000-4999 may be sent."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.CLOSE, struct.pack("!H", code) + b"why"))
    fails_with(box, raw, 1002, f"close code {code} not allowed")


def test_one_byte_close_payload_is_answered_with_1002(serve_strict, raw_clients):
    """RFC 6455 5.5.1: a close body is empty or starts with a 2-byte code."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.CLOSE, b"\x03"))
    fails_with(box, raw, 1002, "1-byte close payload")


def test_invalid_utf8_in_close_reason_is_answered_with_1007(serve_strict, raw_clients):
    """RFC 6455 5.5.1: the close reason is UTF-8."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.CLOSE, b"\x03\xe8bye \xff"))
    fails_with(box, raw, 1007, "invalid UTF-8 in close reason")


# --- what must keep working ---------------------------------------------------------------
@pytest.mark.parametrize("code, reason", [(1000, "bye"), (1001, ""), (3000, "x"), (4999, "é")])
def test_valid_close_is_echoed_and_recorded(serve_strict, raw_clients, code, reason):
    """RFC 6455 5.5.1: answer a Close with a Close echoing the code (as Tornado does)."""
    box = serve_strict()
    raw = raw_clients(box.port)
    body = struct.pack("!H", code) + reason.encode()
    raw.send(m(Opcode.CLOSE, body))
    assert raw.expect_close().payload == struct.pack("!H", code)
    close_code, close_reason, close_payload, violation = box.closed.get(timeout=TIMEOUT)
    assert (close_code, close_reason or "", close_payload, violation) == (code, reason, body, None)
    assert box.violations.empty()


def test_empty_close_is_answered_with_an_empty_close(serve_strict, raw_clients):
    """RFC 6455 7.1.5: an empty Close (1005 locally) gets an empty Close back."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.CLOSE))
    assert raw.expect_close().payload == b""
    assert box.closed.get(timeout=TIMEOUT) == (None, None, b"", None)


def test_server_initiated_close_and_the_clients_answer(serve_strict, raw_clients):
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.TEXT, b"close-me"))
    frame = raw.recv_frame()
    assert frame.close_info() == (4000, "asked")
    raw.send(m(Opcode.CLOSE, struct.pack("!H", 4000)))
    raw.expect_eof()
    assert box.closed.get(timeout=TIMEOUT) == (4000, None, struct.pack("!H", 4000), None)


def test_violation_is_recorded_with_detail(serve_strict, raw_clients):
    box = serve_strict()
    raw = raw_clients(box.port)
    handler = box.opened.get(timeout=TIMEOUT)
    raw.send(Frame(Opcode.BINARY, b"x"))
    fails_with(box, raw, 1002)
    protocol = handler.protocol
    assert protocol.violation == (1002, "unmasked client frame")
    assert "RFC 6455 5.1" in protocol.violation_detail
    assert protocol.close_payload is None  # no Close frame came from the client: 1006


def test_fragmented_text_with_interleaved_pings(serve_strict, raw_clients):
    """RFC 6455 5.4/5.5: control frames may come between fragments and are answered at once."""
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.TEXT, b"Hel", fin=False))
    raw.send(m(Opcode.PING, b"p1"))
    raw.send(m(Opcode.CONTINUATION, b"lo w", fin=False))
    raw.send(m(Opcode.PING, b"p2"))
    raw.send(m(Opcode.CONTINUATION, "örld".encode()))
    got = [raw.recv_frame() for _ in range(3)]
    pongs = [f.payload for f in got if f.opcode == Opcode.PONG]
    texts = [f.payload.decode() for f in got if f.opcode == Opcode.TEXT]
    assert texts == ["Hello wörld"]
    assert pongs[-1] == b"p2" and set(pongs) <= {b"p1", b"p2"}  # RFC 6455 5.5.3: latest


def test_pong_reaches_on_pong(serve_strict, raw_clients):
    box = serve_strict()
    raw = raw_clients(box.port)
    raw.send(m(Opcode.TEXT, b"ping-me"))
    ping = raw.recv_frame()
    assert (ping.opcode, ping.payload) == (Opcode.PING, b"srv")
    raw.send(m(Opcode.PONG, b"srv"))
    assert box.pongs.get(timeout=TIMEOUT) == b"srv"


def test_async_on_message_is_awaited_before_the_next_message(serve_strict, raw_clients):
    """Tornado's _run_callback: an async handler finishes before the next message is read."""
    box = serve_strict(slow=True)
    raw = raw_clients(box.port)
    for word in ("one", "two", "three"):
        raw.send(m(Opcode.TEXT, word.encode()))
    assert [raw.recv_frame().payload for _ in range(3)] == [b"one", b"two", b"three"]
    assert box.log == [(s, w) for w in ("one", "two", "three") for s in ("start", "end")]


def test_compressed_messages_with_the_websockets_client(serve_strict):
    sync_client = pytest.importorskip("websockets.sync.client")
    box = serve_strict(compression=True)
    with sync_client.connect(box.url, compression="deflate", open_timeout=TIMEOUT,
                             close_timeout=TIMEOUT) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        handler = box.opened.get(timeout=TIMEOUT)
        assert handler.protocol.deflate is not None
        text = "compress me, " * 200
        for _ in range(3):  # context takeover: later messages reuse the window
            wire = handler.protocol.wire_bytes_in
            ws.send(text)
            assert ws.recv(timeout=TIMEOUT) == text
            assert handler.protocol.wire_bytes_in - wire < len(text) // 10  # really compressed
        ws.send(bytes(range(256)) * 64)
        assert ws.recv(timeout=TIMEOUT) == bytes(range(256)) * 64
        ws.send(["frag", "mented ", "é" * 500])  # RSV1 on the first fragment only
        assert ws.recv(timeout=TIMEOUT) == "fragmented " + "é" * 500
    assert box.closed.get(timeout=TIMEOUT)[3] is None


def test_compressed_messages_with_the_wslab_client(serve_strict):
    box = serve_strict(compression=True)
    client = wslab.connect(box.url, compression=True)
    try:
        handler = box.opened.get(timeout=TIMEOUT)
        assert handler.protocol.deflate is not None
        for message in ("hello " * 300, b"\x00\x01" * 5000, "short"):
            wire = handler.protocol.wire_bytes_in
            client.send(message)
            assert client.recv(timeout=TIMEOUT) == message
            assert handler.protocol.wire_bytes_in - wire < max(len(message) // 10, 40)
    finally:
        client.close()
    assert box.closed.get(timeout=TIMEOUT)[3] is None


def test_garbage_after_deflate_is_invalid_compressed_data(serve_strict, raw_clients):
    """RFC 7692 7.2.2: a payload that does not inflate fails the connection (1007)."""
    box = serve_strict(compression=True)
    raw = raw_clients(box.port, extensions=("permessage-deflate",))
    assert raw.response.extensions
    raw.send(m(Opcode.TEXT, b"\xff\xff\xff\xff", rsv1=True))
    fails_with(box, raw, 1007, "invalid compressed data")


@pytest.mark.parametrize("second", [
    m(Opcode.CONTINUATION, b"x", rsv1=True),
    m(Opcode.PING, b"x", rsv1=True),
])
def test_rsv1_outside_a_first_data_frame_fails_with_1002(serve_strict, raw_clients, second):
    """RFC 7692 6: RSV1 marks the first frame of a compressed message, nothing else."""
    box = serve_strict(compression=True)
    raw = raw_clients(box.port, extensions=("permessage-deflate",))
    raw.send(m(Opcode.TEXT, b"\x00", fin=False))
    raw.send(second)
    fails_with(box, raw, 1002, "RSV1 on a continuation or control frame")


def test_a_good_client_keeps_working_while_a_bad_one_is_failed(serve_strict, raw_clients):
    box = serve_strict()
    good = raw_clients(box.port)
    bad = raw_clients(box.port)
    good.send(m(Opcode.TEXT, b"before"))
    assert good.recv_frame().payload == b"before"
    bad.send(m(Opcode.TEXT, b"half", fin=False))
    bad.send(Frame(Opcode.CONTINUATION, b"unmasked"))
    fails_with(box, bad, 1002, "unmasked client frame")
    for i in range(20):
        good.send(m(Opcode.TEXT, f"after {i}".encode()))
        assert good.recv_frame().payload == f"after {i}".encode()


def test_one_mebibyte_messages(serve_strict, raw_clients):
    box = serve_strict()
    raw = raw_clients(box.port)
    blob = random.Random(1).randbytes(1 << 20)
    text = "ab€" * ((1 << 20) // 5)
    raw.send(m(Opcode.BINARY, blob))
    assert raw.recv_frame().payload == blob
    raw.send(m(Opcode.TEXT, text.encode()))
    assert raw.recv_frame().payload.decode() == text
    chunks = [blob[i:i + 65536] for i in range(0, len(blob), 65536)]
    raw.send(m(Opcode.BINARY, chunks[0], fin=False))
    for chunk in chunks[1:-1]:
        raw.send(m(Opcode.CONTINUATION, chunk, fin=False))
    raw.send(m(Opcode.CONTINUATION, chunks[-1]))
    assert raw.recv_frame().payload == blob


def test_abrupt_disconnect_mid_frame_leaves_no_task(serve_strict):
    box = serve_strict()

    async def tasks() -> set:
        return set(asyncio.all_tasks())

    before = lab.run(tasks())
    raw = Raw(box.port)
    handler = box.opened.get(timeout=TIMEOUT)
    frame = encode_frame(m(Opcode.BINARY, bytes(1000)))
    raw.sock.sendall(frame[:300])  # header, masking key and part of the payload
    raw.close()
    assert box.closed.get(timeout=TIMEOUT) == (None, None, None, None)

    async def finished() -> set:
        await asyncio.wait([handler.task], timeout=TIMEOUT)
        assert handler.task.done()
        return set(asyncio.all_tasks()) - before - {asyncio.current_task()}

    assert lab.run(finished()) == set()
