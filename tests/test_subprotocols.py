"""Subprotocol negotiation (RFC 6455 4.2.2) and a chat spoken in two subprotocols."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.sync.client import connect as ws_connect

import wslab
from wslab.labs.subprotocols import (
    BINARY_CHAT,
    JSON_CHAT,
    SUBPROTOCOLS,
    ChatMessage,
    decode,
    encode,
    install_chat,
    wire_sizes,
)

TIMEOUT = 5.0


def _wait_clients(server, n: int, timeout: float = TIMEOUT) -> None:
    """Wait for the server to have registered ``n`` clients (its "open" events)."""
    ready = threading.Event()

    def check(_event=None):
        if len(server.clients) >= n:
            ready.set()

    server.subscribe(check)
    try:
        check()
        assert ready.wait(timeout), f"{len(server.clients)} of {n} clients open"
    finally:
        server.unsubscribe(check)


# --- negotiation ---------------------------------------------------------------------------


def test_server_preference_wins_when_the_client_offers_several():
    """RFC 6455 4.2.2: the server selects one of the offered values; wslab takes its own order."""
    server = wslab.serve(name="pytest-sub", subprotocols=["b", "a"])
    try:
        with wslab.connect(server.url, subprotocols=["a", "b"]) as client:
            assert client.subprotocol == "b"
            _wait_clients(server, 1)
            assert server.clients[0].subprotocol == "b"
        with wslab.connect(server.url, subprotocols=["c", "a"]) as client:
            assert client.subprotocol == "a"
    finally:
        server.stop()


def test_no_common_subprotocol_opens_without_one():
    """No overlap: the server answers 101 WITHOUT Sec-WebSocket-Protocol (RFC 6455 4.2.2
    lets it omit the header: "null" selection), and it is the client's decision whether
    to go on without a subprotocol (4.1 only fails a response naming one it did not
    offer).  Tornado's client goes on: ``client.subprotocol`` is None and echo works."""
    server = wslab.serve(name="pytest-sub", subprotocols=["x"])
    try:
        with wslab.connect(server.url, subprotocols=["y", "z"]) as client:
            assert client.subprotocol is None
            client.send("still open")
            assert client.recv(TIMEOUT) == "still open"
            _wait_clients(server, 1)
            assert server.clients[0].subprotocol is None
        with wslab.connect(server.url) as client:  # no offer at all
            assert client.subprotocol is None
    finally:
        server.stop()


def test_websockets_client_negotiates_a_subprotocol():
    server = wslab.serve(name="pytest-sub", subprotocols=[JSON_CHAT, BINARY_CHAT])
    try:
        with ws_connect(server.url, subprotocols=[BINARY_CHAT, JSON_CHAT],
                        open_timeout=TIMEOUT) as ws:
            assert ws.subprotocol == JSON_CHAT  # the server's first choice
            assert ws.response.headers["Sec-WebSocket-Protocol"] == JSON_CHAT
        with ws_connect(server.url, subprotocols=[BINARY_CHAT], open_timeout=TIMEOUT) as ws:
            assert ws.subprotocol == BINARY_CHAT
        with ws_connect(server.url, subprotocols=["other"], open_timeout=TIMEOUT) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response.headers
    finally:
        server.stop()


# --- the chat ---------------------------------------------------------------------------------


@pytest.fixture
def chat_server():
    srv = wslab.serve(name="pytest-chat", subprotocols=[JSON_CHAT, BINARY_CHAT])
    install_chat(srv)
    yield srv
    srv.stop()


def test_json_and_binary_clients_chat_with_each_other(chat_server):
    j1 = wslab.connect(chat_server.url, subprotocols=[JSON_CHAT])
    j2 = wslab.connect(chat_server.url, subprotocols=[BINARY_CHAT, JSON_CHAT])
    b = wslab.connect(chat_server.url, subprotocols=[BINARY_CHAT])
    try:
        assert (j1.subprotocol, j2.subprotocol, b.subprotocol) == (JSON_CHAT, JSON_CHAT,
                                                                    BINARY_CHAT)
        _wait_clients(chat_server, 3)
        hello = ChatMessage("lobby", "ada", "héllo from JSON 👋")
        j1.send(encode(hello, JSON_CHAT))
        got = b.recv(TIMEOUT)
        assert isinstance(got, bytes) and decode(got, BINARY_CHAT) == hello
        got = j2.recv(TIMEOUT)
        assert isinstance(got, str) and json.loads(got)["text"] == hello.text

        reply = ChatMessage("lobby", "grace", "hi from binary")
        b.send(encode(reply, BINARY_CHAT))
        # j1 never got its own message back: the first thing it receives is the reply
        got = j1.recv(TIMEOUT)
        assert isinstance(got, str) and decode(got, JSON_CHAT) == reply
        assert decode(j2.recv(TIMEOUT), JSON_CHAT) == reply
        last = ChatMessage("lobby", "linus", "")
        j2.send(encode(last, JSON_CHAT))
        assert decode(b.recv(TIMEOUT), BINARY_CHAT) == last  # b's own reply was not echoed
        assert decode(j1.recv(TIMEOUT), JSON_CHAT) == last
    finally:
        for c in (j1, j2, b):
            c.close()


@pytest.mark.parametrize(("sub", "bad", "why"), [
    (JSON_CHAT, "not json", "not valid JSON"),
    (JSON_CHAT, '{"type": "say", "room": "r", "user": "u"}', "missing key"),
    (JSON_CHAT, '{"type": "say", "room": 1, "user": "u", "text": "t"}', "'room'"),
    (JSON_CHAT, b"\x01\x00\x00\x00\x00\x00\x00", "text (JSON)"),
    (JSON_CHAT, '{"type": "error", "room": "", "user": "u", "text": "t"}', "'say'"),
    (BINARY_CHAT, b"\x01\x00", "truncated"),
    (BINARY_CHAT, b"\x09\x00\x00\x00\x00\x00\x00", "type code 0x09"),
    (BINARY_CHAT, b"\x01\x00\x01\xff\x00\x00\x00\x00", "not valid UTF-8"),
    (BINARY_CHAT, "a text message", "binary"),
])
def test_malformed_input_gets_an_error_in_the_senders_format(chat_server, sub, bad, why):
    sender = wslab.connect(chat_server.url, subprotocols=[sub])
    other_sub = BINARY_CHAT if sub == JSON_CHAT else JSON_CHAT
    other = wslab.connect(chat_server.url, subprotocols=[other_sub])
    try:
        _wait_clients(chat_server, 2)
        sender.send(bad)
        answer = sender.recv(TIMEOUT)
        assert isinstance(answer, str if sub == JSON_CHAT else bytes)
        err = decode(answer, sub)
        assert err.type == "error" and err.user == "server" and why in err.text
        # nothing was relayed: the next message the other client gets is a valid one
        ok = ChatMessage("r", "u", "valid")
        sender.send(encode(ok, sub))
        assert decode(other.recv(TIMEOUT), other_sub) == ok
        assert sender.state == wslab.State.OPEN
    finally:
        sender.close()
        other.close()


def test_a_client_without_a_chat_subprotocol_is_told_why(chat_server):
    with wslab.connect(chat_server.url) as client:
        assert client.subprotocol is None
        client.send("hello?")
        err = decode(client.recv(TIMEOUT), JSON_CHAT)
        assert err.type == "error" and "no chat subprotocol" in err.text


def test_install_chat_needs_a_server_offering_the_subprotocols(server):
    with pytest.raises(ValueError, match="subprotocols"):
        install_chat(server)


# --- encoding -----------------------------------------------------------------------------------


_field = st.text(max_size=300)


@given(room=_field, user=_field, text=_field, kind=st.sampled_from(["say", "error"]),
       sub=st.sampled_from(SUBPROTOCOLS))
def test_encode_decode_round_trip(room, user, text, kind, sub):
    msg = ChatMessage(room, user, text, type=kind)
    data = encode(msg, sub)
    assert isinstance(data, str if sub == JSON_CHAT else bytes)
    assert decode(data, sub) == msg


@given(data=st.binary(max_size=64))
def test_binary_decode_of_arbitrary_bytes_returns_or_raises_valueerror(data):
    try:
        msg = decode(data, BINARY_CHAT)
    except ValueError:
        return
    assert encode(msg, BINARY_CHAT) == data  # the layout has one encoding per message


@given(data=st.text(max_size=80))
def test_json_decode_of_arbitrary_text_returns_or_raises_valueerror(data):
    try:
        decode(data, JSON_CHAT)
    except ValueError:
        pass


def test_binary_layout_is_the_documented_one():
    msg = ChatMessage("lobby", "ada", "hi")
    assert encode(msg, BINARY_CHAT) == bytes.fromhex("01 0005 6c6f626279 0003 616461 0002 6869")
    assert encode(msg, JSON_CHAT) == '{"type":"say","room":"lobby","user":"ada","text":"hi"}'
    assert encode(ChatMessage("", "", "", type="error"), BINARY_CHAT) == b"\x02" + b"\x00" * 6


def test_binary_is_smaller_than_json_for_a_typical_message():
    msg = ChatMessage("general", "margaret", "Lunch at 12:30? The usual place.")
    json_bytes = len(encode(msg, JSON_CHAT).encode("utf-8"))
    bin_bytes = len(encode(msg, BINARY_CHAT))
    assert bin_bytes < json_bytes
    assert json_bytes - bin_bytes == len('{"type":"say","room":"","user":"","text":""}') - 7
    sizes = wire_sizes(msg)
    assert sizes[BINARY_CHAT] < sizes[JSON_CHAT]
    assert sizes[BINARY_CHAT] == bin_bytes + 2 + 4  # 2-byte header + masking key
    assert wire_sizes(msg, masked=False)[JSON_CHAT] == json_bytes + 2


@pytest.mark.parametrize(("call", "match"), [
    (lambda: encode(ChatMessage("r", "u", "t"), "chat.xml.v1"), "unknown chat subprotocol"),
    (lambda: decode("{}", None), "unknown chat subprotocol"),
    (lambda: encode("hi", JSON_CHAT), "ChatMessage"),
    (lambda: ChatMessage("r", "u", "t", type="shout"), "type"),
    (lambda: ChatMessage("r", 5, "t"), "user"),
    (lambda: encode(ChatMessage("r", "u", "x" * 70_000), BINARY_CHAT), "65,535"),
    (lambda: encode(ChatMessage("\ud800", "u", "t"), JSON_CHAT), "surrogate"),
])
def test_bad_arguments_raise_valueerror_saying_what_is_wrong(call, match):
    with pytest.raises(ValueError, match=match):
        call()
