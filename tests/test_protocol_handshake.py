"""Layer 1 opening handshake: RFC 6455 section 4, byte-exact."""

from __future__ import annotations

import base64

import pytest

from wslab.protocol import handshake
from wslab.protocol.errors import HandshakeError, NeedMoreData
from wslab.protocol.handshake import (
    Headers,
    accept_key,
    build_error_response,
    build_request,
    build_response,
    check_response,
    make_key,
    parse_request,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request(**changes) -> bytes:
    options = {"host": "server.example.com", "path": "/chat", "key": KEY}
    options.update(changes)
    return build_request(**options)


def raw_request(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


GOOD_LINES = ("GET /chat HTTP/1.1", "Host: server.example.com", "Upgrade: websocket",
              "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13")


def without(name: str, *extra: str) -> bytes:
    return raw_request(*[line for line in GOOD_LINES if not line.startswith(name)], *extra)


def test_rfc_1_3_accept_key_example():
    """RFC 6455 1.3: key dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=."""
    assert accept_key(KEY) == ACCEPT
    assert accept_key(KEY.encode()) == ACCEPT
    assert handshake.GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_make_key_is_16_random_bytes_in_base64():
    """RFC 6455 4.1 item 7: the key is a random 16-byte value, base64-encoded."""
    keys = {make_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(k, validate=True)) == 16 for k in keys)


def test_build_request_exact_bytes():
    """RFC 6455 4.1 and the example of 1.2: the client's GET, CRLF line by line."""
    data = build_request(host="server.example.com", path="/chat", key=KEY,
                         origin="http://example.com", subprotocols=("chat", "superchat"),
                         extensions=("permessage-deflate; client_max_window_bits",),
                         headers=[("User-Agent", "wslab")])
    assert data == (
        b"GET /chat HTTP/1.1\r\n"
        b"Host: server.example.com\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Origin: http://example.com\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        b"User-Agent: wslab\r\n"
        b"\r\n")


def test_build_request_refuses_bad_arguments():
    """RFC 6455 4.1: bad arguments raise ValueError saying what is allowed."""
    with pytest.raises(ValueError, match="start with '/'"):
        request(path="chat")
    with pytest.raises(ValueError, match="CR"):
        request(headers={"X-Evil": "a\r\nInjected: 1"})
    with pytest.raises(ValueError, match="not one string"):
        request(subprotocols="chat")
    with pytest.raises(ValueError, match="version"):
        request(version="13")


def test_parse_request_roundtrip():
    """RFC 6455 4.2.1: a valid request parses into its parts."""
    data = request(origin="http://example.com", subprotocols=("chat", "superchat"),
                   extensions=("permessage-deflate; client_max_window_bits", "x-foo"))
    req = parse_request(data + b"\x81\x80extra-frame-bytes")
    assert (req.method, req.path, req.key, req.version) == ("GET", "/chat", KEY, 13)
    assert req.origin == "http://example.com" and req.host == "server.example.com"
    assert req.subprotocols == ("chat", "superchat")
    assert req.extensions == ("permessage-deflate; client_max_window_bits", "x-foo")
    assert req.size == len(data)
    assert req.get("sec-websocket-key") == KEY and req.headers["UPGRADE"] == "websocket"
    assert isinstance(req.headers, Headers) and hash(req)


def test_parse_request_is_tolerant_where_http_allows():
    """RFC 6455 4.2.1 / RFC 7230: token lists, any case, repeated headers."""
    data = raw_request("GET / HTTP/1.1", "host: h", "upgrade: WebSocket",
                       "connection: keep-alive, Upgrade", f"sec-websocket-key: {KEY}",
                       "sec-websocket-version: 13", "Sec-WebSocket-Protocol: a",
                       "Sec-WebSocket-Protocol: b")
    req = parse_request(data)
    assert req.subprotocols == ("a", "b")
    assert req.headers.get_all("sec-websocket-protocol") == ["a", "b"]


@pytest.mark.parametrize("cut", [0, 1, 10, 50, -3, -1])
def test_parse_request_incomplete_needs_more_data(cut):
    """RFC 6455 4.2.1: a header block without its blank line yet is incomplete."""
    data = request()
    with pytest.raises(NeedMoreData):
        parse_request(data[:cut])


@pytest.mark.parametrize(("data", "rule"), [
    (raw_request("POST /chat HTTP/1.1", *GOOD_LINES[1:]), "method is not GET"),
    (raw_request("GET /chat HTTP/1.0", *GOOD_LINES[1:]), "HTTP version is not 1.1"),
    (raw_request("GET /chat", *GOOD_LINES[1:]), "malformed request line"),
    (without("Host"), "missing Host"),
    (without("Upgrade"), "missing Upgrade: websocket"),
    (without("Upgrade", "Upgrade: h2c"), "missing Upgrade: websocket"),
    (without("Connection"), "Connection header lacks Upgrade"),
    (without("Connection", "Connection: keep-alive"), "Connection header lacks Upgrade"),
    (without("Sec-WebSocket-Key"), "missing Sec-WebSocket-Key"),
    (without("Sec-WebSocket-Key", "Sec-WebSocket-Key: c2hvcnQ="),
     "Sec-WebSocket-Key is not 16 bytes in base64"),
    (without("Sec-WebSocket-Key", "Sec-WebSocket-Key: not base64!!"),
     "Sec-WebSocket-Key is not 16 bytes in base64"),
    (raw_request(*GOOD_LINES, " folded"), "malformed header line"),
    (raw_request(*GOOD_LINES, "NoColon"), "malformed header line"),
    (b"GET / HTTP/1.1\nHost: x\n\n", "lines must end with CRLF"),
])
def test_parse_request_400(data, rule):
    """RFC 6455 4.2.1 / 4.2.2: a malformed handshake gets 400 Bad Request, naming the rule."""
    with pytest.raises(HandshakeError) as info:
        parse_request(data)
    assert info.value.status == 400
    assert info.value.rule == rule
    assert "RFC 6455" in str(info.value)


@pytest.mark.parametrize("version", [8, 12, 14, None])
def test_parse_request_426_wrong_version(version):
    """RFC 6455 4.2.2 / 4.4: another version gets 426 and Sec-WebSocket-Version: 13."""
    with pytest.raises(HandshakeError) as info:
        parse_request(request(version=version))
    assert info.value.status == 426
    assert ("Sec-WebSocket-Version", "13") in info.value.headers
    answer = build_error_response(info.value.status, info.value.rule)
    assert answer.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in answer


def test_parse_request_403_origin():
    """RFC 6455 4.2.2 / 10.2: an origin outside allowed_origins gets 403 Forbidden."""
    allowed = ["http://127.0.0.1:8888"]
    assert parse_request(request(origin="http://127.0.0.1:8888"), allowed_origins=allowed)
    assert parse_request(request(origin="HTTP://127.0.0.1:8888/"), allowed_origins=allowed)
    assert parse_request(request(), allowed_origins=allowed).origin is None  # non-browser
    with pytest.raises(HandshakeError) as info:
        parse_request(request(origin="http://evil.example"), allowed_origins=allowed)
    assert info.value.status == 403 and info.value.rule == "origin not allowed"
    with pytest.raises(ValueError, match="not one string"):
        parse_request(request(), allowed_origins="http://127.0.0.1:8888")


def test_build_response_exact_bytes():
    """RFC 6455 4.2.2: 101 Switching Protocols with the accept value."""
    assert build_response(key=KEY, subprotocol="chat",
                          extensions=("permessage-deflate",)) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
        b"\r\n")


def test_build_error_response():
    """RFC 6455 4.2.2: a refused handshake gets an ordinary HTTP error answer."""
    data = build_error_response(403, "origin not allowed")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"Content-Length: 19" in head and body == b"origin not allowed\n"
    with pytest.raises(ValueError, match="300..599"):
        build_error_response(200, "ok")


def test_check_response_accepts_a_good_answer():
    """RFC 6455 4.1: the client checks the 101 answer; frames may follow it."""
    data = build_response(key=KEY, subprotocol="chat", extensions=("permessage-deflate",))
    resp = check_response(data + b"\x81\x02hi", KEY, subprotocols=("chat",),
                          extensions=("permessage-deflate; client_max_window_bits",))
    assert resp.status == 101 and resp.accept == ACCEPT
    assert resp.subprotocol == "chat" and resp.extensions == ("permessage-deflate",)
    assert resp.size == len(data)
    with pytest.raises(NeedMoreData):
        check_response(data[:-1], KEY)


def _response(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


GOOD_RESPONSE = ("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}")


@pytest.mark.parametrize(("data", "rule", "options"), [
    (_response("HTTP/1.1 403 Forbidden", "Content-Length: 0"), "status is not 101", {}),
    (_response("HTTP/1.1 426 Upgrade Required", "Sec-WebSocket-Version: 13"),
     "status is not 101", {}),
    (_response("garbage"), "malformed status line", {}),
    (_response("HTTP/1.0 101 Switching Protocols", *GOOD_RESPONSE[1:]),
     "status line is not HTTP/1.1", {}),
    (_response(GOOD_RESPONSE[0], *GOOD_RESPONSE[2:]), "missing Upgrade: websocket", {}),
    (_response(GOOD_RESPONSE[0], GOOD_RESPONSE[1], GOOD_RESPONSE[3]),
     "Connection header lacks Upgrade", {}),
    (_response(*GOOD_RESPONSE[:3]), "missing Sec-WebSocket-Accept", {}),
    (_response(*GOOD_RESPONSE[:3], "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
     "Sec-WebSocket-Accept does not match the key", {}),
    (_response(*GOOD_RESPONSE, "Sec-WebSocket-Protocol: chat"),
     "server chose a subprotocol the client did not offer", {"subprotocols": ("soap",)}),
    (_response(*GOOD_RESPONSE, "Sec-WebSocket-Protocol: chat, soap"),
     "server chose more than one subprotocol", {"subprotocols": ("chat", "soap")}),
    (_response(*GOOD_RESPONSE, "Sec-WebSocket-Extensions: permessage-deflate"),
     "server accepted an extension the client did not offer", {}),
])
def test_check_response_names_the_broken_rule(data, rule, options):
    """RFC 6455 4.1 (client checks 1-6) / 4.2.2: each bad answer names exactly which rule broke."""
    with pytest.raises(HandshakeError) as info:
        check_response(data, KEY, **options)
    assert info.value.rule == rule
    assert "RFC 6455 4." in str(info.value)


def test_check_response_error_carries_the_server_status():
    """RFC 6455 4.1: a refused handshake shows the server's real status."""
    with pytest.raises(HandshakeError) as info:
        check_response(build_error_response(403, "origin not allowed"), KEY)
    assert info.value.status == 403
    assert info.value.response.reason == "Forbidden"


def test_client_and_server_agree():
    """RFC 6455 4.1 / 4.2: what build_request sends, parse_request accepts, and back."""
    key = make_key()
    req = parse_request(build_request(host="127.0.0.1:8888", key=key, subprotocols=("a", "b")))
    answer = build_response(key=req.key, subprotocol=req.subprotocols[1])
    assert check_response(answer, key, subprotocols=("a", "b")).subprotocol == "b"


def test_headers_mapping():
    """RFC 7230 3.2: header names are case-insensitive; repeats join with ', '."""
    h = Headers([("A", "1"), ("b", "2"), ("a", "3")])
    assert h["a"] == "1, 3" and h.get("B") == "2" and h.get("c") is None
    assert list(h) == ["A", "b"] and len(h) == 2 and "A" in h
    assert h.items() == [("A", "1"), ("b", "2"), ("a", "3")]
    assert handshake.split_header_list('x; a="1,2", y') == ['x; a="1,2"', "y"]
