"""Panels' handlers and plots, without a kernel (widgets work without a front end)."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

import wslab
from tests.conftest import wait_until
from wslab.ui import ClientPanel, ServerPanel, plots, side_by_side


def test_client_panel_buttons_and_twins(server):
    panel = ClientPanel(server.url)
    assert panel.state == wslab.State.CLOSED
    panel.connect_button.click()            # the same handler a click in JupyterLab runs
    assert panel.state == wslab.State.OPEN
    panel.message_box.value = "typed"       # Enter in the box syncs the value: it sends
    wait_until(lambda: panel.rtt_samples)
    assert panel.message_box.value == ""
    panel.send("twin")
    wait_until(lambda: len(panel.rtt_samples) == 2)
    kinds = [(r.direction, r.kind, r.text) for r in panel.message_log]
    assert ("out", "text", "'typed'") in kinds and ("in", "text", "'twin'") in kinds
    panel.kind_toggle.value = "binary"
    panel.message_box.value = "bin"
    wait_until(lambda: any(r.kind == "binary" and r.direction == "in" for r in panel.message_log))
    assert panel.ping() > 0
    panel.refresh()
    assert "twin" in panel.log_view.value and "median" in panel.rtt_label.value
    assert "<polyline" in panel.rtt_plot.value
    assert "data-state='OPEN'" in panel.state_badge.value
    panel.code_box.value, panel.reason_box.value = 4000, "bye"
    panel.disconnect_button.click()
    assert panel.state == wslab.State.CLOSED
    wait_until(lambda: server.events.of("close"), what="the server logged the close")
    assert server.events.of("close")[-1].code == 4000
    wait_until(lambda: "data-state='CLOSED'" in panel.state_badge.value)
    panel.send("late")
    assert "not connected" in panel.last_error


def test_client_panel_failure_is_shown_not_raised(server):
    panel = ClientPanel(server.url.replace("/echo", "/missing"))
    assert panel.connect() is None
    assert "404" in panel.last_error
    assert "404" in panel.log_view.value
    panel.close()


def test_client_panel_bad_close_code_is_explained(server):
    panel = ClientPanel(server.url)
    panel.connect()
    panel.disconnect(1005, "")
    assert "7.4" in panel.last_error and panel.state == wslab.State.OPEN
    panel.disconnect(1000, "")
    box = side_by_side(panel, ClientPanel(server.url))
    assert len(box.children) == 2


def test_server_panel_lists_broadcasts_and_closes(server):
    sp = ServerPanel(server)
    a, b = wslab.connect(server.url), wslab.connect(server.url)
    try:
        sp.refresh()
        assert "2 client(s)" in sp.clients_view.value
        assert list(sp.target.options) == [c.id for c in server.clients]
        sp.message_box.value = "hello all"
        sp.broadcast_button.click()
        assert a.recv() == b.recv() == "hello all"
        sp.send_to(sp.target.options[0], "just you")
        assert a.recv() == "just you"
        sp.target.value = sp.target.options[1]
        sp.code_box.value, sp.reason_box.value = 4001, "kicked"
        sp.close_button.click()
        with pytest.raises(wslab.ConnectionClosed):
            b.recv()
        assert b.close_code == 4001
        wait_until(lambda: "1 client(s)" in sp.clients_view.value)
        assert "close" in sp.events_view.value
        sp.close_client(999, 1000, "")
        assert "no connected client" in sp.status.value
    finally:
        a.close()
        sp.close()


SAMPLES = [0.0001 + i * 1e-6 for i in range(200)]


def _labels(fig):
    ax = fig.axes[0]
    return ax.get_xlabel(), ax.get_ylabel()


def test_rtt_series_plot():
    fig = plots.rtt_series(SAMPLES)
    assert _labels(fig) == ("message number", "round trip (ms)")
    assert len(fig.axes[0].lines[0].get_xdata()) == 200


def test_rtt_histogram_plot_marks_percentiles():
    fig = plots.rtt_histogram(SAMPLES)
    ax = fig.axes[0]
    assert _labels(fig) == ("round trip (ms)", "messages")
    labels = [line.get_label() for line in ax.lines]
    assert [lab.split()[0] for lab in labels] == ["p50", "p90", "p99"]
    assert len(fig.axes) == 2 and len(fig.axes[1].lines[0].get_xdata()) == 200  # the CDF


def test_rtt_vs_size_plot():
    fig = plots.rtt_vs_size({32: SAMPLES, 1024: SAMPLES, 65536: SAMPLES})
    assert _labels(fig)[0].startswith("payload size")
    assert len(fig.axes[0].lines[0].get_xdata()) == 3
    assert plots.figure_png(fig).startswith(b"\x89PNG")


def test_size_and_log_axes_read_as_plain_numbers():
    fig = plots.rtt_vs_size({32: SAMPLES, 1024: SAMPLES, 1_048_576: SAMPLES, 100_000: SAMPLES})
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["32 B", "1 KiB", "100,000 B", "1 MiB"]
    assert [plots.human_size(n) for n in (0, 1023, 16_384, 262_144, 3 << 20)] == [
        "0 B", "1,023 B", "16 KiB", "256 KiB", "3 MiB"]
    fig = Figure()
    ax = fig.subplots()
    ax.plot([1, 2], [0.15, 40])
    plots.log_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all("e" not in x and "^" not in x for x in labels), labels
    with pytest.raises(ValueError, match="'x' or 'y'"):
        plots.log_axis(ax, "z")


def test_compare_bars_wraps_long_labels_so_they_never_overlap():
    from tests.test_screen_plots import render, text_overlaps
    names = [f"server {i}, cell computing, switch interval 0.5 ms" for i in range(5)]
    fig = plots.compare_bars(dict.fromkeys(names, 1.0), ylabel="ms", title="t")
    render(fig)
    labels = [t for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert len(labels) == 5 and all("\n" in t.get_text() for t in labels)
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.y0)
    for below, above in zip(boxes, boxes[1:], strict=False):
        assert below.y1 <= above.y0, "tick labels overlap"
    assert text_overlaps(fig) == []


def test_plots_reject_bad_input():
    with pytest.raises(ValueError, match="no samples"):
        plots.rtt_series([])
    with pytest.raises(ValueError, match="seconds >= 0"):
        plots.rtt_histogram([-1.0])
    with pytest.raises(ValueError, match="percentile 0-100"):
        plots.percentile([1.0], 101)


def test_percentiles():
    xs = list(range(1, 101))
    assert plots.percentile(xs, 50) == pytest.approx(50.5)
    assert plots.percentile(xs, 99) == pytest.approx(99.01)
    s = plots.summary_ms([0.001, 0.002, 0.003])
    assert s["p50"] == pytest.approx(2.0) and s["n"] == 3


def test_frame_builder_live_bytes_and_decode():
    from wslab.ui import FrameBuilder
    fb = FrameBuilder()
    # RFC 6455 5.7: a masked "Hello" with key 37 fa 21 3d
    assert fb.data == bytes.fromhex("818537fa213d7f9f4d5158")
    fb.mask.value = False  # a click on the checkbox
    assert fb.data == b"\x81\x05Hello"
    assert "7 bytes on the wire" in fb.bytes_view.value
    fb.set(fin=False, payload="Hel")
    assert fb.data == b"\x01\x03Hel"
    fb.set(opcode=0x9, fin=True, payload="x", repeat=126)  # a control frame over 125 bytes
    assert "1002" in fb.diagram.value
    fb.set(opcode=0x2, payload="00ff", hex_payload=True, repeat=1)
    assert fb.data == b"\x82\x02\x00\xff"
    ex = fb.decode("81 05 48 65 6c 6c 6f")
    assert "Hello" in str(ex)
    assert fb.decode("zz") is None and "not hex" in fb.diagram.value
    with pytest.raises(ValueError, match="opcode is an int 0-15"):
        fb.set(opcode=16)
    fb.mask.value = True
    fb.mask_key.value = "abc"
    assert "4 bytes" in fb.bytes_view.value or "hex" in fb.bytes_view.value


def test_fault_panel_sets_clears_and_resets(server):
    from wslab.ui import FaultPanel
    proxy = wslab.FaultProxy(server.url)
    try:
        panel = FaultPanel(proxy)
        panel.rows["latency"]["ms"].value = 30
        panel.rows["latency"]["direction"].value = "upstream"
        panel.apply("latency")
        assert proxy.faults["upstream"]["latency"]["ms"] == 30
        assert proxy.faults["downstream"] == {}
        panel.apply("bandwidth", kib_per_s=-5)
        assert "not set" in panel.status.value and "bandwidth" not in proxy.faults["upstream"]
        with wslab.connect(proxy.url) as c:
            assert c.ping() >= 0.03  # the upstream latency is really there
            panel.remove(None)
            assert proxy.faults["upstream"] == {}
            assert panel.reset_all() == 1
            with pytest.raises(wslab.ConnectionClosed):
                c.recv(timeout=5)
            assert c.close_code == 1006
        panel.refresh()
        assert "reset 1" in panel.stats_view.value and "reset 1 connection" in panel.status.value
    finally:
        proxy.stop()


def _row_button(panel, fault: str, label: str):
    """The Set or Clear button on ``fault``'s row, as the learner sees it."""
    import ipywidgets as W
    for row in panel.children:
        if isinstance(row, W.HBox) and f"<code>{fault}</code>" in str(row.children[0].value):
            return next(b for b in row.children
                        if isinstance(b, W.Button) and b.description == label)
    raise AssertionError(f"no {fault} row")


def test_fault_panel_live_client_shows_what_a_click_does(server):
    """Notebook 05: a live client pings through the proxy, so clicking a fault changes what
    the panel shows (blackhole: no pong, 1011, reconnecting; clear: open again)."""
    from wslab.ui import FaultPanel
    proxy = wslab.FaultProxy(server.url)
    panel = FaultPanel(proxy, live=True)
    try:
        wait_until(lambda: "OPEN, pong in" in panel.live_view.value, what="the live client's pong")
        wait_until(lambda: proxy.connections == 1, what="the proxy counting the live client")
        panel.refresh()
        assert "connections open 1" in panel.stats_view.value
        _row_button(panel, "blackhole", "Set").click()
        assert "blackhole on (both)" in panel.status.value
        wait_until(lambda: "no pong within 1 s" in panel.live_view.value, what="a missed pong")
        assert "closing with 1011" in panel.live_view.value and panel.probe.missed == 1
        _row_button(panel, "blackhole", "Clear").click()
        wait_until(lambda: panel.probe.connects == 2 and "OPEN, pong in" in panel.live_view.value,
                   timeout=15, what="the live client back after the clear")
        assert "2 connect(s)" in panel.live_view.value and "#1a7f43" in panel.live_view.value
    finally:
        panel.stop()
        proxy.stop()
    assert "stopped" in panel.live_view.value


def test_pong_latency_and_detection_plots():
    from wslab.labs.heartbeat import DetectionRecord
    from wslab.net.keepalive import PongSample
    fig = plots.pong_latency([PongSample(10 + i * 0.1, 0.001 * (1 + (i > 5) * 50))
                              for i in range(12)], marks=[(10.55, "latency 50 ms on")])
    assert fig.axes[0].get_ylabel() == "round trip (ms)"
    assert len(fig.axes[0].lines[0].get_xdata()) == 12
    recs = [DetectionRecord(0.2, 0.2, i, 0.3 + i / 100, 1006, "") for i in range(3)]
    fig = plots.detection_times(recs)
    assert "detection" in fig.axes[0].get_ylabel()


def test_chat_panels_talk_in_rooms(server):
    from wslab.ui import ChatPanel
    with pytest.raises(ValueError, match="/pubsub"):
        ChatPanel(server.url)
    ann, bob, cid = (ChatPanel(server.pubsub_url, user=u) for u in ("ann", "bob", "cid"))
    try:
        ann.join("lab")
        bob.join("lab")
        cid.join("hall")
        ann.join_button.click()  # joining twice is harmless
        ann.say("hello lab")
        wait_until(lambda: ("ann", "hello lab") in bob.messages("lab"))
        bob.message_box.value = "typed reply"  # Enter
        wait_until(lambda: ("bob", "typed reply") in ann.messages("lab"))
        assert cid.messages() == []
        bob.leave("lab")
        ann.say("bob left")
        wait_until(lambda: ("ann", "bob left") in ann.messages("lab"))
        assert ("ann", "bob left") not in bob.messages()
        ann._render()
        assert "hello lab" in ann.log_view.value and "lab" in ann.header.value
    finally:
        for p in (ann, bob, cid):
            p.close()


def test_panels_stop_keeps_the_view(server):
    from wslab.ui import ChatPanel
    panel = ClientPanel(server.url)
    chat = ChatPanel(server.pubsub_url, user="x")
    panel.connect()
    panel.stop()
    chat.stop()
    assert panel.state == wslab.State.CLOSED and panel.comm is not None  # still displayed
    assert "CLOSED" in chat.header.value and chat.comm is not None


def test_panels_stop_only_what_they_own(server):
    """Closing or replacing a panel (what re-running its cell amounts to) ends that panel's own
    connection and nothing else: the server, the proxy and its faults, other panels and other
    clients carry on; a dropped BrowserClient closes only its own widget."""
    import gc

    from wslab.ui import BrowserClient, ChatPanel, FaultPanel
    proxy = wslab.FaultProxy(server.url)
    bystander = wslab.connect(proxy.url)
    panels = [ServerPanel(server), FaultPanel(proxy, live=True), ChatPanel(server.pubsub_url),
              ClientPanel(server.url)]
    server_panel, fault_panel, chat, old = panels
    keep = ClientPanel(server.url)
    try:
        old.connect()
        keep.connect()
        proxy.set("latency", ms=1)
        wait_until(lambda: fault_panel.probe.answered >= 1, what="the live probe's first pong")
        old.close()             # ipywidgets' close: the panel and its own connection
        server_panel.close()    # stops listening to the server's events, not the server
        fault_panel.stop()      # stops its live probe, not the proxy
        chat.close()
        BrowserClient(server)   # made and dropped at once, as a re-run cell's old widget
        gc.collect()
        assert old.state == wslab.State.CLOSED and chat.client.state == wslab.State.CLOSED
        assert server.running and keep.state == wslab.State.OPEN
        assert [proxy.faults[d]["latency"]["ms"] for d in ("upstream", "downstream")] == [1, 1]
        assert bystander.ping() > 0 and bystander.state == wslab.State.OPEN
        keep.send("still here")
        wait_until(lambda: keep.rtt_samples, what="an echo on the panel that was kept")
    finally:
        keep.close()
        bystander.close()
        proxy.stop()
