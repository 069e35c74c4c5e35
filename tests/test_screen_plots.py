"""Every figure wslab draws, as a notebook shows it: text big enough at 1024 x 768, no overlaps.

A notebook shows a ``Figure`` as the PNG ``wslab.ui.plots`` registers with IPython
(``figure_png(fig, dpi=plots.DPI)``); JupyterLab shows an image at its natural width, scaled
down to the output's width when it is wider (tests/test_screen_lab.py measures both in the real
JupyterLab).  So a text of ``pt`` points is ``pt * DPI / 72 * min(1, shown / natural)`` px on
the screen; with the side bar open the output is IMG_OPEN px wide.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Callable

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from tests.test_screen import MIN_LABEL_PX, WIDGET_WIDTH
from wslab.ui import plots

IMG_OPEN, IMG_CLOSED = WIDGET_WIDTH["open"], WIDGET_WIDTH["closed"]
DPI = getattr(plots, "DPI", 110)


def _samples(n: int = 300, *, seed: int = 1, outliers: int = 0) -> list[float]:
    """Loopback-like round trips (s): a tight body near 0.1 ms, and ``outliers`` at 100x."""
    rnd = random.Random(seed)
    body = [0.0001 * (1 + rnd.betavariate(2, 5)) for _ in range(n - outliers)]
    return body + [0.012 + 0.001 * i for i in range(outliers)]


def _push_results() -> list:
    from wslab.labs.push_compare import METHODS, PushResult
    rnd = random.Random(2)
    out = []
    for method, (over, p50) in zip(METHODS, ((180, 120.0), (420, 1.2), (24, 0.9), (6, 0.8)),
                                   strict=True):
        lat = [p50 / 1e3 * (1 + rnd.random()) for _ in range(40)]
        out.append(PushResult(method, 40, 40, 10, 0, over * 40 + 1200, 300,
                              payload_bytes=1200, latencies_s=lat))
    return out


def _timeline_events() -> list:
    from wslab.net.reconnect import RcEvent
    t, evs = 100.0, []
    for attempt, (delay, lost) in enumerate(((0.05, 0.6), (0.1, 0.3), (0.2, 0.9)), 1):
        evs += [RcEvent(t, "connecting", attempt), RcEvent(t + 0.01, "open", attempt),
                RcEvent(t + lost, "closed", attempt, code=1006),
                RcEvent(t + lost, "waiting", attempt, delay=delay)]
        t += lost + delay
    return [*evs, RcEvent(t, "connecting", 4), RcEvent(t + 0.01, "open", 4)]


def _herd() -> list:
    from wslab.labs.herd import HerdResult
    rnd = random.Random(3)
    none = [0.1 * 2 ** k for k in range(4) for _ in range(50)]
    full = [rnd.uniform(0, 0.1 * 2 ** k) for k in range(4) for _ in range(50)]
    return [HerdResult("none", 50, 1.0, sorted(none), 1.62),
            HerdResult("full", 50, 1.0, sorted(full), 1.35)]


def _pongs() -> list:
    from wslab.net.keepalive import PongSample
    return [PongSample(10 + i * 0.05, 0.0002 + (0.08 if 20 <= i < 40 else 0.0))
            for i in range(60)]


def _detections() -> list:
    from wslab.labs.heartbeat import DetectionRecord
    return [DetectionRecord(a, b, i, a + b * (0.8 + i / 20), 1011, "keepalive ping timeout")
            for a, b in ((0.2, 0.2), (0.5, 0.2), (0.2, 0.5)) for i in range(5)]


def _omission():
    from wslab.labs.latency import OmissionResult
    naive = [0.0002] * 400
    naive[150] = 0.1
    intended = [0.0002 + max(0.0, 0.1 - (i - 150) * 0.002) if i >= 150 else 0.0002
                for i in range(400)]
    return OmissionResult(0.002, 0.1, naive, intended)


def _compression() -> list:
    from wslab.labs.compression import CompressionRecord
    out = []
    for kind, gain in (("json", 0.2), ("repetitive", 0.01), ("random", 1.01)):
        for size in (100, 1_000, 10_000, 100_000, 1_048_576):
            for on in (False, True):
                wire = int(size * (gain if on else 1.0)) + 6
                out.append(CompressionRecord(kind, size, on, wire + 4, wire, wire / size,
                                             size / 1e9 + (0.001 if on else 0.0005)))
    return out


def _scaling_records() -> list:
    from wslab.labs.scaling import LatencyRecord
    rnd = random.Random(4)
    one = [rnd.uniform(2, 9) for _ in range(2000)]
    local = [rnd.uniform(3, 11) for _ in range(1000)]
    remote = [rnd.uniform(4, 14) for _ in range(1000)]
    return [LatencyRecord("1 process", 1, 1000, 20, one, one, []),
            LatencyRecord("2 processes + Redis backplane", 2, 1000, 20, local + remote, local,
                          remote)]


def _rolling():
    from wslab.labs.scaling import RollingRestart
    pub = [i / 500 for i in range(3000)]
    rec = [p + 0.002 + (0.3 if i % 750 < 20 else 0.0) for i, p in enumerate(pub)]
    return RollingRestart(3000, list(range(3000)), pub, rec, [(1.5, 0), (3.0, 1), (4.5, 0)],
                          [(1.5, 1012), (3.0, 1012), (4.5, 1012)], [1.6, 3.1, 4.6])


def _peers():
    from wslab.labs.peers import EchoComparison
    rnd = random.Random(5)
    samples = {p: [rnd.uniform(60, 90) * k for _ in range(300)]
               for p, k in (("tornado", 1.0), ("websockets", 1.3))}
    return EchoComparison(32, 300, list(samples), samples)


def _gil() -> dict[str, float]:
    labels = ["in-kernel server, cell idle, switch interval 5 ms",
              "in-kernel server, cell computing, switch interval 5 ms",
              "in-kernel server, cell computing, switch interval 0.5 ms",
              "process server, cell idle, switch interval 5 ms",
              "process server, cell computing, switch interval 5 ms"]
    return {lab.replace(", ", "\n", 1): v for lab, v in zip(labels, (0.1, 5.2, 0.6, 0.12, 0.13),
                                                             strict=True)}


def _state(taken: bool) -> Figure:
    from wslab.protocol.state import ConnectionStateMachine
    from wslab.ui import diagrams
    m = ConnectionStateMachine()
    if taken:
        for event in ("101 received/sent", "close frame sent", "close frame received"):
            m.handle(event)
    return diagrams.state_diagram(taken=m.history)


def _figures() -> dict[str, Callable[[], Figure]]:
    from wslab.ui import compression_plots, diagrams, peers_plots, scaling_plots
    del diagrams
    sizes = (32, 1024, 16_384, 262_144, 1_048_576)
    return {
        "rtt_series": lambda: plots.rtt_series(_samples()),
        "rtt_histogram": lambda: plots.rtt_histogram(_samples(outliers=1)),
        "rtt_histogram_2000": lambda: plots.rtt_histogram(_samples(2000, outliers=12)),
        "rtt_vs_size": lambda: plots.rtt_vs_size({s: _samples(50, seed=s) for s in sizes}),
        "tcp_vs_websocket": lambda: plots.compare_bars(
            {"TCP alone": 0.05, "WebSocket (wslab)": 0.11},
            ylabel="median round trip (ms)", title="Loopback: TCP alone vs WebSocket"),
        "gil_bars": lambda: plots.compare_bars(_gil(), ylabel="median round trip (ms)",
                                               title="Round trips while a cell computes"),
        "push_comparison": lambda: plots.push_comparison(_push_results()),
        "connection_timeline": lambda: plots.connection_timeline(_timeline_events()),
        "thundering_herd": lambda: plots.thundering_herd(_herd(), bin_s=0.05),
        "pong_latency": lambda: plots.pong_latency(
            _pongs(), marks=[(11.0, "latency 40 ms on"), (12.0, "off")]),
        "detection_times": lambda: plots.detection_times(_detections()),
        "coordinated_omission": lambda: plots.coordinated_omission(_omission()),
        "injected_latency": lambda: plots.injected_latency(
            {d: [(2 * d + 0.2) / 1e3] * 20 for d in (0, 1, 5, 20)}),
        "compression": lambda: compression_plots.compression_figure(_compression()),
        "scaling_latency": lambda: scaling_plots.latency_figure(_scaling_records()),
        "rolling_restart": lambda: scaling_plots.timeline_figure(_rolling()),
        "peers": lambda: peers_plots.echo_comparison_figure(_peers()),
        "state_diagram": lambda: _state(False),
        "state_diagram_taken": lambda: _state(True),
    }


FIGURES = _figures()


def png_size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def render(fig: Figure) -> int:
    """Draw ``fig`` as a notebook shows it; return the PNG's natural width (px).  The figure
    keeps an Agg canvas drawn at the same DPI, so its texts can be measured."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    natural, _ = png_size(plots.figure_png(fig, dpi=DPI))
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(DPI)
    canvas.draw()
    return natural


def drawn_texts(fig: Figure) -> list[Text]:
    """The texts the last draw put on the figure: visible, not empty, tick labels in view."""
    hidden: set[int] = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not ax.axison:  # ax.axis("off"): no ticks drawn
                hidden.update(id(t) for t in axis.get_ticklabels(which="both"))
                continue
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - span <= tick.get_loc() <= hi + span:
                    hidden.update((id(tick.label1), id(tick.label2)))
    return [t for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and id(t) not in hidden]


def shown_text_px(fig: Figure, natural: int, shown_width: int = IMG_OPEN
                  ) -> tuple[float, str]:
    """The smallest drawn text's height in screen px (and the text), the PNG shown at
    ``min(natural, shown_width)`` px wide."""
    scale = min(1.0, shown_width / natural)
    smallest = min(drawn_texts(fig), key=lambda t: t.get_fontsize())
    return smallest.get_fontsize() * DPI / 72 * scale, smallest.get_text()


def text_boxes(fig: Figure) -> list[tuple[str, object]]:
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_texts(fig)]


def text_overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of drawn texts whose boxes overlap (tick labels, titles, annotations, legends)."""
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(text_boxes(fig), 2)
            if ba.x0 < bb.x1 - 0.5 and bb.x0 < ba.x1 - 0.5 and ba.y0 < bb.y1 - 0.5
            and bb.y0 < ba.y1 - 0.5]


def texts_cut_off(fig: Figure) -> list[str]:
    """Drawn texts that reach past the figure's edge (cut off in the PNG)."""
    box = fig.bbox
    return [text for text, b in text_boxes(fig)
            if b.x0 < box.x0 - 0.5 or b.x1 > box.x1 + 0.5 or b.y0 < box.y0 - 0.5
            or b.y1 > box.y1 + 0.5]


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_text_is_at_least_11px_with_the_side_bar_open(name):
    fig = FIGURES[name]()
    natural = render(fig)
    px, text = shown_text_px(fig, natural)
    assert natural <= IMG_CLOSED, f"{name}: {natural} px wide, scaled down even when closed"
    assert px >= MIN_LABEL_PX, f"{name}: {text!r} is {px:.1f} px on screen"


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_texts_neither_overlap_nor_leave_the_figure(name):
    """Tick labels, titles, legends and notes: no two drawn texts share a pixel, none is cut
    off at the figure's edge (boxes measured by matplotlib's own renderer)."""
    fig = FIGURES[name]()
    render(fig)
    assert text_overlaps(fig) == []
    assert texts_cut_off(fig) == []


def test_notebooks_get_the_png_these_tests_measure(monkeypatch):
    """The IPython formatter wslab registers draws at plots.DPI, the DPI measured above."""
    import base64
    import types

    from IPython.core.formatters import DisplayFormatter

    shell = types.SimpleNamespace(display_formatter=DisplayFormatter())
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    plots._register_ipython_formatter()
    data, _ = shell.display_formatter.format(FIGURES["rtt_series"]())
    png = data["image/png"]
    png = png if isinstance(png, bytes) else base64.b64decode(png)
    assert png_size(png) == (int(plots.WIDTH * plots.DPI), int(plots.HEIGHT * plots.DPI))


def _bar_shares(fig: Figure) -> tuple[float, list[float]]:
    """(share of the samples in the bar holding the median, every bar's share)."""
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_height() > 0]
    total = sum(p.get_height() for p in bars)
    median = next(line for line in ax.lines if line.get_label().startswith("p50")).get_xdata()[0]
    holding = [p for p in bars if p.get_x() <= median <= p.get_x() + p.get_width()]
    return max(p.get_height() for p in holding) / total, [p.get_height() / total for p in bars]


@pytest.mark.parametrize("outliers", [1, 3, 12])
def test_histogram_keeps_the_body_readable_when_outliers_stretch_the_range(outliers):
    """One 100x outlier used to put all 300 samples in one bar (its share was 99.7 %): the
    axis now ends at histogram_range() and the outliers beyond it are counted in a note."""
    xs = _samples(300, outliers=outliers)
    fig = plots.rtt_histogram(xs)
    render(fig)
    share, shares = _bar_shares(fig)
    assert share < 0.25, f"the median's bar holds {share:.0%} of the samples"
    assert sum(s > 0.02 for s in shares) >= 5, "the body spreads over several bars"
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert notes == [f"{outliers} slower, up to {max(xs) * 1e3:.3g} ms →"], notes
    lo, hi = fig.axes[0].get_xlim()
    assert hi < max(xs) * 1e3 / 10, "the axis no longer reaches the outlier"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == f"p50 {plots.percentile(xs, 50) * 1e3:.3f} ms", legend


def test_histogram_without_outliers_shows_every_sample_and_no_note():
    xs = _samples(300)
    fig = plots.rtt_histogram(xs)
    ax = fig.axes[0]
    assert sum(p.get_height() for p in ax.patches) == 300 and len(ax.texts) == 0
    lo, hi = plots.histogram_range([x * 1e3 for x in xs])
    assert (lo, hi) == (min(xs) * 1e3, max(xs) * 1e3)


def test_histogram_names_a_percentile_beyond_the_axis():
    """With more than 10 % slow samples p99 is off the clipped axis: the legend says so."""
    xs = _samples(300, outliers=20)
    fig = plots.rtt_histogram(xs)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[2].startswith("p99 ") and legend[2].endswith("(beyond the axis)"), legend


def test_push_comparison_method_names_do_not_overlap():
    """Notebook 00's plot: the four method names used to overlap as x tick labels at 8.5 pt
    (long polling / Server-Sent Events / WebSocket); now each is a row of its own."""
    fig = plots.push_comparison(_push_results())
    render(fig)
    left, right = fig.axes
    names = [t.get_text().replace("\n", " ") for t in left.get_yticklabels()]
    assert names == ["short polling", "long polling", "Server-Sent Events", "WebSocket"]
    boxes = [t.get_window_extent() for t in left.get_yticklabels()]
    pairs = list(itertools.combinations(boxes, 2))
    assert all(a.y1 <= b.y0 or b.y1 <= a.y0 or a.x1 <= b.x0 or b.x1 <= a.x0 for a, b in pairs)
    assert right.get_xscale() == "log" and text_overlaps(fig) == []
