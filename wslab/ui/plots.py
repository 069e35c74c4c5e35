"""Matplotlib plots of measured latency (layer 3, presentation).

Every function takes plain numbers (round-trip times in seconds, as
``Client.measure_rtt`` returns them) and returns a ``matplotlib.figure.Figure``
made without pyplot: no global state, testable without a display, and shown
once (not twice) when it is the last expression of a cell.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from ..i18n import N_
from ..labs.stats import percentile
from .fonts import P_, plot_language, plot_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..labs.latency import OmissionResult

# Sized for a projector at 1024 x 768 (tests/test_screen_plots.py measures every figure): a
# notebook shows a figure as a PNG of WIDTH x DPI = 818 px, at that size when the side bar is
# closed (844 px of output) and scaled down to 592 px when it is open, so MIN_PT, the smallest
# text, is 9 pt x 132 / 72 x 592 / 818 = 11.9 px on the screen (at least 11 px is the rule).
# A wider figure or a smaller font breaks that: keep figures WIDTH wide.
WIDTH = 6.2    # inches
HEIGHT = 2.9
DPI = 132
MIN_PT = 9     # legends, annotations, the smallest tick labels
PERCENTILES = (50, 90, 99)
COLOURS = {50: "#1a5fb4", 90: "#e66100", 99: "#c01c28"}


#: Titles, labels and marks the notebooks pass in (in English, in both editions' code): they
#: are catalogue entries, so a plot shows them in the learner's language where it draws them.
NOTEBOOK_TEXT = (N_("Loopback: TCP alone vs WebSocket"), N_("median round trip (ms)"),
                 N_("Round trip through a 1 MiB/s link: size dominates"),
                 N_("Round trips while a cell computes"), N_("latency 40 ms on"), N_("off"),
                 N_("short polling"), N_("long polling"))


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/min/max of round-trip samples (seconds) in milliseconds."""
    out = {f"p{p}": percentile(samples, p) * 1e3 for p in PERCENTILES}
    out.update(min=min(samples) * 1e3, max=max(samples) * 1e3, n=len(samples))
    return out


def _check(samples: Sequence[float]) -> list[float]:
    xs = [float(s) for s in samples]
    if not xs:
        raise ValueError("no samples to plot: pass a non-empty list of round-trip times (s)")
    if any(x < 0 or math.isnan(x) for x in xs):
        raise ValueError("round-trip times are seconds >= 0")
    return xs


def _figure(height: float = HEIGHT, ncols: int = 1, nrows: int = 1, **kw: object
            ) -> tuple[Figure, list]:
    """A WIDTH-wide figure and its axes (row by row); ``kw`` goes to ``Figure.subplots``.
    Its text is in the learner's language when a font can draw it (:mod:`.fonts`)."""
    plot_language()
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, [ax for row in axes for ax in row]


def _plain(v: float) -> str:
    """1,000,000 and 0.25 (never 1e+06)."""
    return f"{v:,.0f}" if v == round(v) else f"{v:,.6g}"


def log_axis(ax: Axes, which: str = "y") -> None:
    """Put ``ax``'s ``which`` axis ("x" or "y") on a log scale labelled with plain numbers
    (0.2, 1, 30, 100,000), not powers of ten: a classroom reads milliseconds, not exponents.
    Minor ticks at 2 and 5 get a label too when the axis spans less than two decades."""
    if which not in ("x", "y"):
        raise ValueError(f"which is 'x' or 'y', not {which!r}")
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")

    def minor(v: float, _pos: int) -> str:
        lo, hi = sorted(axis.get_view_interval())
        if v <= 0 or lo <= 0 or math.log10(hi / lo) >= 2:
            return ""
        lead = round(v / 10 ** math.floor(math.log10(v) + 1e-9))
        return _plain(v) if lead in (2, 5) else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _plain(v)))
    axis.set_minor_formatter(FuncFormatter(minor))


def human_size(n: float) -> str:
    """A byte count as a tick label: 32 B, 1 KiB, 256 KiB, 1 MiB (binary units for multiples
    of 1024), 100,000 B otherwise."""
    n = int(n)
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale:,} {unit}"
    return f"{n:,} B"


def size_axis(ax: Axes, sizes: Sequence[float], which: str = "x") -> None:
    """A log axis with one tick per measured payload size, labelled 32 B, 1 KiB, 1 MiB."""
    log_axis(ax, which)
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(FixedLocator(list(sizes)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: human_size(v)))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def rtt_series(samples: Sequence[float], *,
               title: str = N_("Echo round trip, one message at a time")) -> Figure:
    """Round trip of each message in order (ms), with the median as a line."""
    xs = [x * 1e3 for x in _check(samples)]
    fig, (ax,) = _figure()
    ax.plot(range(1, len(xs) + 1), xs, ".", ms=3, color="#3d3846", alpha=0.7, label=P_("message"))
    med = percentile(xs, 50)
    ax.axhline(med, color=COLOURS[50], lw=1.2, label=P_("median {ms:.3f} ms").format(ms=med))
    ax.set_xlabel(P_("message number"))
    ax.set_ylabel(P_("round trip (ms)"))
    ax.set_title(plot_text(title))
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def histogram_range(xs: Sequence[float]) -> tuple[float, float]:
    """The x range a round-trip histogram shows: from the fastest sample to just past the 99th
    percentile (p99 x 1.05), but no closer than 1.5 x p90 and no further than 3 x p90 (and
    never past the slowest sample).

    Round trips are a tight body and a few slow outliers (a garbage collection, the
    scheduler).  An axis stretched to a 100x outlier puts the whole body in one bar; one
    clipped this way keeps the body readable even when up to 10 % of the samples are slow,
    and the samples beyond it are counted on the plot instead of drawn.  (A log axis would
    keep the outliers in view, but squeezes a body that spans less than a factor of two into a
    few bars and gives its bars unequal widths.)
    """
    lo, hi = min(xs), max(xs)
    p90 = percentile(xs, 90)
    end = min(max(1.05 * percentile(xs, 99), 1.5 * p90), 3 * p90)
    return lo, min(hi, max(end, lo * 1.01 + 1e-9))


def rtt_histogram(samples: Sequence[float], *, bins: int = 50,
                  title: str = N_("Round-trip distribution")) -> Figure:
    """Histogram (left axis) and cumulative distribution (right axis), p50/p90/p99 marked.

    The axis ends at :func:`histogram_range`; samples slower than that are counted in a note
    at the right edge (with the slowest), and a percentile beyond it says so in the legend.
    """
    xs = sorted(x * 1e3 for x in _check(samples))
    lo, hi = histogram_range(xs)
    shown = [x for x in xs if x <= hi]
    beyond = len(xs) - len(shown)
    fig, (ax,) = _figure()
    ax.hist(shown, bins=bins, range=(lo, hi), color="#99c1f1", edgecolor="#1a5fb4",
            linewidth=0.4)
    ax.set_xlabel(P_("round trip (ms)"))
    ax.set_ylabel(P_("messages"))
    cdf = ax.twinx()
    n = len(xs)
    cdf.plot(shown, [(i + 1) / n for i in range(len(shown))], color="#3d3846", lw=1.2,
             label=P_("CDF"))
    cdf.set_ylim(0, 1.02)
    cdf.set_ylabel(P_("fraction at or below"))
    for p in PERCENTILES:
        v = percentile(xs, p)
        off = P_(" (beyond the axis)") if v > hi else ""
        ax.axvline(min(v, hi), color=COLOURS[p], ls="--", lw=1,
                   label=P_("p{p} {ms:.3f} ms{off}").format(p=p, ms=v, off=off))
    ax.set_xlim(lo - (hi - lo) * 0.02, hi + (hi - lo) * 0.02)
    if beyond:
        ax.annotate(P_("{n} slower, up to {ms:.3g} ms →").format(n=beyond, ms=xs[-1]), xy=(1, 1.0),
                    xycoords="axes fraction", ha="right", va="bottom", fontsize=MIN_PT,
                    color="#c01c28")
    ax.set_title(plot_text(title), loc="left")
    ax.legend(loc="center right", fontsize=MIN_PT)
    ax.grid(alpha=0.3)
    return fig


def rtt_vs_size(by_size: Mapping[int, Sequence[float]], *,
                title: str = N_("Round trip against payload size")) -> Figure:
    """Median round trip with p90 error bars against payload size (bytes, log scale)."""
    if not by_size:
        raise ValueError("rtt_vs_size takes {payload size in bytes: [round trips in s]}")
    sizes = sorted(by_size)
    med = [percentile(_check(by_size[s]), 50) * 1e3 for s in sizes]
    p90 = [percentile(by_size[s], 90) * 1e3 for s in sizes]
    fig, (ax,) = _figure()
    ax.errorbar(sizes, med, yerr=[[0] * len(sizes), [b - a for a, b in zip(med, p90, strict=True)]],
                fmt="o-", color=COLOURS[50], ecolor="#9a9996", capsize=3,
                label=P_("median (bar up to p90)"))
    size_axis(ax, sizes)
    ax.set_xlabel(P_("payload size (log scale)"))
    ax.set_ylabel(P_("round trip (ms)"))
    ax.set_ylim(bottom=0)
    ax.set_title(plot_text(title))
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3, which="both")
    return fig


def compare_bars(values: Mapping[str, float], *, ylabel: str, title: str,
                 fmt: str = "{:.3g}") -> Figure:
    """A labelled bar per entry (e.g. bytes per message for polling vs WebSocket), its value
    written after it.  The bars lie horizontally with the names on the left, wrapped at 32
    characters, so however long the names they never collide; ``ylabel`` names the values
    (the axis along the bars)."""
    if not values:
        raise ValueError("compare_bars takes {label: number}")
    names = list(values)
    fig, (ax,) = _figure(height=0.45 * len(names) + 1.2)
    ticks = ["\n".join(w for line in k.split("\n") for w in textwrap.wrap(line, 32) or [""])
             for k in names]
    y = list(range(len(names)))[::-1]
    bars = ax.barh(y, [values[k] for k in names], color=["#99c1f1", "#f9f06b", "#8ff0a4",
                                                          "#ffbe6f", "#dc8add"][:len(names)],
                   edgecolor="#3d3846", linewidth=0.6)
    for bar, name in zip(bars, names, strict=True):
        ax.annotate(" " + fmt.format(values[name]),
                    (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center",
                    fontsize=MIN_PT)
    ax.set_yticks(y, ticks)
    ax.margins(x=0.15)  # room for the value after the longest bar
    ax.set_xlabel(plot_text(ylabel))
    ax.set_title(plot_text(title))
    ax.grid(alpha=0.3, axis="x")
    return fig


def push_comparison(results: Sequence) -> Figure:
    """Two panels for ``wslab.labs.push_compare.compare_push`` results: wire overhead, latency.

    One row per method, its name written once on the left (horizontal bars: the names never
    collide, however narrow the screen).
    """
    if not results:
        raise ValueError("push_comparison takes the list compare_push() returns")
    fig, (left, right) = _figure(height=0.5 * len(results) + 1.2, ncols=2, sharey=True)
    shown = [plot_text(r.method) for r in results]  # the polling methods have entries
    names = [m.replace(" ", "\n", 1) if len(m) > 12 else m for m in shown]
    y = list(range(len(results)))[::-1]
    colours = ["#99c1f1", "#f9f06b", "#dc8add", "#8ff0a4"][:len(names)]
    over = [r.overhead_per_message for r in results]
    bars = left.barh(y, over, color=colours, edgecolor="#3d3846", linewidth=0.6)
    for bar, v in zip(bars, over, strict=True):
        left.annotate(f" {v:.0f}", (v, bar.get_y() + bar.get_height() / 2), va="center",
                      fontsize=MIN_PT)
    left.set_yticks(y, names)
    left.margins(x=0.22)  # room for the number after the longest bar
    left.set_xlabel(P_("overhead bytes per message"))
    left.set_title(P_("Wire cost beyond the message"))
    p50 = [r.p50_ms for r in results]
    p99 = [r.p99_ms for r in results]
    right.barh(y, p50, color=colours, edgecolor="#3d3846", linewidth=0.6,
               xerr=[[0] * len(p50), [b - a for a, b in zip(p50, p99, strict=True)]],
               capsize=4, label=P_("p50, line up to p99"))
    log_axis(right, "x")
    right.set_xlabel(P_("delivery latency (ms, log)"))
    right.set_title(P_("From creation to arrival"))
    right.legend(loc="lower right", fontsize=MIN_PT)
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="x")
    return fig


def figure_png(fig: Figure, *, dpi: int = DPI) -> bytes:
    """A figure as PNG bytes (for an ipywidgets Image or a file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _register_ipython_formatter() -> None:
    """Show a Figure returned by a cell once, as PNG, without needing pyplot."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    ip = get_ipython()
    if ip is None:
        return
    formatter = ip.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda fig: figure_png(fig, dpi=DPI))


_register_ipython_formatter()


TIMELINE_COLOURS = {"connecting": "#f6d32d", "open": "#57e389", "waiting": "#c0bfbc",
                    "gave-up": "#f66151", "stopped": "#9a9996"}


def connection_timeline(events: Sequence, *,
                        title: str = N_("Reconnecting client: states over time")) -> Figure:
    """States over time as coloured spans; each attempt a tick, each backoff labelled."""
    evs = list(events)
    if not evs:
        raise ValueError("connection_timeline takes ReconnectingClient.events (none yet)")
    t0 = evs[0].t
    fig, (ax,) = _figure(height=2.9)
    spans = [e for e in evs if e.kind in TIMELINE_COLOURS]
    end = evs[-1].t
    for cur, nxt in zip(spans, spans[1:] + [None], strict=True):
        stop = nxt.t if nxt is not None else end + 0.05 * max(end - t0, 0.1)
        ax.barh(0, stop - cur.t, left=cur.t - t0, height=0.5,
                color=TIMELINE_COLOURS[cur.kind], edgecolor="none")
    for e in evs:
        if e.kind == "connecting":
            ax.plot([e.t - t0], [0.42], "v", color="#1a5fb4", ms=6)
        if e.kind == "waiting" and e.delay is not None:
            ax.annotate(f"{e.delay * 1e3:.0f} ms", (e.t - t0, -0.3), fontsize=MIN_PT,
                        rotation=45)
        if e.kind == "closed":
            ax.plot([e.t - t0], [0], "x", color="#c01c28", ms=8)
    handles = [ax.barh(0, 0, color=c, label=k) for k, c in TIMELINE_COLOURS.items()]
    ax.plot([], [], "v", color="#1a5fb4", label=P_("attempt"))
    ax.plot([], [], "x", color="#c01c28", label=P_("connection lost"))
    del handles
    ax.set_yticks([])
    ax.set_ylim(-0.6, 0.7)
    ax.set_xlim(left=-0.02 * max(end - t0, 0.1))  # the first attempt's mark whole
    ax.set_xlabel(P_("time (s)"))
    ax.set_title(plot_text(title))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=4, fontsize=MIN_PT,
              frameon=False)
    return fig


def thundering_herd(results: Sequence, *, bin_s: float = 0.1,
                    title: str = N_("Reconnection attempts after a server restart")) -> Figure:
    """Attempts per ``bin_s`` seconds for each jitter setting, one panel each, same axes."""
    if not results:
        raise ValueError("thundering_herd takes a list of herd_experiment() results")
    plot_language()
    fig = Figure(figsize=(WIDTH, 1.9 * len(results) + 0.6), layout="constrained")
    axes = fig.subplots(len(results), 1, sharex=True, squeeze=False)[:, 0]
    top = max(max(r.attempts, default=0) for r in results)
    bins = [i * bin_s for i in range(int(top / bin_s) + 2)]
    for ax, r in zip(axes, results, strict=True):
        ax.hist(r.attempts, bins=bins, color="#99c1f1", edgecolor="#1a5fb4", linewidth=0.4)
        ax.axvline(r.restart_after, color="#26a269", ls="--", lw=1, label=P_("server back"))
        back = P_(", all back after {s:.2f} s").format(s=r.all_back_after) \
            if r.all_back_after else ""
        ax.set_title(P_("jitter = {jitter!r}: {n} attempts by {clients} clients{back}").format(
            jitter=r.jitter, n=len(r.attempts), clients=r.clients, back=back), fontsize=10)
        ax.set_ylabel(P_("attempts per {ms:.0f} ms").format(ms=bin_s * 1e3))
        ax.legend(loc="upper right", fontsize=MIN_PT)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(P_("time since the server went down (s)"))
    fig.suptitle(plot_text(title))
    return fig


def pong_latency(samples: Sequence, *, marks: Sequence[tuple[float, str]] = (),
                 title: str = N_("Round trip of each keepalive ping")) -> Figure:
    """Pong round trips over time (``client.keepalive.samples``), with labelled moments.

    ``marks``: (monotonic time, label) pairs, e.g. when the proxy's latency was switched on.
    """
    pts = list(samples)
    if not pts:
        raise ValueError("pong_latency takes client.keepalive.samples (none yet)")
    t0 = pts[0].t
    fig, (ax,) = _figure()
    ax.plot([p.t - t0 for p in pts], [p.rtt * 1e3 for p in pts], "o-", ms=3, lw=1,
            color="#1a5fb4", label=P_("ping → pong"))
    for t, label in marks:
        ax.axvline(t - t0, color="#e66100", ls="--", lw=1)
        ax.annotate(plot_text(label), (t - t0, ax.get_ylim()[1] * 0.95), rotation=90, va="top",
                    ha="right", fontsize=MIN_PT, color="#e66100")
    ax.set_xlabel(P_("time (s)"))
    ax.set_ylabel(P_("round trip (ms)"))
    ax.set_ylim(bottom=0)
    ax.set_title(plot_text(title))
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def detection_times(records: Sequence, *, title: str = N_("Time to detect a dead connection")
                    ) -> Figure:
    """Each trial's detection time against its bound (interval + timeout, +10 %)."""
    recs = [r for r in records if r.detection_s is not None]
    if not recs:
        raise ValueError("detection_times takes detection_experiment() records")
    keys = list(dict.fromkeys((r.interval, r.timeout) for r in recs))
    fig, (ax,) = _figure()
    for i, key in enumerate(keys):
        xs = [r.detection_s for r in recs if (r.interval, r.timeout) == key]
        ax.plot([i] * len(xs), xs, "o", color="#1a5fb4", alpha=0.8,
                label=P_("measured") if i == 0 else None)
        bound = (key[0] + key[1]) * 1.1
        ax.hlines(bound, i - 0.3, i + 0.3, color="#c01c28",
                  label=P_("bound: interval + timeout + 10 %") if i == 0 else None)
        ax.hlines(key[1], i - 0.3, i + 0.3, color="#26a269", ls=":",
                  label=P_("timeout alone") if i == 0 else None)
    ax.set_xticks(range(len(keys)), [P_("interval {a:g} s\ntimeout {b:g} s").format(a=a, b=b)
                                      for a, b in keys])
    ax.set_ylabel(P_("failure → detection (s)"))
    ax.set_ylim(bottom=0)
    ax.set_title(plot_text(title))
    ax.legend(loc="upper left", fontsize=MIN_PT)
    ax.grid(alpha=0.3, axis="y")
    return fig


def coordinated_omission(result: OmissionResult, *,
                         title: str = N_("One stall, two ways of counting")) -> Figure:
    """Latency of each message from its actual send time and from its intended send time."""
    fig, (left, right) = _figure(ncols=2)
    idx = range(1, len(result.naive_s) + 1)
    left.plot(idx, [x * 1e3 for x in result.intended_s], color="#c01c28", lw=1,
              label=P_("from intended send time"))
    left.plot(idx, [x * 1e3 for x in result.naive_s], color="#1a5fb4", lw=1,
              label=P_("from actual send time"))
    log_axis(left)
    left.set_xlabel(P_("message number"))
    left.set_ylabel(P_("latency (ms, log scale)"))
    left.set_title(P_("Per message"))
    left.legend(loc="upper right", fontsize=MIN_PT)
    ps = [50, 90, 99, 99.9]
    for xs, colour, label in ((result.naive_s, "#1a5fb4", P_("actual")),
                              (result.intended_s, "#c01c28", P_("intended"))):
        right.plot([str(p) for p in ps], [percentile(xs, p) * 1e3 for p in ps], "o-",
                   color=colour, label=label)
    log_axis(right)
    right.set_xlabel(P_("percentile"))
    right.set_ylabel(P_("latency (ms, log scale)"))
    right.set_title(P_("Percentiles"))
    right.legend(loc="upper left", fontsize=MIN_PT)
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(plot_text(title) + "\n" + P_("a {stall:.0f} ms server stall, a message due "
                                             "every {every:g} ms").format(
        stall=result.stall_s * 1e3, every=result.interval_s * 1e3))
    return fig


def injected_latency(by_delay: Mapping[float, Sequence[float]], *,
                     title: str = N_("Round trip through a proxy adding latency each way"),
                     ) -> Figure:
    """Median round trip per injected one-way delay, against the expected 2 x delay."""
    delays = sorted(by_delay)
    fig, (ax,) = _figure()
    ax.plot(delays, [percentile(by_delay[d], 50) * 1e3 for d in delays], "o-",
            color=COLOURS[50], label=P_("measured median"))
    ax.plot(delays, [2 * d for d in delays], "--", color="#9a9996",
            label=P_("2 x injected delay (there and back)"))
    ax.set_xlabel(P_("injected one-way delay (ms)"))
    ax.set_ylabel(P_("round trip (ms)"))
    ax.set_title(plot_text(title))
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig
