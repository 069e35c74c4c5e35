"""ServerPanel: the in-kernel server's clients, live events, broadcast and close (layer 3).

Python twins: ``panel.broadcast("hi")``, ``panel.send_to(client_id, "hi")``,
``panel.close_client(client_id, code, reason)``, ``panel.refresh()``.
"""

from __future__ import annotations

import time

import ipywidgets as W

from ..i18n import _
from ..net.errors import WSLabError
from ..net.server import LabServer
from . import _html
from ._refresh import Throttle

EVENTS_SHOWN = 60


class ServerPanel(W.VBox):
    """Widgets showing one LabServer: clients, event log, broadcast, close a client."""

    def __init__(self, server: LabServer, **kwargs: object) -> None:
        self.server = server
        self.status = W.HTML("")
        self.clients_view = W.HTML("")
        self.events_view = W.HTML("")
        self.message_box = W.Text(placeholder="message to send", layout=W.Layout(width="18em"))
        self.broadcast_button = W.Button(description=_("Broadcast"), button_style="primary",
                                         icon="bullhorn")
        self.target = W.Dropdown(options=[], description=_("client"), layout=W.Layout(width="12em"))
        self.send_one_button = W.Button(description=_("Send to one"), icon="user")
        self.code_box = W.BoundedIntText(value=1000, min=1000, max=4999,
                                         description=_("close code"),
                                         layout=W.Layout(width="13em"),
                                         style={"description_width": "6em"})
        self.reason_box = W.Text(placeholder="reason", layout=W.Layout(width="12em"))
        self.close_button = W.Button(description=_("Close client"), button_style="danger",
                                     icon="times")
        self.broadcast_button.on_click(lambda _: self.broadcast())
        self.send_one_button.on_click(lambda _: self.send_to())
        self.close_button.on_click(lambda _: self.close_client())
        self._redraw = Throttle(self._render, 0.15)
        self._listener = server.subscribe(lambda events: self._redraw.poke(),
                                          batch=True)
        super().__init__([
            W.HTML("<div style='overflow-wrap:anywhere'>"
                   f"<b>{_('server')} {_html.esc(server.name)}</b> &nbsp; "
                   f"<code>{_html.esc(server.url)}</code> &nbsp; {_('page')} "
                   f"<a href='{_html.esc(server.page_url)}' target='_blank'>"
                   f"{_html.esc(server.page_url)}</a></div>"),
            self.clients_view,
            W.HBox([self.message_box, self.broadcast_button, self.target, self.send_one_button],
                   layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.code_box, self.reason_box, self.close_button],
                   layout=W.Layout(flex_flow="row wrap")),
            self.status,
            self.events_view,
        ], **kwargs)
        self.add_class("wslab-server-panel")
        self._render()

    # --- twins ---------------------------------------------------------------------
    def broadcast(self, message: str | None = None) -> int:
        """Send to every connected client; returns how many."""
        text = self.message_box.value if message is None else message
        try:
            n = self.server.broadcast(text)
        except (WSLabError, ValueError) as exc:
            return self._say(_("broadcast failed: {error}").format(error=exc), 0)
        return self._say(_("broadcast to {n} client(s)").format(n=n), n)

    def send_to(self, client_id: int | None = None, message: str | None = None) -> None:
        """Send to one client (the dropdown's, by default)."""
        cid = self.target.value if client_id is None else client_id
        text = self.message_box.value if message is None else message
        if cid is None:
            self._say(_("no client selected"), None)
            return
        try:
            self.server.send(cid, text)
        except (WSLabError, ValueError) as exc:
            self._say(_("send failed: {error}").format(error=exc), None)
            return
        self._say(_("sent to client {id}").format(id=cid), None)

    def close_client(self, client_id: int | None = None, code: int | None = None,
                     reason: str | None = None) -> None:
        """Start the closing handshake with one client, with a chosen code and reason."""
        cid = self.target.value if client_id is None else client_id
        code = self.code_box.value if code is None else code
        reason = self.reason_box.value if reason is None else reason
        if cid is None:
            self._say(_("no client selected"), None)
            return
        try:
            self.server.close_client(cid, code, reason)
        except (WSLabError, ValueError) as exc:
            self._say(_("close failed: {error}").format(error=exc), None)
            return
        self._say(_("closing client {id} with {code} {reason}").format(
            id=cid, code=code, reason=reason).rstrip(), None)

    def refresh(self) -> None:
        self._render()

    # --- drawing --------------------------------------------------------------------
    def _say(self, text: str, result):  # noqa: ANN001, ANN202
        self.status.value = f"<span class='wslab-status'>{_html.esc(text)}</span>"
        self._render()
        return result

    def _render(self) -> None:
        now = time.time()
        infos = self.server.clients
        rows = [(c.id, c.remote, c.path, c.subprotocol or "-", f"{now - c.connected_since:.1f} s",
                 c.messages_in, c.messages_out) for c in infos]
        state = _("listening") if self.server.running else _("stopped")
        self.clients_view.value = (
            f"<div class='wslab-client-count' data-count='{len(rows)}'>"
            + _("{n} client(s), server {state}").format(n=len(rows), state=state) + "</div>"
            + _html.table(
                ["id", _("remote"), _("path"), _("subprotocol"), _("connected"), _("in"),
                 _("out")], rows,
                css_class="wslab-clients", max_height="8em", empty=_("no clients connected"),
                right=(0, 4, 5, 6), wrap=None))
        ids = [c.id for c in infos]
        if list(self.target.options) != ids:
            keep = self.target.value if self.target.value in ids else (ids[0] if ids else None)
            self.target.options = ids
            self.target.value = keep
        events = self.server.events[-EVENTS_SHOWN:]
        t0 = events[0].t_ns if events else 0
        self.events_view.value = _html.table(
            ["ms", _("event (newest first)")],
            [(f"{(e.t_ns - t0) / 1e6:9.1f}", str(e)) for e in reversed(events)],
            css_class="wslab-events", empty=_("no events yet"), right=(0,))

    def close(self) -> None:
        self.server.unsubscribe(self._listener)
        super().close()

