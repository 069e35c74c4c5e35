"""FaultPanel: the FaultProxy's faults as widgets (layer 3).

One row per fault: its parameters, a direction, Set and Clear.  Below: Reset
all connections, Clear all, and live counters.  The Python twins are the
proxy's own methods (``proxy.set(...)``, ``proxy.clear()``, ``proxy.reset_all()``);
``panel.apply(fault, **params)`` does what a row's Set button does.

With ``live=True`` a client connects through the proxy and pings it twice a
second (:class:`wslab.labs.heartbeat.LiveProbe`); its line at the top shows
what a fault does to a real connection: the round trip, a missed pong, a
reconnect.  ``panel.stop()`` (or ``wslab.stop_all()``) ends it.
"""

from __future__ import annotations

import ipywidgets as W

from ..i18n import _
from ..labs.heartbeat import LiveProbe
from ..net.faults import FAULTS, FaultProxy
from . import _html

PARAMS = {
    "latency": [("ms", 50.0), ("jitter", 0.0)],
    "bandwidth": [("kib_per_s", 64.0)],
    "blackhole": [],
    "reset": [],
    "limit_data": [("bytes", 1000)],
    "slicer": [("size", 1), ("delay_ms", 0.0)],
}


class FaultPanel(W.VBox):
    """Set and clear the proxy's faults live, reset connections, watch its counters."""

    def __init__(self, proxy: FaultProxy, *, live: bool = False, **kwargs: object) -> None:
        self.proxy = proxy
        self.rows: dict[str, dict[str, W.Widget]] = {}
        self.buttons: dict[str, dict[str, W.Button]] = {}  # fault -> {"Set": ..., "Clear": ...}
        self.status = W.HTML()
        self.stats_view = W.HTML()
        self.live_view = W.HTML()
        self.probe: LiveProbe | None = None
        children: list[W.Widget] = [W.HTML(f"<b>fault proxy</b> <code>{_html.esc(proxy.url)}</code>"
                                           f" → <code>{_html.esc(proxy.target_url)}</code>")]
        if live:
            children.append(self.live_view)
        for fault in FAULTS:
            inputs = {}
            for name, default in PARAMS[fault]:
                cls = W.BoundedIntText if isinstance(default, int) else W.BoundedFloatText
                # the name's own width (about 0.6em a letter) and a 5em box for the number
                inputs[name] = cls(value=default, min=0, max=10**9, description=name,
                                   layout=W.Layout(width=f"{0.6 * len(name) + 5.5:.1f}em",
                                                   flex="0 0 auto"),
                                   style={"description_width": "initial"})
            direction = W.Dropdown(options=["both", "upstream", "downstream"], value="both",
                                   layout=W.Layout(width="7.5em", flex="0 0 auto"))
            set_b = W.Button(description=_("Set"), button_style="warning",
                             layout=W.Layout(width="4em", flex="0 0 auto"))
            clear_b = W.Button(description=_("Clear"), layout=W.Layout(width="4.5em",
                                                                  flex="0 0 auto"))
            set_b.on_click(lambda _, f=fault: self.apply(f))
            clear_b.on_click(lambda _, f=fault: self.remove(f))
            self.rows[fault] = {"direction": direction, **inputs}
            self.buttons[fault] = {"Set": set_b, "Clear": clear_b}
            # The parameters take what is left of the row and wrap inside it when the screen
            # is narrow; the name, the direction and the buttons keep their size, so Set and
            # Clear line up on every row and are never cut.
            params = W.HBox(list(inputs.values()),
                            layout=W.Layout(flex="1 1 0", min_width="0", flex_flow="row wrap"))
            children.append(W.HBox([W.HTML(f"<code>{fault}</code>",
                                           layout=W.Layout(width="6.5em", flex="0 0 auto")),
                                    params, direction, set_b, clear_b],
                                   layout=W.Layout(width="100%", align_items="center")))
        reset_b = W.Button(description=_("Reset all connections"), button_style="danger",
                           layout=W.Layout(width="auto"))
        clear_all = W.Button(description=_("Clear all faults"), layout=W.Layout(width="auto"))
        reset_b.on_click(lambda _: self.reset_all())
        clear_all.on_click(lambda _: self.remove(None))
        children += [W.HBox([reset_b, clear_all]), self.status, self.stats_view]
        super().__init__(children, **kwargs)
        self.add_class("wslab-fault-panel")
        self._render()
        if live:
            self.probe = LiveProbe(proxy.url, on_change=self._show_live)

    def _show_live(self, status: str) -> None:
        p = self.probe
        counts = (f" &middot; {p.answered} pongs, {p.missed} missed, {p.connects} connect(s)"
                  if p else "")
        colour = "#1a7f43" if status.startswith("OPEN") else "#b3261e"
        self.live_view.value = (
            f"<div class='wslab-live' style='font-family:monospace;font-size:13px;"
            f"line-height:1.4'>"
            f"live client through the proxy: <b style='color:{colour}'>{_html.esc(status)}</b>"
            f"{counts}</div>")
        self._render()

    def stop(self) -> None:
        """Stop the live client (the panel stays on screen)."""
        if self.probe is not None:
            self.probe.stop()

    def apply(self, fault: str, **params: object) -> None:
        """Set ``fault`` with the row's values (or ``params``) in the row's direction."""
        if fault not in self.rows:
            raise ValueError(f"fault is one of {list(self.rows)}, got {fault!r}")
        row = self.rows[fault]
        direction = str(params.pop("direction", row["direction"].value))
        values = {k: w.value for k, w in row.items() if k != "direction"}
        values.update(params)
        try:
            self.proxy.set(fault, direction=direction, **values)
        except ValueError as exc:
            self._say(f"not set: {exc}")
            return
        self._say(f"{fault} on ({direction}) {values or ''}")

    def remove(self, fault: str | None) -> None:
        self.proxy.clear(fault)
        self._say(f"cleared {fault or 'every fault'}")

    def reset_all(self) -> int:
        n = self.proxy.reset_all()
        self._say(f"reset {n} connection(s)")
        return n

    def refresh(self) -> None:
        self._render()

    def _say(self, text: str) -> None:
        self.status.value = f"<span class='wslab-status'>{_html.esc(text)}</span>"
        self._render()

    def _render(self) -> None:
        st = self.proxy.stats
        active = {d: list(f) for d, f in self.proxy.faults.items() if f}
        up, down = st.get("upstream", {}), st.get("downstream", {})
        self.stats_view.value = (
            f"<div class='wslab-fault-stats' style='font-family:monospace;font-size:12px;"
            f"line-height:1.4'>"
            f"connections open {self.proxy.connections}, accepted {st.get('accepted')}, "
            f"reset {st.get('reset')}<br>upstream {up.get('bytes')} B forwarded, "
            f"{up.get('dropped')} B dropped · downstream {down.get('bytes')} B forwarded, "
            f"{down.get('dropped')} B dropped<br>active: {_html.esc(active or 'none')}</div>")
