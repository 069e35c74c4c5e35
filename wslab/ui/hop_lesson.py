"""The hop between your browser and the kernel, as an experiment (layer 4, presentation).

Under a Jupyter server the browser's WebSocket reaches the kernel's server through the
Jupyter server, by one of two routes (:mod:`wslab.net.public_url`): wslab's hop, which
forwards the handshake and then bytes unchanged, or jupyter-server-proxy, which ends the
browser's WebSocket and opens its own.  A :class:`RouteTrial` runs the same browser actions
through one route, against a server of its own with a Tap in front of it, so the kernel
sees the frames exactly as they arrived::

    trials = [RouteTrial("wslab"), RouteTrial("jupyter-server-proxy")]
    for trial in trials:
        trial.open()              # two browser sockets, each offering a.v1, b.v1
    # next cell (the browser opens them meanwhile)
    for trial in trials:
        trial.close_both_ways()   # a message; the browser closes one, the server the other
    # next cell (the browser's close events reach the kernel between cells)
    compare_routes(trials)        # what each end sent, what the other end saw

The server speaks ``b.v1`` and permessage-deflate; the browser closes with 4002 "bye";
the server closes the other socket with 4001 "custom reason".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W

from ..net import public_url
from ..net.server import LabServer, serve
from ..net.tap import C2S, Tap, TapRecord
from ..protocol import handshake as hs
from ..protocol.errors import WSLabError
from ._html import esc, table
from .browser_client import BrowserClient

__all__ = ["BROWSER_CLOSE", "OFFER", "ROUTES", "SERVER_CLOSE", "SPOKEN", "RouteTable",
           "RouteTrial", "compare_routes"]

ROUTES = {public_url.HOP: "wslab's hop", public_url.JSP: "jupyter-server-proxy"}
OFFER = ("a.v1", "b.v1")           # what the browser offers (Sec-WebSocket-Protocol)
SPOKEN = "b.v1"                    # the only subprotocol the kernel's server speaks
BROWSER_CLOSE = (4002, "bye")      # the browser's close (a page may use 1000, 3000-4999)
SERVER_CLOSE = (4001, "custom reason")
MESSAGE = "the browser's own frame " * 4


def _await(server: LabServer, ready: Callable[[], bool], timeout: float) -> bool:
    """Wait until ``ready()`` (re-checked at every event of ``server``), at most ``timeout`` s."""
    changed = threading.Event()

    def poke(_event: Any) -> None:
        changed.set()

    server.subscribe(poke)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            changed.clear()
            changed.wait(min(left, 0.25))  # an event, or look again (e.g. the client list)
        return True
    finally:
        server.unsubscribe(poke)


def _close_in(server: LabServer, client_id: int | None = None) -> list[Any]:
    return [e for e in server.events.of("close") if e.direction == "in"
            and (client_id is None or e.client_id == client_id)]


class RouteTrial:
    """The browser actions of the experiment through one route (``"wslab"`` or
    ``"jupyter-server-proxy"``), against a server and Tap of its own."""

    def __init__(self, via: str) -> None:
        if via not in ROUTES:
            raise ValueError(f"a route is one of {sorted(ROUTES)}, got {via!r}")
        self.via = via
        self.name = ROUTES[via]
        self.server = serve(name=f"hop08-{via}", subprotocols=[SPOKEN], compression=True)
        self.tap = Tap(self.server.url)
        self.url = public_url.for_browser(self.tap.url, via=via)
        self.first: BrowserClient | None = None    # the browser closes this one
        self.second: BrowserClient | None = None   # the server closes this one
        self.browser_closed: int | None = None     # server-side ids of the two connections
        self.server_closed: int | None = None
        self.note = ""
        if not public_url.route().proxied:
            self.note = ("no Jupyter server between your browser and the kernel here: "
                         "both routes are the direct one")
        elif via == public_url.HOP and not public_url.hop_available():
            self.note = ("wslab's hop does not run in this Jupyter server (enable the server "
                         "extension wslab.net.jupyter_ext)")

    def open(self) -> RouteTrial:
        """Open the two browser sockets (the browser does it once this cell has run)."""
        if self.first is not None or (self.via == public_url.HOP and public_url.route().proxied
                                      and not public_url.hop_available()):
            return self  # opened already, or no hop to open them through (see self.note)
        self.first = BrowserClient(self.url, protocols=list(OFFER))
        self.second = BrowserClient(self.url, protocols=list(OFFER))
        self.first.connect()
        self.second.connect()
        return self

    def close_both_ways(self, *, timeout: float = 3.0) -> str:
        """One message from the browser, then the browser closes the first socket with
        4002 "bye" and the server the second with 4001 "custom reason".  Says what it did."""
        if self.first is None or self.second is None:
            return f"{self.name}: run open() first"
        server = self.server
        if not _await(server, lambda: len(server.clients) >= 2, timeout):
            return (f"{self.name}: the browser opened {len(server.clients)} of 2 sockets "
                    f"within {timeout:g} s ({self.note or 'run this in a live notebook'})")
        self.first.send(MESSAGE)
        self.first.close(*BROWSER_CLOSE)
        if not _await(server, lambda: bool(_close_in(server)), timeout):
            return f"{self.name}: the server saw no close within {timeout:g} s"
        self.browser_closed = _close_in(server)[0].client_id
        others = [c.id for c in server.clients if c.id != self.browser_closed]
        if not others:
            return f"{self.name}: the second socket is gone already"
        self.server_closed = others[0]
        server.close_client(self.server_closed, *SERVER_CLOSE)
        _await(server, lambda: bool(_close_in(server, self.server_closed)), timeout)
        return f"{self.name}: closed both ways"

    # --- what each end saw --------------------------------------------------------------
    def _heads(self) -> tuple[hs.Request | None, hs.Response | None]:
        heads = self.tap.handshakes()
        requests = [h for h in heads if h.direction == C2S]
        answers = [h for h in heads if h.direction != C2S and h.conn == (
            requests[0].conn if requests else None)]
        if not requests or not answers:
            return None, None
        try:
            request = hs.parse_request(requests[0].raw_head)
            response = hs.check_response(answers[0].raw_head, request.key,
                                         subprotocols=request.subprotocols,
                                         extensions=request.extensions)
        except WSLabError:
            return None, None
        return request, response

    def _first_data_frame(self) -> TapRecord | None:
        return next((r for r in self.tap.frames if r.direction == C2S and r.opcode == "TEXT"),
                    None)

    def facts(self) -> dict[str, str]:
        """What the browser offered and was told, what reached the kernel and what it
        answered, and each close as sent and as seen."""
        request, response = self._heads()
        first = self.first.of("open", "close") if self.first else []
        second = self.second.of("close") if self.second else []
        opened = next((e for e in first if e.get("type") == "open"), {})
        frame = self._first_data_frame()
        seen_close = _close_in(self.server, self.browser_closed) if self.browser_closed else []
        browser_close = second[-1] if second else {}
        return {
            "the browser dialled": self.first.url if self.first else self.url,
            "the browser offered": ", ".join(OFFER),
            "offer reaching the kernel": (request.get("Sec-WebSocket-Protocol") or "(none)")
            if request else "?",
            "extensions offered to the kernel": (request.get("Sec-WebSocket-Extensions")
                                                 or "(none)") if request else "?",
            "the kernel's server chose": (response.subprotocol or "(none)") if response else "?",
            "extensions it agreed": ", ".join(response.extensions) or "(none)"
            if response else "?",
            "the browser was told": f"{opened.get('protocol', '?')!r}, extensions "
                                    f"{opened.get('extensions', '?')!r}",
            "first data frame in the kernel": (
                f"TEXT RSV1={int(frame.rsv1)} mask key {frame.mask_key.hex(' ')}"
                if frame is not None and frame.mask_key else "?"),
            "the browser closed with": "{} {!r}".format(*BROWSER_CLOSE),
            "the kernel's server received": f"{seen_close[0].code} {seen_close[0].reason!r}"
            if seen_close else "?",
            "the server closed with": "{} {!r}".format(*SERVER_CLOSE),
            "the browser's close event": f"{browser_close.get('code')} "
                                         f"{browser_close.get('reason')!r}"
            if browser_close else "? (read this in the cell after close_both_ways)",
        }

    def stop(self) -> None:
        """Close the browser sockets' widgets, the Tap and the server."""
        for bc in (self.first, self.second):
            if bc is not None:
                bc.close_widget()
        self.tap.stop()
        self.server.stop()

    def __repr__(self) -> str:
        return f"<RouteTrial {self.name} {self.url}{' ' + self.note if self.note else ''}>"


class RouteTable(W.HTML):
    """The facts of several trials side by side, one column per route.  A live widget:
    it redraws when a browser socket of a trial opens or closes (the browser's reports
    reach the kernel between cells), so Run All ends with the whole table."""

    def __init__(self, trials: Sequence[RouteTrial]) -> None:
        super().__init__()
        self.trials = list(trials)
        self.names = [t.name for t in self.trials]
        for trial in self.trials:
            for bc in (trial.first, trial.second):
                if bc is not None:
                    bc.observe(self._changed, names=["ready_state", "protocol"])
        self.refresh()

    def _changed(self, _change: Any) -> None:
        self.refresh()

    def rows(self) -> list[list[str]]:
        """``[fact, value for each route]``, read afresh."""
        facts = [t.facts() for t in self.trials]
        return [[key, *(f[key] for f in facts)] for key in (facts[0] if facts else [])]

    def notes(self) -> list[str]:
        return [f"{t.name}: {t.note}" for t in self.trials if t.note]

    def refresh(self) -> None:
        notes = "".join(f"<p style='font-size:12px;color:#865e3c'>{esc(n)}</p>"
                        for n in self.notes())
        self.value = table(["", *self.names], self.rows(), css_class="wslab-hop-compare",
                           max_height="32em") + notes

    def __str__(self) -> str:
        rows = [["", *self.names], *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join(lines + self.notes())


def compare_routes(trials: Sequence[RouteTrial]) -> RouteTable:
    """What each end sent and what the other end saw, one column per route (live)."""
    return RouteTable(trials)
