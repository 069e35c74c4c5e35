"""Plots and a table of ``compression_experiment()`` records (layer 3, presentation).

Take the :class:`~wslab.labs.compression.CompressionRecord` list as it is
returned (any object with the same attributes works) and draw it; nothing here
opens a socket.  Same conventions as :mod:`wslab.ui.plots`: a ``Figure`` built
without pyplot, axes labelled with units.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from matplotlib.figure import Figure

from ..i18n import N_, _
from .fonts import P_, plot_text
from .plots import MIN_PT, _figure, log_axis, size_axis

KIND_COLOURS = {"json": "#1a5fb4", "repetitive": "#26a269", "random": "#c01c28"}
_SPARE = ("#e66100", "#613583", "#865e3c", "#3d3846")


def _colour(kind: str, kinds: list[str]) -> str:
    if kind in KIND_COLOURS:
        return KIND_COLOURS[kind]
    others = [k for k in kinds if k not in KIND_COLOURS]
    return _SPARE[others.index(kind) % len(_SPARE)]


def _check(records: Sequence) -> list:
    recs = list(records)
    if not recs:
        raise ValueError("no records: pass the list compression_experiment() returns")
    return recs


def _series(recs: list, kind: str, compressed: bool) -> list:
    return sorted((r for r in recs if r.kind == kind and bool(r.compressed) == compressed),
                  key=lambda r: r.size)


def compression_figure(records: Sequence, *,
                       title: str = N_("permessage-deflate: bytes on the wire and round trip")
                       ) -> Figure:
    """Two panels against payload size: wire bytes (top) and median round trip (below).

    One colour per payload kind; solid line = compression on, dashed = off.
    The wire bytes are the server -> client frames of the first message on a
    fresh connection (headers included); the grey dotted line is "wire =
    payload".  The panels are stacked so each gets the full width: the size labels
    (100 B ... 1 MiB) never collide.
    """
    recs = _check(records)
    kinds = list(dict.fromkeys(r.kind for r in recs))
    fig, (top, bottom) = _figure(height=5.0, nrows=2, sharex=True)
    sizes = sorted({r.size for r in recs})
    top.plot(sizes, sizes, ":", color="#9a9996", lw=1, label=P_("wire = payload"))
    for kind in kinds:
        colour = _colour(kind, kinds)
        for compressed, style in ((False, "--"), (True, "-")):
            series = _series(recs, kind, compressed)
            if not series:
                continue
            label = (P_("{kind}, deflate on") if compressed
                     else P_("{kind}, deflate off")).format(kind=kind)
            xs = [r.size for r in series]
            top.plot(xs, [r.wire_bytes_down for r in series], style, marker="o", ms=3.5,
                     color=colour, label=label)
            bottom.plot(xs, [r.rtt_median_s * 1e3 for r in series], style, marker="o", ms=3.5,
                        color=colour, label=label)
    for ax in (top, bottom):
        size_axis(ax, sizes)
        log_axis(ax)
        ax.grid(alpha=0.3, which="both")
    top.tick_params(labelbottom=True)
    top.set_xlabel(P_("payload size (log scale)"))
    top.set_ylabel(P_("bytes per message\n(server → client)"))
    top.set_title(P_("Size on the wire (log scales)"), fontsize=10)
    bottom.set_xlabel(P_("payload size (log scale)"))
    bottom.set_ylabel(P_("median echo\nround trip (ms)"))
    bottom.set_title(P_("Echo round trip (log scales)"), fontsize=10)
    fig.legend(*top.get_legend_handles_labels(), loc="outside lower center", ncol=3,
               fontsize=MIN_PT, handlelength=3, frameon=False)
    fig.suptitle(plot_text(title), fontsize=11)
    return fig


def _fmt_int(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def _wire(r: object) -> str:
    return "–" if r is None else f"{_fmt_int(r.wire_bytes_up)} / {_fmt_int(r.wire_bytes_down)}"


def _rtt(r: object) -> str:
    return "–" if r is None else f"{r.rtt_median_s * 1e3:.3f}"


def compression_table_html(records: Sequence) -> str:
    """An HTML table: kind, size, wire bytes off/on (↑ up / ↓ down), ratio on, rtt off/on."""
    recs = _check(records)
    cells: dict[tuple[str, int], dict[bool, object]] = {}
    for r in recs:
        cells.setdefault((r.kind, r.size), {})[bool(r.compressed)] = r
    head = (_("kind"), _("payload (B)"), _("wire off ↑/↓ (B)"), _("wire on ↑/↓ (B)"),
            _("ratio on"), _("rtt off (ms)"), _("rtt on (ms)"))
    rows = []
    for (kind, size), pair in cells.items():
        off, on = pair.get(False), pair.get(True)
        row = (kind, f"{size:,}", _wire(off), _wire(on),
               "–" if on is None else f"{on.ratio:.3f}", _rtt(off), _rtt(on))
        rows.append("<tr>" + "".join(
            f"<td style='text-align:{'left' if i == 0 else 'right'}'>{html.escape(c)}</td>"
            for i, c in enumerate(row)) + "</tr>")
    thead = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return ("<table class='wslab-compression' style='font-family:monospace;font-size:12px'>"
            f"<thead><tr>{thead}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
