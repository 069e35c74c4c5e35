"""Frame headers, HTTP heads, ws:// URIs and the error fields of wslab.protocol.

Header bytes are checked against wsproto (an independent codec) and the
examples of RFC 6455 section 5.7; URIs against RFC 6455 section 3; every error
a caller reacts to carries a stable ``rule`` and declared fields.
"""

from __future__ import annotations

import pytest
import wsproto.frame_protocol as wsp
from hypothesis import given, settings
from hypothesis import strategies as st

import wslab
from wslab.net.errors import LabTimeout
from wslab.protocol import frames, handshake
from wslab.protocol.errors import HandshakeError, NeedMoreData, ProtocolError, WSLabError
from wslab.protocol.frames import FrameHeader, Opcode, decode_header, encode_header
from wslab.protocol.uri import WsUri, host_for_url, origin_of, parse_ws_uri

# ---------------------------------------------------------------------------
# Frame headers

RFC_5_7 = [  # (frame bytes, opcode, fin, length, mask key) from RFC 6455 section 5.7
    (bytes.fromhex("810548656c6c6f"), Opcode.TEXT, True, 5, None),
    (bytes.fromhex("818537fa213d7f9f4d5158"), Opcode.TEXT, True, 5, bytes.fromhex("37fa213d")),
    (bytes.fromhex("010348656c"), Opcode.TEXT, False, 3, None),
    (bytes.fromhex("80026c6f"), Opcode.CONTINUATION, True, 2, None),
    (bytes.fromhex("890548656c6c6f"), Opcode.PING, True, 5, None),
    (bytes.fromhex("8a8537fa213d7f9f4d5158"), Opcode.PONG, True, 5, bytes.fromhex("37fa213d")),
    (bytes.fromhex("827e0100") + bytes(256), Opcode.BINARY, True, 256, None),
    (bytes.fromhex("827f0000000000010000") + bytes(65536), Opcode.BINARY, True, 65536, None),
]


@pytest.mark.parametrize("data, opcode, fin, length, key", RFC_5_7)
def test_rfc_examples_decode_and_encode(data, opcode, fin, length, key):
    h = decode_header(data)
    assert (h.opcode, h.fin, h.length, h.mask_key, h.masked) == (opcode, fin, length, key,
                                                                 key is not None)
    assert h.frame_size == len(data) and not (h.rsv1 or h.rsv2 or h.rsv3)
    assert encode_header(opcode=opcode, length=length, fin=fin, mask_key=key) \
        == data[:h.header_size]
    assert frames.header_size(data[1]) == h.header_size


def _wsproto_server_bytes(opcode: Opcode, payload: bytes, fin: bool) -> bytes:
    proto = wsp.FrameProtocol(client=False, extensions=[])
    if opcode == Opcode.PING:
        return proto.ping(payload)
    if opcode == Opcode.PONG:
        return proto.pong(payload)
    return proto.send_data(payload if opcode == Opcode.BINARY else payload.decode("latin-1"),
                           fin)


@settings(max_examples=300, deadline=None)
@given(opcode=st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG]),
       size=st.one_of(st.integers(0, 125), st.integers(126, 70000)), fin=st.booleans())
def test_header_round_trip_against_wsproto(opcode, size, fin):
    if opcode.is_control:
        size, fin = size % 126, True
    payload = b"a" * size
    wire = _wsproto_server_bytes(opcode, payload, fin)
    header = encode_header(opcode=opcode, length=size, fin=fin)
    assert wire == header + payload  # wsproto writes the same header, byte for byte
    h = decode_header(wire, require_mask=False)
    assert h == FrameHeader(fin, False, False, False, opcode, False, size, len(header))
    # and wsproto reads what wslab writes (a masked client frame this time)
    reader = wsp.FrameProtocol(client=False, extensions=[])
    reader.receive_bytes(frames.encode_frame(frames.Frame(opcode, payload, fin=fin,
                                                          mask_key=b"\x01\x02\x03\x04")))
    got = next(iter(reader.received_frames()))
    assert (got.opcode.value, got.message_finished, len(got.payload)) == (opcode, fin, size)


def test_decode_header_needs_more_data_and_names_rules():
    for prefix, needed in ((b"", 2), (b"\x81", 1), (b"\x82\x7e\x01", 1), (b"\x82\x7f", 8),
                           (b"\x81\x85\x00", 3)):
        with pytest.raises(NeedMoreData) as info:
            decode_header(prefix)
        assert info.value.needed == needed
    cases = [
        (b"\xc1\x00", {}, "RSV1 set without a negotiated extension", 1),
        (b"\xc0\x00", {"extensions_rsv1": True}, "RSV1 on a continuation or control frame", 1),
        (b"\xa1\x00", {}, "RSV2 set without a negotiated extension", 2),
        (b"\x91\x00", {}, "RSV3 set without a negotiated extension", 3),
        (b"\x83\x00", {}, "reserved opcode", 4),
        (b"\x09\x00", {}, "fragmented control frame", 0),
        (b"\x81\x00", {"require_mask": True}, "unmasked client frame", 8),
        (b"\x81\x80abcd", {"require_mask": False}, "masked server frame", 8),
        (b"\x89\x7e", {}, "control frame over 125 bytes", 9),
        (b"\x82\x7e\x00\x10", {}, "non-minimal payload length", 16),
        (b"\x82\x7f" + (1 << 63).to_bytes(8, "big"), {}, "64-bit length with its top bit set", 16),
        (b"\x82\x0a", {"max_size": 5}, "message too big", 9),
    ]
    for data, options, rule, bit in cases:
        with pytest.raises(ProtocolError) as info:
            decode_header(data, **options)
        exc = info.value
        assert (exc.rule, exc.bit) == (rule, bit), data
        assert exc.close_code == (1009 if rule == "message too big" else 1002)
        assert exc.rfc and isinstance(exc, WSLabError)


def test_encode_header_refuses_bad_fields():
    for kwargs in ({"opcode": 16, "length": 0}, {"opcode": 1, "length": -1},
                   {"opcode": 1, "length": 1 << 63}, {"opcode": 1, "length": 0, "mask_key": b"ab"}):
        with pytest.raises(ValueError):
            encode_header(**kwargs)


def test_split_frames_matches_frame_parser():
    wire = b"".join(frames.encode_frame(f) for f in (
        frames.Frame.text("hi"), frames.Frame.binary(b"x" * 300), frames.Frame.ping(b"p"),
        frames.Frame.binary(b"y" * 70000), frames.Frame.close(1000, "bye")))
    for cut in (0, 1, 5, 310, len(wire) - 3, len(wire)):
        got, rest = frames.split_frames(wire[:cut])
        parsed = frames.FrameParser(require_mask=False).feed(wire[:cut])
        assert got == [(int(f.opcode), f.payload) for f in parsed]
        assert len(rest) == cut - sum(len(frames.encode_frame(f)) for f in parsed)


# ---------------------------------------------------------------------------
# HTTP heads


def test_split_head_returns_head_and_rest():
    req = handshake.build_request(host="h", key=handshake.make_key())
    assert handshake.split_head(req[:-1]) is None
    assert handshake.split_head(req + b"\x81\x00") == (req, b"\x81\x00")
    assert handshake.split_head(bytearray(req)) == (req, b"")


def test_split_head_limits():
    head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    assert handshake.split_head(head, limit=len(head)) == (head, b"")
    with pytest.raises(HandshakeError) as info:
        handshake.split_head(head, limit=len(head) - 1)
    assert (info.value.status, info.value.rule) == (431, "header block too large")
    with pytest.raises(HandshakeError):  # the limit reached without the blank line
        handshake.split_head(b"x" * 100, limit=100)
    assert handshake.split_head(b"x" * 99, limit=100) is None
    for bad in (3, 0, True, "64"):
        with pytest.raises(ValueError, match="limit"):
            handshake.split_head(head, limit=bad)
    with pytest.raises(ValueError):
        handshake.split_head("GET / HTTP/1.1\r\n\r\n")


def test_status_and_content_length():
    assert handshake.status_of(b"HTTP/1.1 101 Switching Protocols\r\n\r\n") == 101
    assert handshake.status_of(b"HTTP/1.1 404\r\n\r\n") == 404
    assert handshake.status_of(b"GET / HTTP/1.1\r\n\r\n") is None
    assert handshake.content_length(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n") == 12
    assert handshake.content_length(b"HTTP/1.1 200 OK\r\n\r\n") == 0
    with pytest.raises(HandshakeError) as info:
        handshake.content_length(b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n")
    assert info.value.rule == "malformed Content-Length"


# ---------------------------------------------------------------------------
# ws:// and wss:// URIs (RFC 6455 section 3)


@pytest.mark.parametrize("url, expected", [
    ("ws://example.com", WsUri(False, "example.com", 80, "/", "ws")),
    ("wss://example.com", WsUri(True, "example.com", 443, "/", "wss")),
    ("WS://Example.COM:8080/chat?room=1&x=2", WsUri(False, "example.com", 8080,
                                                    "/chat?room=1&x=2", "ws")),
    ("ws://127.0.0.1:8888/echo", WsUri(False, "127.0.0.1", 8888, "/echo", "ws")),
    ("ws://[::1]:9000/", WsUri(False, "::1", 9000, "/", "ws")),
    ("wss://[2001:db8::1]/a", WsUri(True, "2001:db8::1", 443, "/a", "wss")),
    ("ws://h?q", WsUri(False, "h", 80, "/?q", "ws")),
])
def test_valid_ws_uris(url, expected):
    assert parse_ws_uri(url) == expected


def test_uri_host_header_and_url():
    assert parse_ws_uri("ws://h/").host_header == "h"  # default port left out
    assert parse_ws_uri("ws://h:81/").host_header == "h:81"
    assert parse_ws_uri("wss://[::1]:443/").host_header == "[::1]"
    assert parse_ws_uri("ws://[::1]:8/x?y").url == "ws://[::1]:8/x?y"


@pytest.mark.parametrize("url, says", [
    ("http://h/", "ws:// or wss://"),
    ("ftp://h/", "ws:// or wss://"),
    ("//h/", "ws:// or wss://"),
    ("/chat", "ws:// or wss://"),
    ("ws://h/chat#part", "fragment"),
    ("ws://h/#", "fragment"),
    ("ws:///chat", "needs a host"),
    ("ws://h:0/", "1..65535"),
    ("ws://h:65536/", "1..65535"),
    ("ws://h:port/", "1..65535"),
    ("ws://h:/", "1..65535"),
    ("ws://::1/", "brackets"),
    ("ws://[::1/", "brackets"),
    ("ws://user:pw@h/", "user:password"),
    ("ws://h/a b", "spaces"),
    ("ws://h/\r\n", "control"),
])
def test_invalid_ws_uris(url, says):
    with pytest.raises(ValueError, match=says):
        parse_ws_uri(url)


def test_uri_schemes_option_and_non_strings():
    assert parse_ws_uri("http://h:8/x", schemes=("ws", "http")).port == 8
    with pytest.raises(ValueError):
        parse_ws_uri(b"ws://h/")


def test_origin_and_host_helpers():
    assert origin_of("HTTP://Example.com:80/path") == "http://example.com"
    assert origin_of("https://[::1]:8443") == "https://[::1]:8443"
    with pytest.raises(ValueError):
        origin_of("example.com")
    assert host_for_url("0.0.0.0") == "127.0.0.1" and host_for_url("::") == "[::1]"
    assert host_for_url("::1") == "[::1]" and host_for_url("localhost") == "localhost"


# ---------------------------------------------------------------------------
# Error fields


def test_error_fields_are_declared():
    exc = ProtocolError("m")
    assert (exc.rule, exc.close_code, exc.offset, exc.bit, exc.rfc, exc.frames) == \
        ("protocol error", 1002, None, None, "", [])
    more = NeedMoreData("m", needed=3, frame_size=10)
    assert (more.needed, more.frame_size) == (3, 10)
    h = HandshakeError("m", status=426, rule="r", rfc="4.4", headers=(("A", "b"),))
    assert (h.status, h.rule, h.rfc, h.headers, h.response) == (426, "r", "4.4", (("A", "b"),),
                                                                None)


def test_frame_parser_error_keeps_earlier_frames():
    parser = frames.FrameParser(require_mask=True)
    good = frames.encode_frame(frames.Frame.text("ok", mask_key=b"abcd"))
    with pytest.raises(ProtocolError) as info:
        parser.feed(good + b"\x81\x00")
    assert [f.payload for f in info.value.frames] == [b"ok"]
    assert info.value.rule == "unmasked client frame"
    with pytest.raises(ProtocolError) as again:
        parser.feed(b"")
    assert again.value.rule == "unmasked client frame"


def test_handshake_errors_carry_rfc_headers_and_response():
    key = handshake.make_key()
    req = handshake.build_request(host="h", key=key, version=8)
    with pytest.raises(HandshakeError) as info:
        handshake.parse_request(req)
    assert info.value.status == 426 and info.value.rfc.startswith("4.2.1")
    assert ("Sec-WebSocket-Version", "13") in info.value.headers
    with pytest.raises(HandshakeError) as info:
        handshake.check_response(b"HTTP/1.1 403 Forbidden\r\n\r\n", key)
    assert info.value.rule == "status is not 101" and info.value.response.status == 403


def test_assembler_and_deflate_rules():
    from wslab.protocol.assembler import MessageAssembler
    from wslab.protocol.deflate import PerMessageDeflate
    asm = MessageAssembler()
    with pytest.raises(ProtocolError) as info:
        asm.add(frames.Frame(Opcode.CONTINUATION, b"x"))
    assert info.value.rule == "continuation frame without a message"
    asm.add(frames.Frame(Opcode.TEXT, b"a", fin=False))
    with pytest.raises(ProtocolError) as info:
        asm.add(frames.Frame(Opcode.TEXT, b"b"))
    assert info.value.rule == "new data frame inside a fragmented message"
    with pytest.raises(ProtocolError) as info:
        MessageAssembler().add(frames.Frame(Opcode.TEXT, b"\xff"))
    assert (info.value.rule, info.value.close_code) == ("invalid UTF-8 in text", 1007)
    with pytest.raises(ProtocolError) as info:
        MessageAssembler().add(frames.Frame(Opcode.TEXT, b"x", rsv1=True))
    assert info.value.rule == "RSV1 set without a negotiated extension"
    with pytest.raises(ProtocolError) as info:
        PerMessageDeflate(is_server=True).decompress(b"\xff\xff\xff")
    assert info.value.rule == "invalid compressed data"


def test_client_timeouts_are_lab_timeouts(server):
    with wslab.connect(server.url) as client:
        with pytest.raises(LabTimeout) as info:
            client.recv(timeout=0.05)
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, WSLabError)
        assert server.url in str(info.value)
    with pytest.raises(ValueError, match="fragment"):
        wslab.connect(server.url + "#x")
