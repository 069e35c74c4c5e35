"""HTML views of layer-2 results, for notebooks (layer 3, presentation).

The objects live in :mod:`wslab.net` and print as text there; ``import wslab``
registers these functions with IPython so the same objects show as tables in
a notebook, without HTML in the I/O layer.
"""

from __future__ import annotations

import html
from typing import Any

from ..i18n import N_, _, shown, translate
from ..labs.by_hand import Transcript, show_bytes
from ..labs.push_compare import PushComparison
from ..net.tap import C2S, S2C, TapTable

#: The measures of compare_push(), as PushResult.row() names them (shown translated).
PUSH_MEASURES = (N_("delivered"), N_("requests"), N_("messages/response"), N_("bytes up"),
                 N_("bytes down"), N_("bytes/message"), N_("overhead bytes/message"),
                 N_("latency p50 ms"), N_("latency p99 ms"))
#: The tap table's columns (TapTable.COLUMNS) that are words, not field names.
TAP_COLUMNS = {"conn": N_("conn"), "dir": N_("dir"), "mask key": N_("mask key"),
               "len": N_("len"), "wire": N_("wire"), "data": N_("data")}
ARROW_COLOURS = {"→": "#1a5fb4", "←": "#26a269", "✓": "#26a269", "✗": "#c01c28"}
# A check's result as a text badge: it reads the same with or without a symbol font.
CHECK_MARKS = {"✓": "OK", "✗": "FAIL"}
# CR LF at the end of an HTTP line, as a grey \r\n (the control pictures U+240D U+240A
# are missing from most fonts and show as empty boxes).
CRLF_HTML = "<span style='color:#868e96;font-size:11px'>\\r\\n</span>"


def _bytes_html(data: bytes) -> str:
    return html.escape(show_bytes(data)).replace("\u240d\u240a", CRLF_HTML)


def tap_table_html(table: TapTable) -> str:
    """The tap's records as a DevTools-like table: ↑ client to server, ↓ server to client."""
    if not table:
        return "<i>" + _("nothing recorded yet") + "</i>"
    t0 = table[0].t_ns
    head = "".join(f"<th style='text-align:left'>{translate(TAP_COLUMNS.get(c, c))}</th>"
                   for c in TapTable.COLUMNS)
    body = []
    for r in table:
        colour = {C2S: "#1a5fb4", S2C: "#26a269"}.get(r.direction, "#3d3846")
        if r.kind == "invalid" or r.error:
            colour = "#c01c28"
        cells = "".join(f"<td style='text-align:left'>{html.escape(c)}</td>"
                        for c in table.row(r, t0))
        body.append(f"<tr style='color:{colour}'>{cells}</tr>")
    return (f"<table class='wslab-tap' style='font-family:monospace;font-size:12px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def transcript_html(t: Transcript) -> str:
    """A handshake_by_hand transcript: step, exact bytes, what they mean."""
    rows = []
    for s in t.steps:
        colour = ARROW_COLOURS.get(s.direction, "#3d3846")
        body = (f"<pre style='margin:0;white-space:pre-wrap;overflow-wrap:anywhere'>"
                f"{_bytes_html(s.data)}</pre>" if s.data else "")
        rfc = (f"<br><span style='font-size:11px'>RFC 6455 {html.escape(s.rfc)}</span>"
               if s.rfc else "")
        mark = CHECK_MARKS.get(s.direction)
        head = (f"<span style='background:{colour};color:#fff;border-radius:3px;padding:0 4px;"
                f"font:600 11px sans-serif'>{mark}</span>" if mark else html.escape(s.direction))
        rows.append(
            f"<tr><td style='color:{colour};font-size:16px;text-align:center'>{head}</td>"
            f"<td style='text-align:left'><b>{html.escape(shown(s.title))}</b>{rfc}</td>"
            f"<td style='text-align:left;font-family:monospace;font-size:12px'>{body}</td>"
            f"<td style='text-align:left;overflow-wrap:anywhere'>{html.escape(shown(s.note))}"
            "</td></tr>")
    return ("<table class='wslab-transcript' style='table-layout:fixed;width:100%'>"
            "<colgroup><col style='width:3.2em'><col style='width:22%'><col style='width:40%'>"
            "<col></colgroup><thead><tr><th></th><th style='text-align:left'>" + _("step")
            + "</th><th style='text-align:left'>" + _("exact bytes")
            + "</th><th style='text-align:left'>" + _("what they mean")
            + "</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def push_table_html(results: PushComparison) -> str:
    """compare_push() results, one column per method and one row per measure (ten measures
    side by side would not fit a projector's 572 px; four methods do)."""
    rows = [r.row() for r in results]
    head = "".join(f"<th style='text-align:right'>{html.escape(translate(str(r['method'])))}</th>"
                   for r in rows)
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(translate(key))}</th>"
        + "".join(f"<td style='text-align:right'>{html.escape(str(r[key]))}</td>" for r in rows)
        + "</tr>" for key in rows[0] if key != "method")
    return (f"<table class='wslab-push'><thead><tr><th></th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


VIEWS: dict[type, Any] = {TapTable: tap_table_html, Transcript: transcript_html,
                          PushComparison: push_table_html}
