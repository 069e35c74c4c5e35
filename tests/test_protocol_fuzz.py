"""Layer 1 robustness: arbitrary bytes never raise anything but the protocol's own errors.

RFC 6455 section 7.1.7 ("Fail the WebSocket Connection") presumes a receiver
that detects bad input and says so; a crash (IndexError, struct.error,
UnicodeDecodeError, ...) would be a bug.  Hypothesis feeds random and
half-valid bytes to every parser.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wslab.protocol import explain
from wslab.protocol.assembler import Message, MessageAssembler
from wslab.protocol.deflate import PerMessageDeflate, parse_extension_offer
from wslab.protocol.errors import HandshakeError, NeedMoreData, ProtocolError
from wslab.protocol.frames import Frame, FrameParser, Opcode, decode_frame, encode_frame
from wslab.protocol.handshake import (
    accept_key,
    build_request,
    build_response,
    check_response,
    parse_request,
)

FUZZ = settings(max_examples=5000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ALLOWED = (NeedMoreData, ProtocolError, HandshakeError)
KEY = "dGhlIHNhbXBsZSBub25jZQ=="

# Bytes that look like frames: a plausible first two bytes, then anything.
frame_like = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda a, b, rest: bytes([a, b]) + rest,
              st.integers(0, 255), st.integers(0, 255), st.binary(max_size=140)),
    st.builds(lambda frame, tail: encode_frame(frame, strict=False) + tail,
              st.builds(Frame, st.integers(0, 15), st.binary(max_size=130), st.booleans(),
                        st.booleans(), st.booleans(), st.booleans(),
                        st.one_of(st.none(), st.binary(min_size=4, max_size=4))),
              st.binary(max_size=8)),
)


@FUZZ
@given(data=st.lists(frame_like, min_size=1, max_size=4),
       require_mask=st.sampled_from([None, True, False]), rsv1=st.booleans(),
       max_size=st.one_of(st.none(), st.integers(0, 200)))
def test_frame_parser_only_raises_protocol_errors(data, require_mask, rsv1, max_size):
    """RFC 6455 5.2 / 7.1.7: FrameParser (both masking sides) raises ProtocolError or nothing."""
    parser = FrameParser(require_mask=require_mask, max_size=max_size, extensions_rsv1=rsv1)
    assembler = MessageAssembler(max_size=max_size)
    try:
        for chunk in data:
            for frame in parser.feed(chunk):
                assert isinstance(frame, Frame)
                if require_mask is not None:
                    assert frame.masked == require_mask
                result = assembler.add(frame)
                assert result is None or isinstance(result, (Message, Frame))
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1007, 1009)


@FUZZ
@given(data=frame_like, require_mask=st.sampled_from([None, True, False]))
def test_decode_frame_and_explain_never_crash(data, require_mask):
    """RFC 6455 5.2: decode_frame raises NeedMoreData/ProtocolError; explain never raises."""
    try:
        frame, used = decode_frame(data, require_mask=require_mask)
        assert 2 <= used <= len(data)
        assert encode_frame(frame, strict=False) == data[:used]  # minimal lengths only
    except ALLOWED:
        pass
    ex = explain(data, require_mask=require_mask)
    assert str(ex) and ex._repr_html_()


@FUZZ
@given(frames_=st.lists(st.builds(Frame, st.sampled_from(list(Opcode)), st.binary(max_size=20),
                                  st.booleans(), st.booleans()), max_size=8),
       max_size=st.one_of(st.none(), st.integers(0, 40)))
def test_message_assembler_only_raises_protocol_errors(frames_, max_size):
    """RFC 6455 5.4 / 5.6: any frame sequence is assembled or refused with 1002/1007/1009."""
    assembler = MessageAssembler(max_size=max_size,
                                 deflate=PerMessageDeflate(is_server=False))
    try:
        for frame in frames_:
            assembler.add(frame)
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1007, 1009)


header_line = st.one_of(
    st.sampled_from(["Host: example.com", "Upgrade: websocket", "Connection: Upgrade",
                     f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13",
                     "Sec-WebSocket-Version: 8", "Origin: http://x", "Upgrade: WebSocket",
                     f"Sec-WebSocket-Accept: {accept_key(KEY)}", "Sec-WebSocket-Protocol: a, b",
                     "Sec-WebSocket-Extensions: permessage-deflate; x=\"1,2\"", " folded",
                     "Connection: keep-alive, upgrade", "Sec-WebSocket-Key: ", ":", "X:"]),
    st.text(max_size=30),
)
start_line = st.one_of(
    st.sampled_from(["GET / HTTP/1.1", "GET /chat HTTP/1.0", "POST / HTTP/1.1", "GET  HTTP/1.1",
                     "HTTP/1.1 101 Switching Protocols", "HTTP/1.1 403 Forbidden", "HTTP/1.1",
                     "HTTP/1.1 99", "GET http://x/ HTTP/1.1"]),
    st.text(max_size=30),
)
http_like = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda first, lines, sep, tail: (sep.join([first, *lines]) + sep + sep)
              .encode("utf-8", "surrogatepass") + tail,
              start_line, st.lists(header_line, max_size=10),
              st.sampled_from(["\r\n", "\n", "\r\n"]), st.binary(max_size=10)),
    st.builds(lambda cut: build_request(host="h", key=KEY, subprotocols=("a",))[:cut],
              st.integers(0, 200)),
    st.builds(lambda cut: build_response(key=KEY, subprotocol="a")[:cut], st.integers(0, 200)),
)


@FUZZ
@given(data=http_like, origins=st.one_of(st.none(), st.just(["http://x"])))
def test_parse_request_only_raises_handshake_errors(data, origins):
    """RFC 6455 4.2.1: a server parsing any bytes gets a Request, NeedMoreData or HandshakeError."""
    try:
        req = parse_request(data, allowed_origins=origins)
        assert req.method == "GET" and req.version == 13 and req.size <= len(data)
    except (NeedMoreData, HandshakeError) as exc:
        if isinstance(exc, HandshakeError):
            assert exc.status in (400, 403, 426, 431) and exc.rule


@FUZZ
@given(data=http_like, protocols=st.sampled_from([(), ("a",), ("a", "b")]),
       extensions=st.sampled_from([(), ("permessage-deflate",)]))
def test_check_response_only_raises_handshake_errors(data, protocols, extensions):
    """RFC 6455 4.1: a client checking any bytes gets a Response, NeedMoreData or HandshakeError."""
    try:
        resp = check_response(data, KEY, subprotocols=protocols, extensions=extensions)
        assert resp.status == 101
    except (NeedMoreData, HandshakeError) as exc:
        if isinstance(exc, HandshakeError):
            assert exc.rule


@FUZZ
@given(data=st.binary(max_size=64), header=st.text(max_size=40))
def test_deflate_only_raises_protocol_errors(data, header):
    """RFC 7692 7.2.2: bad DEFLATE data is a ProtocolError (1007), bad offers a HandshakeError."""
    try:
        PerMessageDeflate(is_server=True).decompress(data, max_size=1000)
    except ProtocolError as exc:
        assert exc.close_code in (1007, 1009)
    try:
        parse_extension_offer(header)
    except HandshakeError:
        pass
