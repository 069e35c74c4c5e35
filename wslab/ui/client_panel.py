"""ClientPanel: an ipywidgets WebSocket client with a log and live round trips (layer 3).

Every button has a Python twin (``panel.connect()``, ``panel.send("hi")``,
``panel.ping()``, ``panel.disconnect()``), so a notebook runs headless and a click
in JupyterLab does exactly the same.  Handlers only set widget values (never
``with out:``), see the nbclient pitfall in ARCHITECTURE.md.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

import ipywidgets as W

from ..i18n import _
from ..labs.stats import percentile
from ..net.client import Client, LogEntry, connect
from ..net.errors import ConnectionClosed, WSLabError
from ..net.events import preview
from ..protocol.state import State
from . import _html
from ._refresh import Throttle

ROWS_SHOWN = 200
ARROWS = {"out": "→", "in": "←", "": "•"}


@dataclass(frozen=True)
class Row:
    """One line of the panel's log."""

    t_ms: float
    direction: str
    kind: str
    size: int
    text: str

    def cells(self) -> tuple[str, ...]:
        return (f"{self.t_ms:9.1f}", ARROWS.get(self.direction, "•"), self.kind,
                str(self.size) if self.kind not in ("state", "error") else "", self.text)


class ClientPanel(W.VBox):
    """A WebSocket client as widgets: connect, send, ping, close, log, round trips."""

    def __init__(self, url: str, *, subprotocols: tuple[str, ...] = (), title: str = "client",
                 **kwargs: object) -> None:
        self.title = title
        self.subprotocols = tuple(subprotocols)
        self.client: Client | None = None
        self.message_log: collections.deque[Row] = collections.deque(maxlen=2000)
        self.rtt_samples: list[float] = []  # seconds, echo of a message sent from this panel
        self.last_error = ""
        self._t0 = time.perf_counter_ns()
        self._pending: collections.deque[tuple[object, int]] = collections.deque(maxlen=1000)
        self._redraw = Throttle(self._render, 0.1)

        self.url_box = W.Text(value=url, description="URL", layout=W.Layout(width="98%"),
                              style={"description_width": "3em"})
        self.connect_button = W.Button(description=_("Connect"), button_style="success",
                                       icon="plug")
        self.disconnect_button = W.Button(description=_("Disconnect"), icon="times")
        self.state_badge = W.HTML(_html.badge(State.CLOSED, _("not connected")))
        self.message_box = W.Text(placeholder=_("message (Enter sends)"), continuous_update=False,
                                  layout=W.Layout(flex="1 1 auto", width="auto"))
        self.send_button = W.Button(description=_("Send"), button_style="primary",
                                    icon="paper-plane")
        self.ping_button = W.Button(description="Ping", icon="exchange")
        self.kind_toggle = W.Dropdown(options=["text", "binary"], value="text",
                                      layout=W.Layout(width="6.5em"))
        self.code_box = W.BoundedIntText(value=1000, min=1000, max=4999,
                                         description=_("close code"),
                                         layout=W.Layout(width="13em"),
                                         style={"description_width": "6em"})
        self.reason_box = W.Text(value="", placeholder=_("close reason"),
                                 layout=W.Layout(flex="1 1 auto", width="auto"))
        self.rtt_label = W.HTML(self._rtt_text())
        self.rtt_plot = W.HTML(_html.sparkline([]))
        self.log_view = W.HTML(self._log_html())

        self.connect_button.on_click(lambda _: self.connect())
        self.disconnect_button.on_click(lambda _: self.disconnect())
        self.send_button.on_click(lambda _: self.send())
        self.ping_button.on_click(lambda _: self.ping())
        self.message_box.observe(self._on_enter, names="value")

        for b in (self.connect_button, self.disconnect_button, self.send_button, self.ping_button):
            b.layout = W.Layout(width="auto", min_width="7em", flex="0 0 auto")
        kwargs.setdefault("layout", W.Layout(width="36em", border="1px solid #deddda",
                                             padding="4px 8px", margin="0 8px 8px 0"))
        super().__init__([
            W.HTML(f"<b>{_html.esc(title)}</b>"),
            self.url_box,
            W.HBox([self.connect_button, self.disconnect_button,
                    W.HTML("&nbsp;" + _("state") + "&nbsp;"), self.state_badge],
                   layout=W.Layout(align_items="center", flex_flow="row wrap")),
            W.HBox([self.message_box, self.kind_toggle, self.send_button, self.ping_button],
                   layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.code_box, self.reason_box], layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.rtt_plot, self.rtt_label], layout=W.Layout(flex_flow="row wrap")),
            self.log_view,
        ], **kwargs)
        self.add_class("wslab-client-panel")

    # --- twins -------------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.client.state if self.client is not None else State.CLOSED

    def connect(self) -> Client | None:
        """Open a connection to the URL in the box (closing any previous one)."""
        if self.client is not None and self.client.state in (State.OPEN, State.CONNECTING):
            self.disconnect()
        url = self.url_box.value.strip()
        self.state_badge.value = _html.badge(State.CONNECTING)
        try:
            client = connect(url, subprotocols=self.subprotocols)
        except (WSLabError, ValueError) as exc:
            self._error(str(exc))
            self.state_badge.value = _html.badge(State.CLOSED, _("connection failed"))
            return None
        self.client = client
        self._add(Row(self._ms(time.perf_counter_ns()), "", "state",
                      0, f"OPEN {url}" + (f" subprotocol {client.subprotocol}"
                                          if client.subprotocol else "")))
        client.subscribe(self._on_entry)
        self._render()
        return client

    def send(self, message: str | bytes | None = None) -> None:
        """Send ``message`` (or the box's text) as text or binary, per the toggle."""
        if message is None:
            text = self.message_box.value
            if text == "":
                return
            message = text.encode("utf-8") if self.kind_toggle.value == "binary" else text
            self.message_box.value = ""
        if self.client is None or self.client.state != State.OPEN:
            self._error(_("not connected (state {state}): click Connect first").format(
                state=self.state.name))
            return
        self._pending.append((message[:1024], time.perf_counter_ns()))
        try:
            self.client.send(message)
        except (WSLabError, ValueError) as exc:
            self._error(str(exc))

    def ping(self) -> float | None:
        """Send a ping frame; returns the round trip to the pong (s)."""
        if self.client is None or self.client.state != State.OPEN:
            self._error(_("not connected (state {state}): click Connect first").format(
                state=self.state.name))
            return None
        try:
            return self.client.ping()
        except (WSLabError, TimeoutError) as exc:
            self._error(str(exc))
            return None

    def disconnect(self, code: int | None = None, reason: str | None = None) -> None:
        """Start the closing handshake with the code and reason in the boxes."""
        if self.client is None or self.client.state == State.CLOSED:
            self._error(_("already closed"))
            return
        code = self.code_box.value if code is None else code
        reason = self.reason_box.value if reason is None else reason
        try:
            self.client.close(code, reason)
        except ValueError as exc:
            self._error(str(exc))
        except (WSLabError, ConnectionClosed) as exc:
            self._error(str(exc))
        self._render()

    def refresh(self) -> None:
        """Redraw now (the panel also redraws itself as events arrive)."""
        self._render()

    # --- events --------------------------------------------------------------------
    def _on_enter(self, change: dict) -> None:
        if change["new"]:
            self.send()

    def _on_entry(self, entry: LogEntry) -> None:
        if entry.kind == "state":
            text = entry.data.name
            if entry.data == State.CLOSED and self.client is not None:
                text += f" code {self.client.close_code} {self.client.close_reason or ''}".rstrip()
            self._add(Row(self._ms(entry.t_ns), "", "state", 0, text))
            return
        if entry.direction == "in" and entry.kind in ("text", "binary") and self._pending:
            payload, t_sent = self._pending[0]
            if payload == entry.data:
                self._pending.popleft()
                self.rtt_samples.append((entry.t_ns - t_sent) / 1e9)
        self._add(Row(self._ms(entry.t_ns), entry.direction, entry.kind, entry.size,
                      preview(entry.data, 60) if entry.kind != "close" else str(entry.data)))

    def _add(self, row: Row) -> None:
        self.message_log.append(row)
        self._redraw.poke()

    def _error(self, text: str) -> None:
        self.last_error = text
        self._add(Row(self._ms(time.perf_counter_ns()), "", "error", 0, text))
        self._render()

    def _ms(self, t_ns: int) -> float:
        return (t_ns - self._t0) / 1e6

    # --- drawing -----------------------------------------------------------------------
    def _render(self) -> None:
        state = self.state
        note = ""
        if (self.client is not None and state == State.CLOSED
                and self.client.close_code is not None):
            note = _("code {code} {reason}").format(code=self.client.close_code,
                                                 reason=self.client.close_reason or "").strip()
        self.state_badge.value = _html.badge(state, note)
        self.log_view.value = self._log_html()
        self.rtt_label.value = self._rtt_text()
        self.rtt_plot.value = _html.sparkline([s * 1e3 for s in self.rtt_samples[-100:]])

    def _log_html(self) -> str:
        rows = [r.cells() for r in list(self.message_log)[-ROWS_SHOWN:]][::-1]
        return _html.table(["ms", "", _("kind"), _("bytes"), _("content (newest first)")], rows,
                           css_class="wslab-log", empty=_("no messages yet"), right=(0, 3))

    def _rtt_text(self) -> str:
        xs = self.rtt_samples
        if not xs:
            return ("<span class='wslab-rtt'>" + _("round trip: send a message to an echo URL")
                    + "</span>")
        return ("<span class='wslab-rtt' style='font-family:monospace'>"
                + _("round trip<br>last {last:.3f} ms<br>median {median:.3f} ms<br>"
                    "p99 {p99:.3f} ms<br>n = {n}").format(
                    last=xs[-1] * 1e3, median=percentile(xs, 50) * 1e3,
                    p99=percentile(xs, 99) * 1e3, n=len(xs)) + "</span>")

    def stop(self) -> None:
        """Close the connection (1000) if open; the panel stays on screen, showing CLOSED."""
        if self.client is not None and self.client.state in (State.OPEN, State.CONNECTING):
            self.client.close(1000, "notebook finished")
        self._render()

    def close(self) -> None:  # ipywidgets' close(): also close the connection
        if self.client is not None and self.client.state in (State.OPEN, State.CONNECTING):
            self.client.close(1000, "panel closed")
        super().close()


def side_by_side(*panels: W.Widget, min_width: str = "28em") -> W.HBox:
    """Several panels in a row (several clients at once), or stacked on purpose when narrow.

    Each panel gets an equal share of the row but never less than ``min_width``;
    when the row is narrower than that (a projector at 1024 x 768 with JupyterLab's
    side bar open leaves a widget 592 px), the panels stack one per line at full width
    instead of overflowing or squeezing their buttons.  Their logs wrap long messages
    inside the panel (tests/test_screen_lab.py measures both widths).
    """
    for p in panels:
        p.layout.width = "auto"
        p.layout.flex = f"1 1 {min_width}"
        p.layout.min_width = f"min({min_width}, 100%)"
        p.layout.max_width = "100%"
    return W.HBox(list(panels), layout=W.Layout(grid_gap="12px", flex_flow="row wrap",
                                                width="100%"))
