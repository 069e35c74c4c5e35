"""The peers benchmark as an HTML table (layer 4, presentation).

One row per metric, one column per server, the ratio to bare Tornado under
each value (below 1 is better, except where a row says higher is better);
then the servers that were skipped and why, and the machine.  Fits a
1024-pixel-wide page: short headers, no wrapped text block.
"""

from __future__ import annotations

from typing import Any

from ._html import esc

BASELINE = "tornado"


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def peers_table_html(res: Any) -> str:
    """``res`` is a :class:`wslab.labs.bench.BenchResults`."""
    peers = list(res.peers)
    cell = "padding:2px 8px;text-align:right;font-variant-numeric:tabular-nums"
    head = "".join(f"<th style='{cell}'>{esc(p)}</th>" for p in peers)
    rows = []
    for label, values, higher in res.rows():
        base = values.get(BASELINE)
        tds = []
        for p in peers:
            v = values.get(p)
            ratio = (f"<br><span style='color:#5e5c64;font-size:11px'>x{v / base:.2f}</span>"
                     if v is not None and base and p != BASELINE else "")
            tds.append(f"<td style='{cell}'>{_fmt(v)}{ratio}</td>")
        better = " <span style='color:#5e5c64'>(higher is better)</span>" if higher else ""
        rows.append(f"<tr><td style='padding:2px 8px'>{esc(label)}{better}</td>{''.join(tds)}</tr>")
    notes = [f"skipped <b>{esc(p)}</b>: {esc(why)}" for p, why in res.skipped.items()]
    notes.append(f"ratios: x value / bare {BASELINE}; {res.cpu_count} cores, python "
                 f"{esc(res.python)}, {res.seconds:.0f} s")
    return (f"<table class='wslab-peers' style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr><th style='text-align:left;padding:2px 8px'>metric</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            f"<div style='font-size:12px;color:#5e5c64'>{'<br>'.join(notes)}</div>")
