"""The peers benchmark as an HTML table (layer 4, presentation).

One row per metric, one column per server: the median of the interleaved
rounds, and under it the ratio to bare Tornado (the median of the per-round
ratios; below 1 is better, except where a row says higher is better; "~" when
the rounds spread over 15% of it); then the goals, the servers that were
skipped and why, and the machine.  Numbers are formatted by
:func:`wslab.labs.bench.records.format_value`, as in the text table.  Fits a
1024-pixel-wide page: short headers, no wrapped text block.
"""

from __future__ import annotations

from typing import Any

from ..labs.bench.records import BASELINE, MOVES, format_value
from ._html import esc


def peers_table_html(res: Any) -> str:
    """``res`` is a :class:`wslab.labs.bench.BenchResults`."""
    peers = list(res.peers)
    cell = "padding:2px 8px;text-align:right;font-variant-numeric:tabular-nums"
    head = "".join(f"<th style='{cell}'>{esc(p)}</th>" for p in peers)
    rows = []
    for label, values, higher in res.rows():
        tds = []
        for p in peers:
            r = res.ratio(label, p, BASELINE) if p != BASELINE else None
            mark = "~" if r is not None and r[0] and (r[2] - r[1]) / r[0] > MOVES else ""
            ratio = (f"<br><span style='color:#5e5c64;font-size:11px'>x{r[0]:.2f}{mark}</span>"
                     if r is not None else "")
            tds.append(f"<td style='{cell}'>{format_value(values.get(p))}{ratio}</td>")
        better = " <span style='color:#5e5c64'>(higher is better)</span>" if higher else ""
        rows.append(f"<tr><td style='padding:2px 8px'>{esc(label)}{better}</td>{''.join(tds)}</tr>")
    notes = []
    for t in res.targets():
        if t["ratio"] is not None:
            verdict = "met" if t["met"] else "not met"
            notes.append(f"goal {esc(t['target'])}: {t['ratio']:.2f} "
                         f"({'&ge;' if t['higher'] else '&le;'} {t['limit']}) {verdict}")
    notes += [f"skipped <b>{esc(p)}</b>: {esc(why)}" for p, why in res.skipped.items()]
    notes.append(f"medians of {res.config.get('rounds')} interleaved rounds; ratios: x value / "
                 f"bare {BASELINE}; {res.cpu_count} cores, python "
                 f"{esc(res.python)}, {res.seconds:.0f} s")
    return (f"<table class='wslab-peers' style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr><th style='text-align:left;padding:2px 8px'>metric</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            f"<div style='font-size:12px;color:#5e5c64'>{'<br>'.join(notes)}</div>")
