"""The connection state diagram, drawn from the protocol's own state table (layer 3).

Nothing here knows the states or events by heart: every box and arrow comes
from :data:`wslab.protocol.state.TRANSITIONS`, the table the code uses.
"""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..i18n import N_, _, translate
from ..protocol import state as st
from ..protocol.state import TRANSITIONS, State, Transition
from ._html import esc
from .fonts import P_, plot_text
from .plots import MIN_PT, WIDTH

# Coordinates in inches on a WIDTH x HEIGHT figure: the layout is planned at the size it is
# shown, so labels go where there is room for them at LABEL_PT.
HEIGHT = 4.6
POSITIONS = {State.CONNECTING: (0.8, 3.45), State.OPEN: (3.1, 3.45), State.CLOSING: (5.4, 3.45),
             State.CLOSED: (2.55, 0.45)}
COLOURS = {State.CONNECTING: "#f9f06b", State.OPEN: "#8ff0a4", State.CLOSING: "#ffbe6f",
           State.CLOSED: "#f66151"}
BEND = {(State.CONNECTING, State.CLOSED): 0.25, (State.CLOSING, State.CLOSED): 0.25,
        (State.OPEN, State.CLOSED): 0.0}
# Where each arrow's label goes: (x, y, horizontal alignment, vertical alignment, whether each
# transition's RFC sections go on a line of their own).
LABELS = {(State.CONNECTING, State.OPEN): (1.95, 3.72, "center", "bottom", True),
          (State.OPEN, State.CLOSING): (4.25, 3.72, "center", "bottom", False),
          (State.OPEN, State.CLOSED): (2.9, 2.72, "right", "center", True),
          (State.CONNECTING, State.CLOSED): (1.15, 1.75, "left", "center", True),
          (State.CLOSING, State.CLOSED): (6.15, 0.7, "right", "center", False)}

HALF_W, HALF_H = 0.72, 0.2

# The protocol's events and notes are English facts (its tests read them); the learner reads
# them through the catalogue.  State names (OPEN, CLOSING, ...) are identifiers: never translated.
EVENTS = {st.HANDSHAKE_SUCCEEDED: N_("101 received/sent"),
          st.HANDSHAKE_FAILED: N_("handshake failed"),
          st.CLOSE_SENT: N_("close frame sent"),
          st.CLOSE_RECEIVED: N_("close frame received"),
          st.PROTOCOL_ERROR: N_("protocol error detected"),
          st.TCP_CLOSED: N_("TCP connection closed"),
          st.TCP_LOST: N_("TCP connection lost"),
          st.CLOSE_TIMEOUT: N_("close timeout")}
NOTES = (
    N_("the client received a valid 101 / the server sent its 101: the connection is "
       "established and frames may flow"),
    N_("a non-101 answer, a wrong Sec-WebSocket-Accept or a refused request: "
       "fail the WebSocket connection (close code 1006 reported locally)"),
    N_("the TCP connection dropped before the handshake finished (1006)"),
    N_("start the closing handshake: send a Close frame, then send no more data"),
    N_("the peer started the closing handshake: reply with a Close frame "
       "(usually echoing its code)"),
    N_("fail the connection: send a Close frame with 1002, 1007 or 1009, then close TCP"),
    N_("the TCP connection dropped without a closing handshake: close code 1006"),
    N_("our Close was answered: both sides are done; CLOSED once TCP is closed "
       "(the server closes TCP first)"),
    N_("we answered the peer's Close: both sides are done; CLOSED once TCP is closed"),
    N_("the TCP connection closed during the closing handshake"),
    N_("the TCP connection dropped before the Close frames were exchanged: 1006"),
    N_("the peer never answered our Close in time: drop the TCP connection (1006)"),
)

# Sized for a projector like every figure (see wslab.ui.plots): WIDTH wide, shown as a PNG
# of plots.DPI, so a label of MIN_PT is 11.9 px tall even with JupyterLab's side bar open.
# tests/test_screen_plots.py measures it, and that no two texts overlap.
LABEL_PT, STATE_PT, TITLE_PT = MIN_PT, 10.5, 10.5
TAKEN = "#1a5fb4"


def _anchor(src: State, dst: State) -> tuple[tuple[float, float], tuple[float, float]]:
    """Arrow end points on the boxes' edges (not their centres)."""
    (x0, y0), (x1, y1) = POSITIONS[src], POSITIONS[dst]
    if y0 == y1:
        d = HALF_W if x1 > x0 else -HALF_W
        return (x0 + d, y0), (x1 - d, y1)
    start = (x0, y0 - HALF_H)
    if abs(x0 - x1) < HALF_W:
        return start, (x1 + (x0 - x1) / 2, y1 + HALF_H)
    return start, (x1 - HALF_W if x0 < x1 else x1 + HALF_W, y1)


def _edges(rows: Iterable[Transition]) -> dict[tuple[State, State], list[Transition]]:
    edges: dict[tuple[State, State], list[Transition]] = {}
    for t in rows:
        edges.setdefault((t.source, t.target), []).append(t)
    return edges


def state_diagram(*, taken: Iterable[Transition] = (), title: str | None = None) -> Figure:
    """Boxes for states, arrows for the table's transitions (RFC section on each label).

    ``taken``: transitions a real connection went through (e.g. a
    ``ConnectionStateMachine.history``); their arrows are drawn thick and blue.  ``title``:
    "WebSocket connection states" in the learner's language unless given.
    """
    taken = list(taken)
    title = P_("WebSocket connection states") if title is None else title
    fig = Figure(figsize=(WIDTH, HEIGHT))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(0, HEIGHT)
    ax.axis("off")
    ax.text(WIDTH / 2, HEIGHT - 0.08,
            P_("{title}  (numbers as in the browser's readyState)").format(title=title),
            ha="center", va="top", fontsize=TITLE_PT)
    for state, (x, y) in POSITIONS.items():
        ax.add_patch(FancyBboxPatch((x - HALF_W, y - HALF_H), 2 * HALF_W, 2 * HALF_H,
                                    boxstyle="round,pad=0.02", fc=COLOURS[state], ec="#3d3846"))
        ax.text(x, y, f"{state.name} ({int(state)})", ha="center", va="center",
                fontsize=STATE_PT, fontweight="bold")
    used = {(t.source, t.target, t.event) for t in taken}
    for (src, dst), rows in _edges(TRANSITIONS).items():
        (x0, y0), (x1, y1) = _anchor(src, dst)
        hit = any((src, dst, t.event) in used for t in rows)
        rad = BEND.get((src, dst), 0.0)
        ax.add_patch(FancyArrowPatch(
            (x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14,
            connectionstyle=f"arc3,rad={rad}", shrinkA=1, shrinkB=1,
            color=TAKEN if hit else "#5e5c64", lw=3 if hit else 1.2))
        # A taken transition: an arrow (U+2192, in every text font, no emoji font needed)
        # in front of its event, and the label in the arrow's blue.
        x, y, ha, va, wrap = LABELS[(src, dst)]
        label = "\n".join(
            f"{'→ ' if (src, dst, t.event) in used else ''}{_event(t.event, plot=True)}{sep}"
            f"[{t.rfc}]"
            for t in rows for sep in (("\n" if wrap else "  "),))
        ax.text(x, y, label, ha=ha, va=va, multialignment=ha if ha != "center" else "center",
                fontsize=LABEL_PT, color=TAKEN if hit else "#241f31")
    return fig


def _event(event: str, *, plot: bool = False) -> str:
    """A protocol event as the learner reads it (on a plot: only where a font draws it)."""
    message = EVENTS.get(event, event)
    return plot_text(message) if plot else translate(message)


_L = " style='text-align:left'"  # JupyterLab right-aligns table cells: words read from the left


def state_table_html(rows: Iterable[Transition] = TRANSITIONS) -> str:
    """The same table as HTML: from, event, to, RFC 6455 section, what happens."""
    body = "".join(
        f"<tr><td{_L}>{t.source.name}</td><td{_L}>{esc(_event(t.event))}</td>"
        f"<td{_L}>{t.target.name}</td><td{_L}>{esc(t.rfc)}</td>"
        f"<td{_L}>{esc(translate(t.note))}</td></tr>" for t in rows)
    head = "".join(f"<th{_L}>{h}</th>" for h in (_("from"), _("event"), _("to"), "RFC 6455",
                                                   _("what happens")))
    return (f"<table class='wslab-state-table'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def close_codes_html() -> str:
    """Every registered close code, its meaning and whether it may be sent (RFC 6455 7.4)."""
    from ..protocol.closecodes import CloseCode, describe_close_code

    rows = "".join(
        f"<tr><td{_L}>{int(c)}</td><td{_L}><code>{c.name}</code></td>"
        f"<td{_L}>{_('yes') if c.on_wire else '<b>' + _('never') + '</b>'}</td>"
        f"<td{_L}>{esc(c.meaning)}</td></tr>" for c in CloseCode)
    ranges = "".join(
        f"<tr><td{_L}>{lo}-{hi}</td><td colspan='2'></td><td{_L}>"
        f"{esc(describe_close_code(lo).split(': ', 1)[1])}</td></tr>"
        for lo, hi in ((0, 999), (1016, 2999), (3000, 3999), (4000, 4999)))
    head = "".join(f"<th{_L}>{h}</th>"
                   for h in (_("code"), _("name"), _("sent on the wire?"), _("meaning")))
    return (f"<table class='wslab-close-codes'><thead><tr>{head}</tr></thead>"
            f"<tbody>{rows}{ranges}</tbody></table>")
