"""ChatPanel: a chat client in rooms over the ``/pubsub`` route (layer 3).

Several panels in one notebook (and browser tabs on the page's ``?path=/pubsub``)
talk in rooms.  Python twins: ``panel.join("lab")``, ``panel.say("hi")``,
``panel.leave("lab")``, ``panel.close()``.
"""

from __future__ import annotations

import collections
import json

import ipywidgets as W

from ..i18n import _
from ..net.client import Client, LogEntry, connect
from ..net.errors import WSLabError
from . import _html
from ._refresh import Throttle


class ChatPanel(W.VBox):
    """One chat user: a connection to /pubsub, rooms joined, a message log."""

    def __init__(self, url: str, *, user: str = "guest", room: str = "lobby",
                 **kwargs: object) -> None:
        self.client: Client | None = None
        if not url.rstrip("/").endswith("/pubsub"):
            raise ValueError(f"ChatPanel needs the /pubsub route (server.pubsub_url), got {url!r}")
        self.user = user
        self.rooms: list[str] = []
        self.lines: collections.deque[tuple[str, str, str]] = collections.deque(maxlen=500)
        self.room_box = W.Text(value=room, description=_("room"), layout=W.Layout(width="14em"),
                               style={"description_width": "3em"})
        self.join_button = W.Button(description=_("Join"), layout=W.Layout(width="6em"))
        self.leave_button = W.Button(description=_("Leave"), layout=W.Layout(width="6em"))
        self.message_box = W.Text(placeholder=_("say something (Enter sends)"),
                                  continuous_update=False,
                                  layout=W.Layout(flex="1 1 auto", width="auto"))
        self.send_button = W.Button(description=_("Send"), button_style="primary",
                                    layout=W.Layout(width="6em"))
        self.header = W.HTML()
        self.log_view = W.HTML()
        self.join_button.on_click(lambda _: self.join(self.room_box.value))
        self.leave_button.on_click(lambda _: self.leave(self.room_box.value))
        self.send_button.on_click(lambda _: self.say())
        self.message_box.observe(lambda ch: self.say() if ch["new"] else None, names="value")
        self._redraw = Throttle(self._render, 0.1)
        kwargs.setdefault("layout", W.Layout(width="30em", border="1px solid #deddda",
                                             padding="4px 8px", margin="0 8px 8px 0"))
        wrap = W.Layout(flex_flow="row wrap")
        super().__init__([self.header,
                          W.HBox([self.room_box, self.join_button, self.leave_button], layout=wrap),
                          W.HBox([self.message_box, self.send_button],
                                 layout=W.Layout(flex_flow="row wrap")), self.log_view], **kwargs)
        self.add_class("wslab-chat-panel")
        self.client = connect(url)
        self.client.subscribe(self._on_entry)
        self._render()

    # --- twins -----------------------------------------------------------------------
    def join(self, room: str) -> None:
        self._send_envelope({"op": "sub", "channel": room})
        if room not in self.rooms:
            self.rooms.append(room)
        self.room_box.value = room
        self._render()

    def leave(self, room: str) -> None:
        self._send_envelope({"op": "unsub", "channel": room})
        if room in self.rooms:
            self.rooms.remove(room)
        self._render()

    def say(self, text: str | None = None, *, room: str | None = None) -> None:
        """Publish to ``room`` (default: the room in the box)."""
        if text is None:
            text = self.message_box.value
            if not text:
                return
            self.message_box.value = ""
        self._send_envelope({"op": "pub", "channel": room or self.room_box.value,
                    "data": {"user": self.user, "text": text}})

    def _send_envelope(self, envelope: dict) -> None:
        try:
            if self.client is None:
                raise WSLabError("not connected")
            self.client.send(json.dumps(envelope))
        except (WSLabError, ValueError) as exc:
            self.lines.append(("!", "error", str(exc)))
            self._render()

    # --- events ------------------------------------------------------------------------
    def _on_entry(self, entry: LogEntry) -> None:
        if entry.direction != "in" or entry.kind != "text":
            return
        try:
            msg = json.loads(entry.data)
        except (TypeError, ValueError):
            return
        op = msg.get("op")
        if op == "msg":
            data = msg.get("data") or {}
            who = data.get("user", f"client {msg.get('from')}") if isinstance(data, dict) else "?"
            text = data.get("text", "") if isinstance(data, dict) else str(data)
            self.lines.append((msg.get("channel", ""), who, text))
        elif op == "error":
            self.lines.append(("!", "server", msg.get("error", "")))
        self._redraw.poke()

    def messages(self, room: str | None = None) -> list[tuple[str, str]]:
        """(user, text) pairs received, optionally for one room."""
        return [(u, t) for r, u, t in self.lines if room is None or r == room]

    def _render(self) -> None:
        state = self.client.state.name if self.client else "CLOSED"
        self.header.value = (f"<b>{_html.esc(self.user)}</b> · {state} · rooms: "
                             f"{_html.esc(', '.join(self.rooms) or 'none')}")
        rows = [(r, u, t) for r, u, t in list(self.lines)[-100:]][::-1]
        self.log_view.value = _html.table([_("room"), _("user"), _("message (newest first)")], rows,
                                          css_class="wslab-chat-log", empty=_("no messages yet"))

    def stop(self) -> None:
        """Leave: close the connection (1001), keep the panel on screen showing CLOSED."""
        if getattr(self, "client", None) is not None:
            self.client.stop()
            self._render()

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.stop()
        super().close()
