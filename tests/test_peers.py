"""Independent peers: the `websockets` library against wslab, both ways."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.sync.client import connect as ws_connect

import wslab
from tests.conftest import wait_until


def test_websockets_client_against_wslab_server(server):
    with ws_connect(server.url, open_timeout=5) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=5) == b"\x00\xff"
        pong = ws.ping(b"p1")
        assert pong.wait(5)
    assert server.events.of("ping")[0].data == b"p1"
    # the peer returns once TCP is closed; the server logs the close a moment later
    wait_until(lambda: server.events.of("close"), what="the server logged the close")
    close = server.events.of("close")[-1]
    assert close.code == 1000


@pytest.mark.parametrize("code, reason", [(1000, ""), (4000, "custom reason")])
def test_websockets_client_close_codes(server, code, reason):
    with ws_connect(server.url, open_timeout=5) as ws:
        ws.close(code, reason)
    wait_until(lambda: server.events.of("close"), what="the server logged the close")
    close = server.events.of("close")[-1]
    assert (close.code, close.reason) == (code, reason)
    assert ws.close_code == code  # the server echoed the code


def test_wslab_server_closes_websockets_client(server):
    with ws_connect(server.url, open_timeout=5) as ws:
        ws.send("x")
        ws.recv(timeout=5)
        server.close_client(server.clients[0].id, 4002, "bye peer")
        with pytest.raises(WsClosed):
            ws.recv(timeout=5)
        assert (ws.close_code, ws.close_reason) == (4002, "bye peer")


def test_wslab_client_against_websockets_server(websockets_server):
    with wslab.connect(websockets_server) as c:
        c.send("hello")
        assert c.recv() == "hello"
        c.send(bytes(range(256)) * 300)
        assert c.recv() == bytes(range(256)) * 300
        assert 0 < c.ping(b"x") < 5
        samples = c.measure_rtt(n=20)
        assert len(samples) == 20
        c.close(4000, "done")
        assert c.close_code == 4000
        assert c.state == wslab.State.CLOSED
