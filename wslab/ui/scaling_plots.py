"""Notebook 11's figures: broadcast latency and the rolling-restart timeline (layer 4)."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from ..labs.scaling import LatencyRecord, RollingRestart
from ..labs.stats import percentile
from .fonts import P_, plot_language
from .plots import MIN_PT, WIDTH, log_axis


def latency_figure(records: Sequence[LatencyRecord]) -> Figure:
    """p50 and p99 per setup; for two processes, local clients and those reached through Redis."""
    plot_language()
    fig = Figure(figsize=(WIDTH, 3.4), layout="constrained")
    ax = fig.subplots()
    rows: list[tuple[str, list[float]]] = []
    for r in records:
        rows.append((r.label + "\n" + P_("all {n} clients").format(n=r.clients), r.samples_ms))
        if r.remote_ms:
            rows.append((P_("  its local clients"), r.local_ms))
            rows.append((P_("  its clients through Redis"), r.remote_ms))
    y = list(range(len(rows)))[::-1]
    p50 = [percentile(s, 50) for _, s in rows]
    p99 = [percentile(s, 99) for _, s in rows]
    ax.barh(y, p99, color="#f2b8a0", label=P_("p99"))
    ax.barh(y, p50, color="#2f6db3", label=P_("p50"))
    ax.set_yticks(y, [label for label, _ in rows], fontsize=MIN_PT)
    ax.set_xlabel(P_("broadcast latency (ms):\nfrom the request to send until each client has it"))
    ax.legend(loc="lower right", fontsize=MIN_PT)
    return fig


def timeline_figure(rr: RollingRestart) -> Figure:
    """Each event's latency over time; restarts and the client's disconnects marked."""
    plot_language()
    fig = Figure(figsize=(WIDTH, 3.2), layout="constrained")
    ax = fig.subplots()
    t = [p - rr.t0 for p in rr.published_at]
    ax.scatter(t, rr.latency_ms, s=3, color="#2f6db3", label=P_("event latency"))
    for k, (tr, i) in enumerate(rr.restarts):
        ax.axvline(tr - rr.t0, color="#c0392b", lw=1, ls="--",
                   label=P_("server restarted (1012)") if k == 0 else None)
        ax.text(tr - rr.t0, 1.0, f" {i}", transform=ax.get_xaxis_transform(), fontsize=MIN_PT,
                color="#c0392b", va="top")
    for k, (td, _) in enumerate(rr.disconnects):
        ax.axvline(td - rr.t0, color="#888", lw=0.8,
                   label=P_("client disconnected") if k == 0 else None)
    log_axis(ax)
    ax.set_xlabel(P_("time (s)"))
    ax.set_ylabel(P_("publish -> receive (ms, log)"))
    ax.set_title(P_("Rolling restart: {got} of {sent} events, {verdict}").format(
        got=len(rr.received), sent=rr.sent,
        verdict=P_("each once, in order") if rr.in_order_once else
        P_("NOT each once in order")))
    fig.legend(loc="outside lower center", ncol=3, fontsize=MIN_PT, frameon=False)
    return fig
