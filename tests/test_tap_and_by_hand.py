"""The wire tap and handshake_by_hand against real peers on loopback (RFC 6455 sections 4-5)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess

import pytest
from websockets.sync.client import connect as ws_connect

import wslab
from tests.conftest import need, wait_until
from wslab.labs.by_hand import handshake_by_hand
from wslab.net import loop as lab
from wslab.net.tap import C2S, S2C, Tap
from wslab.ui import views


class FrameLog(logging.Handler):
    """Collects the frames the `websockets` library logs: '>' sent, '<' received."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sent, self.received = [], []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg in ("> %s", "< %s") and record.args:
            (self.sent if record.msg.startswith(">") else self.received).append(record.args[0])


def _logger() -> tuple[logging.Logger, FrameLog]:
    logger = logging.getLogger(f"wslab-test-{id(object())}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = FrameLog()
    logger.addHandler(handler)
    return logger, handler


OPS = {"CONTINUATION": 0, "TEXT": 1, "BINARY": 2, "CLOSE": 8, "PING": 9, "PONG": 10}


def _payload(rec):
    return rec.inflated if rec.compressed and rec.inflated is not None else rec.payload


@pytest.mark.parametrize("compression", [False, True])
def test_tap_records_exactly_the_frames_both_sides_sent(compression):
    server = wslab.serve(name="tapped", compression=compression)
    tap = Tap(server.url)
    logger, log = _logger()
    try:
        with ws_connect(tap.url, logger=logger, open_timeout=5,
                        compression="deflate" if compression else None) as ws:
            ws.send("hello " * 20)
            assert ws.recv(timeout=5) == "hello " * 20
            ws.send(b"\x00\x01" * 100)
            ws.recv(timeout=5)
            ws.send(["frag", "mented ", "message"])  # one message in three frames
            assert ws.recv(timeout=5) == "fragmented message"
            assert ws.ping(b"are you there").wait(5)
            ws.close(4000, "bye")
        wait_until(lambda: any(r.kind == "closed" for r in tap.records))
    finally:
        tap.stop()
        server.stop()
    up = [r for r in tap.frames if r.direction == C2S]
    down = [r for r in tap.frames if r.direction == S2C]
    assert [(int(f.opcode), f.fin) for f in log.sent] == [(OPS[r.opcode], r.fin) for r in up]
    assert [(int(f.opcode), f.fin) for f in log.received] == [(OPS[r.opcode], r.fin) for r in down]
    assert all(r.masked and len(r.mask_key) == 4 for r in up)  # RFC 6455 5.1
    assert not any(r.masked for r in down)
    if not compression:
        assert [f.data for f in log.sent] == [r.payload for r in up]
        assert [f.data for f in log.received] == [r.payload for r in down]
    else:
        data_up = [r for r in up if r.opcode in ("TEXT", "BINARY")]
        assert all(r.rsv1 for r in data_up)  # RFC 7692 section 6: RSV1 marks compression
        assert _payload(data_up[0]) == ("hello " * 20).encode()
        assert data_up[0].length < len("hello " * 20)  # it really shrank on the wire
        assert data_up[0].inflated_size == len("hello " * 20)
    close_up = [r for r in up if r.opcode == "CLOSE"][0]
    assert (close_up.close_code, close_up.close_reason) == (4000, "bye")
    # the server's own log agrees: what it received is what the client sent
    texts_in = [e.data for e in server.events.of("message") if e.direction == "in"]
    assert texts_in[0] == "hello " * 20 and texts_in[2] == "fragmented message"
    hs = tap.handshakes()
    assert hs[0].raw_head.startswith(b"GET /echo HTTP/1.1\r\n")
    assert hs[1].raw_head.startswith(b"HTTP/1.1 101")
    if compression:
        assert b"permessage-deflate" in hs[1].raw_head


def test_tap_relays_invalid_bytes_unchanged_and_marks_them():
    """A raw TCP echo behind the tap: whatever goes in comes back byte for byte."""
    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def start():
        srv = await asyncio.start_server(echo, "127.0.0.1", 0)
        return srv, srv.sockets[0].getsockname()[1]

    async def stop(srv):
        srv.close()
        await srv.wait_closed()

    srv, port = lab.run(start())
    tap = Tap(f"ws://127.0.0.1:{port}/x")
    junk = (b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"  # a head that is not a valid upgrade
            + bytes(range(256)) * 4)

    async def talk():
        reader, writer = await asyncio.open_connection("127.0.0.1", tap.port)
        writer.write(junk)
        await writer.drain()
        got = await asyncio.wait_for(reader.readexactly(len(junk)), 5)
        writer.close()
        return got

    try:
        assert lab.run(talk()) == junk
        wait_until(lambda: any(r.kind == "closed" for r in tap.records))
    finally:
        tap.stop()
        lab.run(stop(srv))
    kinds = {r.kind for r in tap.records}
    assert "handshake" in kinds and "invalid" in kinds
    assert any(r.error for r in tap.handshakes())  # the head broke RFC 6455 4.1 rules


def test_tap_table_renders_and_pcap_decodes_in_tshark(tmp_path, server):
    tap = Tap(server.url)
    try:
        with wslab.connect(tap.url) as c:
            c.send("hello tshark")
            c.recv()
            c.send(b"\x07" * 70_000)  # 64-bit length form
            c.recv()
            c.ping(b"p")
        wait_until(lambda: any(r.kind == "closed" for r in tap.records))
    finally:
        tap.stop()
    html = views.tap_table_html(tap.table())
    assert "hello tshark" in html and "TEXT" in html and "PONG" in html
    assert "hello tshark" in str(tap.table())
    path = tmp_path / "capture.pcap"
    assert tap.to_pcap(str(path)) > 10
    tshark = shutil.which("tshark")
    need(tshark is not None, "tshark (Debian package tshark)")
    out = subprocess.run(
        [tshark, "-r", str(path), "-d", f"tcp.port=={server.port},http", "-Y", "websocket",
         "-T", "fields", "-E", "separator=|", "-e", "websocket.opcode",
         "-e", "websocket.payload_length", "-e", "websocket.payload_length_ext_64",
         "-e", "websocket.payload.text"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [line.split("|") for line in out.strip().splitlines()]
    ours = [r for r in tap.frames]
    assert [int(r[0]) for r in rows] == [
        {"TEXT": 1, "BINARY": 2, "CLOSE": 8, "PING": 9, "PONG": 10}[f.opcode] for f in ours]
    lengths = [int(r[2]) if r[2] else int(r[1]) for r in rows]
    assert lengths == [f.length for f in ours]
    assert rows[0][3] == "hello tshark" and rows[1][3] == "hello tshark"


def test_tap_bad_arguments_and_stop_twice():
    with pytest.raises(ValueError, match="ws:// or http://"):
        Tap("ftp://127.0.0.1:1/")
    with pytest.raises(ValueError, match="max_records"):
        Tap("ws://127.0.0.1:1/", max_records=0)
    tap = Tap("ws://127.0.0.1:1/")
    tap.stop()
    tap.stop()


def test_handshake_by_hand_against_the_wslab_server(server):
    t = handshake_by_hand(server.url, message="Hello")
    assert t.status == 101 and t.accepted and t.echo == "Hello" and t.close_code == 1000
    assert t.request.startswith(b"GET /echo HTTP/1.1\r\n")
    assert f"Sec-WebSocket-Key: {t.key}".encode() in t.request
    masked = next(s for s in t.steps if s.title == "masked text frame").data
    assert masked[0] == 0x81 and masked[1] == 0x85  # FIN+TEXT, MASK bit + length 5
    assert b"Hello" not in masked  # the payload is masked on the wire
    assert "<table" in views.transcript_html(t) and "Sec-WebSocket-Accept" in str(t)


@pytest.mark.parametrize("variant, status", [("wrong_version", 426), ("missing_key", 400),
                                             ("bad_origin", 403)])
def test_handshake_by_hand_failure_variants_show_the_real_answer(server, variant, status):
    t = handshake_by_hand(server.url, variant=variant)
    assert t.status == status and not t.accepted
    assert t.response.startswith(f"HTTP/1.1 {status}".encode())
    if status == 426:
        assert b"Sec-WebSocket-Version: 13" in t.response.replace(b"Websocket", b"WebSocket")


def test_handshake_by_hand_against_a_websockets_server(websockets_server):
    t = handshake_by_hand(websockets_server)
    assert t.status == 101 and t.accepted and t.echo == "Hello" and t.close_code == 1000
    assert b"Sec-WebSocket-Accept" in t.response


def test_handshake_by_hand_rejects_unknown_variant(server):
    with pytest.raises(ValueError, match="variant is one of"):
        handshake_by_hand(server.url, variant="nope")
