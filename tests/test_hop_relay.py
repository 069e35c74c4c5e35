"""wslab.net.hop_relay.carry between real peers, without a Jupyter server.

A plain Tornado handler on the lab loop calls ``carry`` exactly as the Jupyter server
extension does (minus the Jupyter server's checks, tested in test_hop_jupyter.py).
Peers: wslab's own server, the `websockets` library's client, and a raw socket that
sends bytes the test chose.
"""

from __future__ import annotations

import socket
import time

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.sync.client import connect as ws_connect

import wslab
from tests.conftest import wait_until
from wslab.net import loop as lab
from wslab.net.hop_relay import CHUNK, HopRecord, HopUnreachable, carry
from wslab.protocol import frames as fr
from wslab.protocol import handshake as hs
from wslab.protocol.hop import is_upgrade, split_route


class _Carry(tornado.web.RequestHandler):
    async def get(self, rest: str) -> None:
        port, target = split_route(rest, self.request.query)
        headers = list(self.request.headers.get_all())
        record = HopRecord(port=port, target=target, websocket=is_upgrade(headers),
                           started=time.time())
        self.settings["records"].append(record)
        try:
            await carry(method="GET", target=target, headers=headers, host="127.0.0.1",
                        port=port, detach=self.detach, record=record)
        except HopUnreachable as exc:
            raise tornado.web.HTTPError(exc.status, str(exc)) from None


class Relay:
    """The relay on the lab loop at ``127.0.0.1:port``; ``records``: one per request."""

    def __init__(self) -> None:
        self.records: list[HopRecord] = []
        self.server, self.port = lab.run(self._start(), what="starting the test relay")

    async def _start(self):
        app = tornado.web.Application([(r"/wslab/(.*)", _Carry)], records=self.records,
                                      log_function=lambda handler: None)
        server = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        return server, sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()

    def url(self, port: int, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}/wslab/{port}{path}"

    def stop(self) -> None:
        lab.run(self._stop(), what="stopping the test relay")


@pytest.fixture
def relay():
    r = Relay()
    yield r
    r.stop()


def test_close_codes_subprotocol_and_compression_are_the_two_ends_own(relay):
    server = wslab.serve(name="hop-relay", subprotocols=["b.v1"], compression=True)
    try:
        @server.on_message
        def handle(conn, message):
            if message == "close me":
                conn.close(4001, "custom reason")
            else:
                conn.send(message)

        url = relay.url(server.port, "/echo")
        with ws_connect(url, subprotocols=["a.v1", "b.v1"]) as ws:
            # the kernel's server chose b.v1 (RFC 6455 4.2.2), and agreed permessage-deflate
            assert ws.subprotocol == "b.v1"
            assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
            ws.send("hello " * 100)
            assert ws.recv(timeout=10) == "hello " * 100
            ws.close(4002, "bye")
        wait_until(lambda: server.events.of("close"), 10, what="the server's close event")
        closes = [e for e in server.events.of("close") if e.extra.get("direction") == "in"
                  or getattr(e, "direction", "") == "in"] or server.events.of("close")
        assert any(e.code == 4002 and e.reason == "bye" for e in closes), closes
        opened = server.events.of("open")[-1]
        assert opened.extra["subprotocol"] == "b.v1"

        with ws_connect(url) as ws:
            ws.send("close me")
            with pytest.raises(WsClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd.code == 4001 and closed.value.rcvd.reason == "custom reason"
    finally:
        server.stop()
    assert [r.status for r in relay.records] == [101, 101]
    assert all(r.ended is not None and r.buffered_peak <= CHUNK for r in relay.records)


def _recv_until(sock: socket.socket, n: int) -> bytes:
    data = b""
    sock.settimeout(10)
    while len(data) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_the_kernels_server_receives_the_clients_own_bytes(relay):
    """A Tap in front of the kernel's server sees the client's frames byte for byte: the
    client's mask keys, its Close frame, unchanged (a terminating proxy would re-mask)."""
    server = wslab.serve(name="hop-bytes")
    tap = wslab.Tap(server.url)
    try:
        key = hs.make_key()
        request = hs.build_request(host=f"127.0.0.1:{relay.port}",
                                   path=f"/wslab/{tap.port}/echo", key=key)
        text = fr.encode_frame(fr.Frame(fr.Opcode.TEXT, b"Hello", mask_key=b"\x37\xfa\x21\x3d"))
        close = fr.encode_frame(fr.Frame(fr.Opcode.CLOSE, b"\x0f\xa2bye",  # 4002 "bye"
                                         mask_key=b"\x01\x02\x03\x04"))
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
            sock.sendall(request)
            head = _recv_until(sock, 1)
            while b"\r\n\r\n" not in head:
                head += sock.recv(4096)
            head, rest = hs.split_head(head)
            hs.check_response(head, key)
            sock.sendall(text + close)
            answer = rest + _recv_until(sock, 7 + 7)  # the echo, then the server's Close
        wait_until(lambda: len([r for r in tap.frames if r.direction.startswith("client")]) >= 2,
                   10, what="the tap saw the client's two frames")
        sent = [r for r in tap.frames if r.direction.startswith("client")]
        assert [(r.opcode, r.mask_key, r.payload) for r in sent] == [
            ("TEXT", b"\x37\xfa\x21\x3d", b"Hello"), ("CLOSE", b"\x01\x02\x03\x04", b"\x0f\xa2bye")]
        upstream = b"".join(s.data for s in tap.segments if s.from_client)
        assert upstream.endswith(text + close)  # the very bytes, after the forwarded head
        downstream = b"".join(s.data for s in tap.segments if not s.from_client)
        assert downstream.endswith(answer)  # and the server's bytes reached the client as sent
        assert fr.decode_frame(answer)[0].payload == b"Hello"
        wait_until(lambda: server.events.of("close"), 10, what="close event")
        assert any(e.code == 4002 and e.reason == "bye" for e in server.events.of("close"))
    finally:
        tap.stop()
        server.stop()


def test_a_slow_reader_cannot_make_the_relay_buffer_grow(relay):
    """The client stops reading: the relay holds at most one chunk, the kernel's server
    feels the back-pressure and fails the client as a slow consumer (1013)."""
    server = wslab.serve(name="hop-slow", send_buffer_max=1 << 20)
    try:
        key = hs.make_key()
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            sock.sendall(hs.build_request(host=f"127.0.0.1:{relay.port}",
                                          path=f"/wslab/{server.port}/echo", key=key))
            wait_until(lambda: server.clients, 10, what="the client's connection")
            client_id = server.clients[0].id
            blob = b"x" * (1 << 20)
            sent = 0
            while sent < 256 and not server.events.of("close"):
                server.send(client_id, blob)  # the client reads nothing
                sent += 1
            wait_until(lambda: any(e.code == 1013 for e in server.events.of("close")), 30,
                       what="the server failing the slow consumer with 1013")
        record = relay.records[0]
        wait_until(lambda: record.ended is not None, 10, what="the relay ending the hop")
        assert record.buffered_peak <= CHUNK, record
        # what passed is what the sockets' buffers took, not the 1 MiB messages queued
        assert record.down < min(sent * len(blob), 64 << 20), (record.down, sent)
    finally:
        server.stop()


def test_a_refused_upgrade_and_a_silent_port_reach_the_client_as_http_errors(relay):
    server = wslab.serve(name="hop-refused")
    try:
        # the kernel's server refuses this Origin (403): its answer reaches the client
        with pytest.raises(Exception, match="403"):
            ws_connect(relay.url(server.port, "/echo"), origin="http://evil.example",
                       open_timeout=10)
        assert relay.records[-1].status == 403
        # a page through the relay: one response, then both connections close
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
            sock.sendall(f"GET /wslab/{server.port}/ HTTP/1.1\r\nHost: 127.0.0.1:{relay.port}"
                         "\r\n\r\n".encode())
            page = _recv_until(sock, 1 << 20)
        assert page.startswith(b"HTTP/1.1 200") and b"new WebSocket" in page
    finally:
        server.stop()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        nobody = free.getsockname()[1]
    with pytest.raises(Exception, match="502"):
        ws_connect(relay.url(nobody, "/echo"), open_timeout=10)
