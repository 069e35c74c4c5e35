"""The server's chunked receive path and send path (issue 15), over real loopback sockets.

Many frames arrive in one TCP segment: every whole plain frame of a chunk is handled
at once, anything else (fragments, pings, a frame cut by the chunk's end, a broken rule)
frame by frame with every RFC rule.  The bytes are built and read by wslab.protocol.
"""

from __future__ import annotations

import socket

import pytest

import wslab
from wslab.protocol import handshake
from wslab.protocol.frames import Frame, FrameParser, Opcode, encode_frame

KEY = b"\x01\x02\x03\x04"


def _open(url: str) -> tuple[socket.socket, bytes]:
    from wslab.protocol.uri import parse_ws_uri
    uri = parse_ws_uri(url)
    sock = socket.create_connection((uri.host, uri.port), timeout=5)
    key = handshake.make_key()
    sock.sendall(handshake.build_request(host=uri.host_header, path=uri.resource, key=key))
    buf = b""
    while (cut := handshake.split_head(buf)) is None:
        buf += sock.recv(4096)
    handshake.check_response(cut[0], key)
    return sock, cut[1]


def _frames(sock: socket.socket, rest: bytes, until: int) -> list[Frame]:
    parser = FrameParser(require_mask=False)
    got = parser.feed(rest)
    while len(got) < until:
        data = sock.recv(65536)
        if not data:
            break
        got += parser.feed(data)
    return got


def _c(frame: Frame) -> bytes:
    return encode_frame(frame)


def test_many_frames_in_one_segment_are_answered_in_order(server):
    sock, rest = _open(server.url)
    try:
        burst = b"".join([
            *(_c(Frame.text(f"m{i}", mask_key=KEY)) for i in range(50)),
            _c(Frame.binary(b"\x00\xff" * 100, mask_key=KEY)),     # 16-bit length
            _c(Frame.ping(b"p", mask_key=KEY)),                    # control in the batch
            _c(Frame.text("frag-", fin=False, mask_key=KEY)),      # fragmented: slow path
            _c(Frame.ping(b"q", mask_key=KEY)),                    # ping between fragments
            _c(Frame(Opcode.CONTINUATION, b"ment", fin=True, mask_key=KEY)),
            _c(Frame.text("é" * 40, mask_key=KEY)),
        ])
        big = _c(Frame.text("z" * 70_000, mask_key=KEY))          # 64-bit length, cut
        sock.sendall(burst + big[:1000])
        sock.sendall(big[1000:])
        got = _frames(sock, rest, 56)
    finally:
        sock.close()
    texts = [f.payload for f in got if f.opcode in (Opcode.TEXT, Opcode.BINARY)]
    assert texts[:50] == [f"m{i}".encode() for i in range(50)]
    assert texts[50:] == [b"\x00\xff" * 100, b"frag-ment", ("é" * 40).encode(), b"z" * 70_000]
    assert [f.payload for f in got if f.opcode == Opcode.PONG] == [b"p", b"q"]
    ins = [e for e in server.events.of("message") if e.direction == "in"]
    assert len(ins) == 54


@pytest.mark.parametrize("bad, code", [
    (encode_frame(Frame.text("unmasked")), 1002),                              # MASK clear
    (encode_frame(Frame(Opcode.TEXT, b"\xff\xfe", mask_key=KEY)), 1007),       # bad UTF-8
    (encode_frame(Frame(Opcode.CONTINUATION, b"x", mask_key=KEY)), 1002),      # no message open
])
def test_a_broken_rule_after_good_frames_in_the_same_segment(server, bad, code):
    sock, rest = _open(server.url)
    try:
        sock.sendall(b"".join(_c(Frame.text(f"ok{i}", mask_key=KEY)) for i in range(5)) + bad
                     + _c(Frame.text("never read", mask_key=KEY)))
        got = _frames(sock, rest, 6)
    finally:
        sock.close()
    assert [f.payload for f in got[:5]] == [f"ok{i}".encode() for i in range(5)]
    assert got[5].opcode == Opcode.CLOSE and got[5].close_info()[0] == code
    assert len(got) == 6  # nothing after the failing frame was handled


def test_connection_state_and_fixed_attributes(server):
    @server.on_message
    def count(conn, message):
        conn.state["n"] = conn.state.get("n", 0) + 1
        conn.send(f"{message} #{conn.state['n']}")

    with wslab.connect(server.url) as c:
        for i in range(1, 4):
            c.send("hi")
            assert c.recv() == f"hi #{i}"
        conn = server.connection(server.clients[0].id)
        assert not hasattr(conn, "__dict__")  # fixed attributes: one small object per client


def test_broadcast_counts_only_clients_it_reached(server):
    with wslab.connect(server.chat_url) as a, wslab.connect(server.chat_url) as b, \
            wslab.connect(server.url) as e:
        assert server.broadcast("all") == 3
        assert a.recv() == b.recv() == e.recv() == "all"
        assert server.broadcast("chat only", path="/chat") == 2
        assert a.recv() == b.recv() == "chat only"
        ev = server.events.of("message")[-1]
        assert ev.client_id is None and len(ev.extra["recipients"]) == 2
