"""Channels on /pubsub, slow consumers, limits, tokens and TLS: real sockets (issue 6)."""

from __future__ import annotations

import json
import socket
import ssl

import pytest
from websockets.sync.client import connect as ws_connect

import wslab
from tests.conftest import wait_until
from wslab.labs.by_hand import handshake_by_hand


def _j(client, timeout=5):
    return json.loads(client.recv(timeout=timeout))


# --- channels -------------------------------------------------------------------------------
def test_channels_over_one_connection(server):
    a, b, c = (wslab.connect(server.pubsub_url) for _ in range(3))
    try:
        for cl, ch in ((a, "news"), (b, "news"), (c, "sport")):
            cl.send(json.dumps({"op": "sub", "channel": ch}))
            assert _j(cl)["op"] == "subscribed"
        a.send(json.dumps({"op": "pub", "channel": "news", "data": {"headline": "hi"}}))
        for cl in (a, b):
            msg = _j(cl)
            assert msg["op"] == "msg" and msg["channel"] == "news"
            assert msg["data"] == {"headline": "hi"}
        with pytest.raises(TimeoutError):
            c.recv(timeout=0.2)  # not a member of news
        assert set(server.channels) == {"news", "sport"} and len(server.channels["news"]) == 2
        assert server.publish("sport", 42) == 1 and _j(c)["data"] == 42
        b.send(json.dumps({"op": "unsub", "channel": "news"}))
        assert _j(b)["op"] == "unsubscribed"
        assert server.publish("news", "only a") == 1
    finally:
        for cl in (a, b, c):
            cl.close()
    wait_until(lambda: server.channels == {})  # members forgotten when they leave


@pytest.mark.parametrize("bad, why", [("not json", "not JSON"),
                                      ('{"op": "dance", "channel": "x"}', "unknown op"),
                                      ('{"op": "sub"}', "channel"), ("[1, 2]", "JSON object"),
                                      (b"\x00", "binary")])
def test_bad_envelopes_get_an_error_message_not_a_drop(server, bad, why):
    with wslab.connect(server.pubsub_url) as c:
        c.send(bad)
        reply = _j(c)
        assert reply["op"] == "error" and why in reply["error"]
        c.send(json.dumps({"op": "sub", "channel": "still-open"}))
        assert _j(c)["op"] == "subscribed"


def test_slow_consumer_is_closed_and_fast_clients_get_everything():
    server = wslab.serve(name="slow", send_buffer_max=256 * 1024)
    fast = [wslab.connect(server.url) for _ in range(20)]
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    raw.connect(("127.0.0.1", server.port))
    try:
        raw.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 101")  # ...and then it never reads again
        payload = "x" * 64 * 1024  # 120 x 64 KiB: more than the kernel's socket buffers hold
        for i in range(120):
            server.broadcast(f"{i:03d}{payload}")
        for c in fast:
            got = [c.recv(timeout=20)[:3] for _ in range(120)]
            assert got == [f"{i:03d}" for i in range(120)]
        wait_until(lambda: any("slow consumer" in e.reason for e in server.events.of("error")))
        err = [e for e in server.events.of("error") if "slow consumer" in e.reason][0]
        assert err.code == 1013 and "send_buffer_max" in err.reason
        wait_until(lambda: len(server.clients) == 20)
    finally:
        raw.close()
        for c in fast:
            c.close()
        server.stop()


# --- limits -----------------------------------------------------------------------------------
def test_message_too_big_closes_1009_and_others_continue():
    server = wslab.serve(name="small", max_message_size=1000)
    try:
        with wslab.connect(server.url) as ok, wslab.connect(server.url) as big:
            big.send("x" * 1001)
            with pytest.raises(wslab.ConnectionClosed):
                big.recv(timeout=5)
            assert big.close_code == 1009
            ok.send("y" * 1000)
            assert ok.recv() == "y" * 1000
    finally:
        server.stop()


def test_rate_limit_closes_1008_and_others_continue():
    server = wslab.serve(name="rate", rate_limit=50)
    try:
        with wslab.connect(server.url) as calm, wslab.connect(server.url) as flood:
            for i in range(200):
                try:
                    flood.send(str(i))
                except wslab.ConnectionClosed:
                    break
            wait_until(lambda: flood.state == wslab.State.CLOSED)
            assert flood.close_code == 1008
            assert any("rate limit" in e.reason for e in server.events.of("error"))
            calm.send("fine")
            assert calm.recv() == "fine"
    finally:
        server.stop()


def test_max_connections_answers_503_to_a_storm():
    server = wslab.serve(name="full", max_connections=5)
    clients = [wslab.connect(server.url) for _ in range(5)]
    try:
        refused = 0
        for _ in range(20):  # a connection storm
            with pytest.raises(wslab.ConnectionFailed) as e:
                wslab.connect(server.url)
            refused += e.value.status == 503
        assert refused == 20
        clients[0].send("still served")
        assert clients[0].recv() == "still served"
        assert len(server.events.of("reject")) == 20
    finally:
        for c in clients:
            c.close()
        server.stop()


@pytest.mark.parametrize("kwargs, match", [({"rate_limit": 0}, "rate_limit"),
                                           ({"max_connections": -1}, "max_connections"),
                                           ({"auth": 5}, "auth is a token")])
def test_bad_limit_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wslab.serve(name="bad-limits", **kwargs)


# --- tokens at the handshake ---------------------------------------------------------------------
def test_token_in_query_header_or_cookie():
    server = wslab.serve(name="auth", auth="s3cret")
    try:
        for kwargs in ({"headers": {"Authorization": "Bearer s3cret"}},
                       {"headers": {"Cookie": "wslab_token=s3cret"}}):
            with wslab.connect(server.url, **kwargs) as c:
                c.send("in")
                assert c.recv() == "in"
        with wslab.connect(server.url + "?token=s3cret") as c:
            assert c.state == wslab.State.OPEN
        with pytest.raises(wslab.ConnectionFailed) as e:
            wslab.connect(server.url)
        assert e.value.status == 401
        with pytest.raises(wslab.ConnectionFailed) as e:
            wslab.connect(server.url + "?token=guess")
        assert e.value.status == 403
        t = handshake_by_hand(server.url + "?token=wrong")
        assert t.status == 403 and b"wrong token" in t.response and not t.accepted
        t = handshake_by_hand(server.url)
        assert t.status == 401 and b"www-authenticate: bearer" in t.response.lower()
        assert handshake_by_hand(server.url + "?token=s3cret").echo == "Hello"
        reasons = [e.reason for e in server.events.of("reject")]
        assert any("no token" in r for r in reasons) and any("wrong token" in r for r in reasons)
    finally:
        server.stop()


# --- TLS ------------------------------------------------------------------------------------------
def test_wss_with_a_local_ca():
    server = wslab.serve(name="tls", tls=True)
    try:
        assert server.url.startswith("wss://") and server.page_url.startswith("https://")
        with pytest.raises(wslab.ConnectionFailed, match="not trusted"):
            wslab.connect(server.url)
        with wslab.connect(server.url, ca_file=server.ca_file) as c:
            c.send("over TLS")
            assert c.recv() == "over TLS"
        ctx = ssl.create_default_context(cafile=server.ca_file)
        with ws_connect(server.url, ssl=ctx, open_timeout=5) as ws:  # an independent client
            ws.send("peer")
            assert ws.recv(timeout=5) == "peer"
    finally:
        server.stop()
