"""permessage-deflate (RFC 7692) on real loopback sockets, seen through the tap."""

from __future__ import annotations

import json

import pytest
from websockets.sync.client import connect as ws_connect

import wslab
import wslab.labs.compression as compression_module
from tests.conftest import wait_until
from wslab.labs.compression import (
    KINDS,
    CompressionRecord,
    compression_experiment,
    make_payload,
    negotiation_demo,
)
from wslab.net.tap import C2S, S2C, Tap
from wslab.ui.compression_plots import compression_figure, compression_table_html

TIMEOUT = 5.0


def _header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


def _handshakes(tap: Tap) -> tuple[bytes, bytes]:
    heads = tap.handshakes()
    request = next(r.raw_head for r in heads if r.direction == C2S)
    response = next(r.raw_head for r in heads if r.direction == S2C)
    return request, response


def _data_frames(tap: Tap, direction: str) -> list:
    return [r for r in tap.frames if r.direction == direction and r.opcode in ("TEXT", "BINARY")]


def _tapped_echo(*, server_compression: bool, client_compression: bool,
                 messages: list[str | bytes]) -> Tap:
    """Echo ``messages`` through a tap; returns the (stopped) tap with its records."""
    server = wslab.serve(name="pytest-deflate", compression=server_compression)
    tap = client = None
    try:
        tap = Tap(server.url)
        client = wslab.connect(tap.url, compression=client_compression)
        for m in messages:
            client.send(m)
            assert client.recv(TIMEOUT) == m
        client.close()
        wait_until(lambda: any(r.kind == "closed" for r in tap.records))
    finally:
        if client is not None:
            client.stop()
        if tap is not None:
            tap.stop()
        server.stop()
    return tap


def test_deflate_negotiated_and_every_data_frame_compressed():
    """RFC 7692 5 and 6: offer in the request, accept in the 101, RSV1 on each message."""
    text = "hello compression " * 100
    binary = bytes(range(256)) * 8
    tap = _tapped_echo(server_compression=True, client_compression=True,
                       messages=[text, binary])
    request, response = _handshakes(tap)
    assert _header(request, "Sec-WebSocket-Extensions").startswith("permessage-deflate")
    assert response.startswith(b"HTTP/1.1 101 ")
    assert _header(response, "Sec-WebSocket-Extensions").startswith("permessage-deflate")
    for direction in (C2S, S2C):
        frames = _data_frames(tap, direction)
        assert len(frames) == 2
        for frame, original in zip(frames, [text.encode(), binary], strict=True):
            assert frame.rsv1 and frame.compressed
            assert frame.inflated == original and frame.inflated_size == len(original)
            assert frame.size < len(original)


def test_repetitive_text_takes_under_ten_percent_on_the_wire():
    text = make_payload("repetitive", 100_000)
    tap = _tapped_echo(server_compression=True, client_compression=True, messages=[text])
    for direction in (C2S, S2C):
        (frame,) = _data_frames(tap, direction)
        assert frame.rsv1
        assert frame.size < 0.10 * len(text), (direction, frame.size)


def test_random_bytes_do_not_shrink():
    """Incompressible data: DEFLATE falls back to stored blocks, a few bytes MORE."""
    data = make_payload("random", 50_000)
    tap = _tapped_echo(server_compression=True, client_compression=True, messages=[data])
    for direction in (C2S, S2C):
        (frame,) = _data_frames(tap, direction)
        assert frame.compressed and frame.inflated_size == len(data)
        assert frame.length >= len(data)  # the compressed payload itself
        assert frame.size > len(data)


@pytest.mark.parametrize(("server_on", "client_on"), [(False, True), (True, False),
                                                      (False, False)])
def test_compression_off_means_no_rsv1_and_no_extension_header(server_on, client_on):
    """RFC 7692 5: no offer, or an offer the server declines -> no header in the 101."""
    tap = _tapped_echo(server_compression=server_on, client_compression=client_on,
                       messages=["plain " * 50, b"\x00" * 300])
    request, response = _handshakes(tap)
    offered = _header(request, "Sec-WebSocket-Extensions")
    assert (offered is not None) == client_on
    assert response.startswith(b"HTTP/1.1 101 ")
    assert _header(response, "Sec-WebSocket-Extensions") is None
    frames = _data_frames(tap, C2S) + _data_frames(tap, S2C)
    assert len(frames) == 4
    assert not any(f.rsv1 or f.compressed for f in frames)


def test_websockets_client_with_deflate_against_wslab_server():
    """An independent peer negotiates permessage-deflate with the Tornado-based server."""
    server = wslab.serve(name="pytest-deflate", compression=True)
    try:
        with ws_connect(server.url, compression="deflate", open_timeout=TIMEOUT,
                        close_timeout=TIMEOUT) as ws:
            accepted = ws.response.headers["Sec-WebSocket-Extensions"]
            assert accepted.startswith("permessage-deflate")
            for message in ("abc " * 500, b"\x01\x02" * 500, "é✓👋"):
                ws.send(message)
                assert ws.recv(timeout=TIMEOUT) == message
    finally:
        server.stop()


def test_negotiation_demo_shows_offer_and_answer():
    demo = negotiation_demo()
    for name in ("tornado", "websockets"):
        n = demo[name]
        assert n is not None and n.client == name
        assert n.offered.startswith("permessage-deflate")
        assert n.accepted.startswith("permessage-deflate")
        assert n.data_frames_rsv1 and n.echoed


@pytest.mark.parametrize("size", [2, 3, 15, 16, 100, 257, 4096, 65_537])
def test_json_payload_is_valid_json_of_exactly_the_size(size):
    text = make_payload("json", size, seed=3)
    assert isinstance(text, str) and len(text.encode("utf-8")) == size
    assert isinstance(json.loads(text), list)
    assert make_payload("json", size, seed=3) == text  # deterministic


def test_payload_kinds_are_deterministic():
    assert make_payload("repetitive", 1000) == make_payload("repetitive", 1000)
    a = make_payload("random", 1000, seed=1)
    assert isinstance(a, bytes) and len(a) == 1000
    assert a == make_payload("random", 1000, seed=1) != make_payload("random", 1000, seed=2)


@pytest.mark.parametrize("kwargs", [
    {"kinds": ("xml",)}, {"kinds": "json"}, {"kinds": ()}, {"kinds": ("json", "json")},
    {"sizes": (0,)}, {"sizes": (10**9,)}, {"sizes": (1.5,)}, {"sizes": ()},
    {"rounds": 0}, {"rounds": True}, {"seed": "x"}, {"timeout": 0},
])
def test_compression_experiment_validates_its_arguments(kwargs):
    with pytest.raises(ValueError):
        compression_experiment(**kwargs)


def _header_bytes(size: int) -> int:
    return 2 if size < 126 else 4 if size < 65536 else 10


def test_small_compression_experiment_returns_sane_records():
    records = compression_experiment(sizes=(100, 10_000), rounds=2)
    assert len(records) == len(KINDS) * 2 * 2
    by = {(r.kind, r.size, r.compressed): r for r in records}
    assert len(by) == len(records)
    for r in records:
        assert r.rounds == 2 and 0 < r.rtt_median_s < 2
        assert r.ratio == pytest.approx((r.wire_bytes_up + r.wire_bytes_down) / (2 * r.size))
        if not r.compressed:  # RFC 6455 5.2: header + 4-byte mask key up, header down
            assert r.wire_bytes_down == r.size + _header_bytes(r.size)
            assert r.wire_bytes_up == r.wire_bytes_down + 4
            assert r.wire_bytes_up_repeat == r.wire_bytes_up
    assert by["repetitive", 10_000, True].ratio < 0.05
    assert by["json", 10_000, True].ratio < 0.5
    assert by["random", 10_000, True].ratio >= 1.0
    # context takeover: the same message again costs a fraction of the first time
    again = by["json", 10_000, True]
    assert again.wire_bytes_down_repeat < again.wire_bytes_down / 5
    assert "json" in str(again)


def _fake_records() -> list[CompressionRecord]:
    out = []
    for kind, gain in (("json", 0.2), ("repetitive", 0.01), ("random", 1.01)):
        for size in (100, 10_000, 1_000_000):
            for on in (False, True):
                wire = int(size * (gain if on else 1.0)) + 6
                out.append(CompressionRecord(kind, size, on, wire + 4, wire, wire / size,
                                             size / 1e9 + (0.001 if on else 0.0005)))
    return out


def test_compression_figure_has_two_labelled_panels():
    fig = compression_figure(_fake_records())
    axes = fig.get_axes()
    assert len(axes) == 2
    for ax in axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "bytes" in axes[0].get_ylabel() and "ms" in axes[1].get_ylabel()
    left_lines = [ln for ln in axes[0].get_lines() if ln.get_label() != "wire = payload"]
    assert len(left_lines) == 6
    styles = {ln.get_label(): ln.get_linestyle() for ln in left_lines}
    assert styles["json, deflate on"] == "-" and styles["json, deflate off"] == "--"
    colours = {ln.get_label(): ln.get_color() for ln in left_lines}
    assert colours["random, deflate on"] == colours["random, deflate off"]
    with pytest.raises(ValueError):
        compression_figure([])


def test_compression_table_html():
    html = compression_table_html(_fake_records())
    assert html.startswith("<table") and html.count("<tr>") == 1 + 9
    assert "repetitive" in html and "10,000" in html and "ratio" in html


def test_compression_experiment_stops_everything_when_it_fails(monkeypatch):
    """An error mid-run propagates; the autouse leak check proves nothing was left running."""

    def broken_echo(reply, payload):
        raise RuntimeError("not an echo (simulated)")

    monkeypatch.setattr(compression_module, "_check_echo", broken_echo)
    with pytest.raises(RuntimeError, match="simulated"):
        compression_experiment(sizes=(100,), kinds=("json",), rounds=1)
    assert not [s for s in wslab.servers() if s.startswith("compression-lab")]
