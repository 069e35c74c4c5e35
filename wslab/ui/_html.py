"""Small HTML builders shared by the panels (layer 3, presentation)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..i18n import _
from ..protocol.state import State

STATE_COLOURS = {State.CONNECTING: "#f6d32d", State.OPEN: "#57e389", State.CLOSING: "#ffa348",
                 State.CLOSED: "#f66151"}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def badge(state: State, note: str = "") -> str:
    """A coloured state badge; ``data-state`` carries the name for tests."""
    colour = STATE_COLOURS.get(state, "#deddda")
    extra = f" <span style='color:#5e5c64'>{esc(note)}</span>" if note else ""
    return (f"<span class='wslab-state' data-state='{state.name}' style='background:{colour};"
            f"padding:2px 8px;border-radius:4px;font-weight:600;font-family:monospace'>"
            f"{state.name}</span>{extra}")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, css_class: str,
          max_height: str = "14em", empty: str = "nothing yet",
          right: Sequence[int] = (), wrap: int | None = -1) -> str:
    """A compact table that scrolls up and down, never sideways; cells are escaped.

    It takes the width of its container: the ``wrap`` column (by default the last: the
    message, the event) takes the room left and wraps, at spaces or anywhere in a long word,
    keeping runs of spaces; the other columns stay on one line, the ``right`` ones
    right-aligned (numbers).  ``wrap=None``: no column wraps (short cells only)."""
    wrapped = None if wrap is None else range(len(headers))[wrap]

    def cell_style(i: int) -> str:
        flow = ("white-space:pre-wrap;overflow-wrap:anywhere;width:100%" if i == wrapped
                else "white-space:nowrap")
        return (f"padding:1px 6px;vertical-align:top;{flow}"
                + (";text-align:right" if i in right else ""))

    head = "".join(f"<th style='{cell_style(i)};text-align:{'right' if i in right else 'left'}'>"
                   f"{esc(h)}</th>" for i, h in enumerate(headers))
    if rows:
        body = "".join(
            "<tr>" + "".join(f"<td style='{cell_style(i)}'>{esc(str(c).strip())}</td>"
                             for i, c in enumerate(r))
            + "</tr>" for r in rows)
    else:
        body = (f"<tr><td colspan='{len(headers)}' style='color:#77767b;padding:2px 6px'>"
                f"{esc(empty)}</td></tr>")
    return (f"<div class='{css_class}' style='max-height:{max_height};overflow-y:auto;"
            f"overflow-x:hidden;border:1px solid #deddda;font-family:monospace;font-size:12px;"
            f"line-height:1.35'>"
            f"<table style='border-collapse:collapse;width:100%'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def sparkline(values_ms: Sequence[float], *, width: int = 260, height: int = 80) -> str:
    """An inline SVG plot of round trips (ms) with labelled axes; cheap enough to redraw live.
    Its labels are 11 px, the smallest a projector shows legibly."""
    left, bottom, top, right = 44, 18, 8, 6
    w, h = width - left - right, height - top - bottom
    if not values_ms:
        return (f"<svg width='{width}' height='{height}' role='img' "
                "aria-label='no round trips yet'>"
                f"<text x='{left}' y='{height / 2}' font-size='11' fill='#77767b'>"
                f"{esc(_('round trips appear here'))}</text></svg>")
    ymax = max(values_ms) * 1.1 or 1.0
    n = len(values_ms)
    pts = " ".join(f"{left + (i / max(n - 1, 1)) * w:.1f},{top + h - v / ymax * h:.1f}"
                   for i, v in enumerate(values_ms))
    return (
        f"<svg width='{width}' height='{height}' role='img' aria-label='round-trip plot' "
        f"style='font-family:sans-serif'>"
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + h}' stroke='#9a9996'/>"
        f"<line x1='{left}' y1='{top + h}' x2='{left + w}' y2='{top + h}' stroke='#9a9996'/>"
        f"<text x='{left - 3}' y='{top + 9}' font-size='11' text-anchor='end'>{ymax:.2f}</text>"
        f"<text x='{left - 3}' y='{top + h}' font-size='11' text-anchor='end'>0</text>"
        f"<text x='2' y='{top + h / 2 + 4}' font-size='11'>ms</text>"
        f"<text x='{left + w}' y='{height - 3}' font-size='11' text-anchor='end'>"
        f"{esc(_('last {n} messages').format(n=n))}</text>"
        f"<polyline points='{pts}' fill='none' stroke='#1a5fb4' stroke-width='1.5'/>"
        f"</svg>")
