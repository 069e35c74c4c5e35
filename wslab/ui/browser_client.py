"""BrowserClient: the browser's own WebSocket, inside the notebook (layer 4, presentation).

Every other wslab client is Python in the kernel.  This widget's JavaScript
(``browser_client.js``, next to this file; print it with ``BrowserClient.javascript()``)
runs in the student's browser and uses the API every web page has: ``new WebSocket(url,
protocols)``, ``onopen``/``onmessage``/``onerror``/``onclose``, ``send``, ``close``,
``readyState``, ``bufferedAmount``, ``binaryType``, ``protocol``, ``extensions``.
Each event is reported back to the kernel, so a later cell reads ``bc.events``.

The URL is the one a *browser* must use: given a server, or a direct URL of a server on
the kernel's machine, it goes through the Jupyter server's proxy when the notebook runs
under one (see :mod:`wslab.net.public_url`).

Students give their own handlers as JavaScript function bodies with the parameters
``(event, socket, show)``; ``show(x)`` writes a line in the widget and in ``bc.events``::

    bc = BrowserClient(server, onmessage="show('echo: ' + event.data.toUpperCase())")
"""

from __future__ import annotations

import pathlib
import uuid
from typing import Any

import anywidget
import traitlets as T

from ..i18n import N_, translate
from ..net import public_url
from .intake import Intake

_JS = pathlib.Path(__file__).with_name("browser_client.js")
_CSS = """
.wslab-bc { font: 13px/1.4 system-ui, sans-serif; border: 1px solid #deddda; padding: 6px 8px;
            max-width: 52em; }
.wslab-bc-row { display: flex; gap: 6px; margin: 3px 0; align-items: center; }
.wslab-bc-row input { flex: 1; padding: 2px 4px; font: inherit; }
.wslab-bc-row button { font: inherit; padding: 2px 10px; cursor: pointer; }
.wslab-bc-state { font-weight: 600; padding: 1px 6px; border-radius: 3px; background: #f4c2c2; }
.wslab-bc-state[data-state="0"] { background: #fff3c4; }
.wslab-bc-state[data-state="1"] { background: #c8f0c8; }
.wslab-bc-state[data-state="2"] { background: #ffd9b3; }
.wslab-bc-facts { font-family: ui-monospace, monospace; font-size: 12px; color: #555; }
.wslab-bc-log { list-style: none; margin: 4px 0 0; padding: 0; max-height: 14em; overflow-y: auto;
                font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; }
.wslab-bc-log li { border-bottom: 1px solid #f2f2f2; }
.wslab-bc-dropped { font-size: 12px; color: #865e3c; }
.wslab-bc-ev-send { color: #1a5fb4; }
.wslab-bc-ev-message, .wslab-bc-ev-show { color: #26a269; }
.wslab-bc-ev-open, .wslab-bc-ev-close { color: #613583; }
.wslab-bc-ev-error, .wslab-bc-ev-handler-error { color: #c01c28; }
"""
#: every text browser_client.js shows the learner (its ``tr("...")`` calls), marked for the
#: catalogue: the widget's ``texts`` carries them to the page in the learner's language
JS_TEXTS = (
    N_("WebSocket URL"), N_("Connect"), N_("Close"), N_("message (Enter sends)"), N_("message"),
    N_("Send"), N_("App ping"), N_("a JSON heartbeat: the browser API has no ping()"),
    N_("round trip {ms} ms"), N_("[your {handler}]"), N_("[your {handler} threw]"),
    N_("{n} earlier lines not shown"), N_("no URL: give BrowserClient(url) or a server"),
    N_("reading a message failed: {error}"),
    N_("the browser reports an error; pages are never told why"),
    N_("not OPEN: readyState is {state}"), N_("not OPEN"), N_("no socket to close"),
)
_BINARY_TYPES = ("blob", "arraybuffer")
#: bounds on what the kernel keeps of the page's reports (see :class:`wslab.ui.intake.Intake`)
EVENTS_MAX = 1000
EVENTS_MAX_BYTES = 1 << 20
EVENT_MAX_BYTES = 16 << 10
#: the default rate the kernel admits reports at; lifecycle reports are always admitted
EVENTS_PER_S = 200
BYTES_PER_S = 256 << 10
_LIFECYCLE = ("connect", "open", "closing", "close")


def _browser_url(target: Any, path: str) -> tuple[str, str]:
    """(what the kernel was given, what the browser dials) for a server or a URL string."""
    if isinstance(target, str):
        if not target:
            raise ValueError("BrowserClient needs a WebSocket URL or a server, got ''")
        return target, public_url.for_browser(target)
    port, host, tls = (getattr(target, a, None) for a in ("port", "host", "tls"))
    origin = getattr(target, "origin", None)
    if not isinstance(port, int) or not isinstance(origin, str):
        raise ValueError("BrowserClient takes a WebSocket URL ('ws://...', or a path on the "
                         "Jupyter server) or a running wslab server, "
                         f"got {type(target).__name__}")
    if not path.startswith("/"):
        raise ValueError(f"path starts with '/', such as '/echo' or '/chat', got {path!r}")
    direct = ("wss" if tls else "ws") + origin[origin.index("://"):] + path
    return direct, public_url.ws_url(direct, port, path, host=host or "127.0.0.1",
                                     tls=bool(tls))


class BrowserClient(anywidget.AnyWidget):
    """A WebSocket client that runs in the browser, with Python twins of its buttons.

    ``BrowserClient(server)`` dials ``server``'s ``/echo`` (``path=`` for another route);
    ``BrowserClient("ws://...")`` dials that URL.  ``protocols`` are offered in
    ``Sec-WebSocket-Protocol``; ``binary_type`` is ``"blob"`` (the browser's default) or
    ``"arraybuffer"``.  ``onopen``/``onmessage``/``onerror``/``onclose``: your JavaScript,
    the body of ``function (event, socket, show)``, run after the widget's own handling.

    The kernel admits the page's reports at most ``events_per_s`` a second and
    ``bytes_per_s`` bytes a second (connect, open, closing and close always), keeps the
    newest ``EVENTS_MAX`` (``EVENTS_MAX_BYTES`` of JSON in all) and counts the rest in
    :attr:`received_stats`: a peer that floods the page cannot flood the kernel.
    """

    _esm = _JS
    _css = _CSS
    _instance = T.Unicode().tag(sync=True)
    url = T.Unicode("").tag(sync=True)
    protocols = T.List(T.Unicode()).tag(sync=True)
    binary_type = T.Unicode("blob").tag(sync=True)
    onopen = T.Unicode("").tag(sync=True)
    onmessage = T.Unicode("").tag(sync=True)
    onerror = T.Unicode("").tag(sync=True)
    onclose = T.Unicode("").tag(sync=True)
    # reported by the browser
    ready_state = T.Int(3).tag(sync=True)
    buffered_amount = T.Int(0).tag(sync=True)
    protocol = T.Unicode("").tag(sync=True)
    extensions = T.Unicode("").tag(sync=True)
    socket_url = T.Unicode("").tag(sync=True)
    api = T.List(T.Unicode()).tag(sync=True)
    # the page's words in the learner's language (English text -> shown text), see JS_TEXTS
    texts = T.Dict().tag(sync=True)

    def __init__(self, target: Any, *, path: str = "/echo", protocols: list[str] | tuple = (),
                 binary_type: str = "blob", onopen: str = "", onmessage: str = "",
                 onerror: str = "", onclose: str = "", events_per_s: float = EVENTS_PER_S,
                 bytes_per_s: float = BYTES_PER_S, **kwargs: Any) -> None:
        if binary_type not in _BINARY_TYPES:
            raise ValueError(f"binary_type is 'blob' or 'arraybuffer', got {binary_type!r}")
        if isinstance(protocols, str) or not all(isinstance(p, str) and p for p in protocols):
            raise ValueError("protocols is a list of subprotocol names such as "
                             f"['chat.v2', 'chat.v1'], got {protocols!r}")
        for name, code in (("onopen", onopen), ("onmessage", onmessage),
                           ("onerror", onerror), ("onclose", onclose)):
            if not isinstance(code, str):
                raise ValueError(f"{name} is JavaScript source text (a function body using "
                                 f"event, socket and show), got {type(code).__name__}")
        self.kernel_url, browser_url = _browser_url(target, path)
        self.intake = Intake(max_events=EVENTS_MAX, max_bytes=EVENTS_MAX_BYTES,
                             max_event_bytes=EVENT_MAX_BYTES, events_per_s=events_per_s,
                             bytes_per_s=bytes_per_s, always=_LIFECYCLE)
        super().__init__(_instance=uuid.uuid4().hex, url=browser_url, protocols=list(protocols),
                         binary_type=binary_type, onopen=onopen, onmessage=onmessage,
                         onerror=onerror, onclose=onclose,
                         texts={m: translate(m) for m in JS_TEXTS}, **kwargs)
        self.on_msg(self._on_browser_message)

    # --- reports from the browser ---------------------------------------------------
    def _on_browser_message(self, _widget: Any, content: dict, _buffers: list) -> None:
        event = content.get("event") if isinstance(content, dict) else None
        if isinstance(event, dict):
            self.intake.offer(event)
        else:
            self.intake.dropped += 1  # not a report: counted, never kept

    @property
    def message_log(self) -> list[dict[str, Any]]:
        """The reports the kernel kept, oldest first (a copy)."""
        return self.intake.items()

    @property
    def received_stats(self) -> dict[str, int]:
        """What the kernel did with the page's reports: ``accepted``, ``dropped`` (over the
        rate or too large), ``evicted`` (pushed out by newer ones), ``kept``, ``kept_bytes``."""
        return self.intake.stats()

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event the browser reported, oldest first (``type`` is connect, open, message,
        send, error, closing, close, app-ping, app-pong, show or handler-error).  They arrive
        while the kernel is idle: read them in a cell after the one that acted."""
        return self.intake.items()

    def of(self, *types: str) -> list[dict[str, Any]]:
        """The events of the given types, e.g. ``bc.of("message")``."""
        return [e for e in self.message_log if e.get("type") in types]

    @property
    def received(self) -> list[str]:
        """The data of every message received (text, or hex for binary)."""
        return [e.get("data", "") for e in self.of("message")]

    # --- Python twins of the buttons ------------------------------------------------
    def _command(self, content: dict, buffers: list[bytes] | None = None) -> None:
        if self.comm is not None:
            super().send(content, buffers)

    def connect(self) -> None:
        """Like the Connect button: ``new WebSocket(url, protocols)`` in the browser."""
        self._command({"cmd": "connect"})

    def send(self, message: Any, buffers: list[bytes] | None = None) -> None:
        """Like the Send button: ``socket.send(message)``; str goes as a text message,
        bytes as a binary one.  (A dict is an ordinary widget message, as in ipywidgets.)"""
        if isinstance(message, dict):
            self._command(message, buffers)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self._command({"cmd": "send"}, [bytes(message)])
        elif isinstance(message, str):
            self._command({"cmd": "send", "text": message})
        else:
            raise ValueError(f"a message is str (text) or bytes (binary), "
                             f"got {type(message).__name__}")

    def app_ping(self) -> None:
        """Send ``{"type": "ping", "t": n}``: the browser API has no ping(), so pages
        check the connection with messages the server answers (notebook 05)."""
        self._command({"cmd": "app_ping"})

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Like the Close button: ``socket.close(code, reason)`` in the browser.  A page may use
        only 1000 or 3000-4999: the browser throws InvalidAccessError otherwise, and the widget
        reports it.  (``close_widget()`` removes the widget itself.)"""
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError("code is an int (1000 or 3000-4999 from a page) or None, "
                             f"got {code!r}")
        if not isinstance(reason, str) or len(reason.encode("utf-8")) > 123:
            raise ValueError("a close reason is a str of at most 123 bytes of UTF-8 "
                             "(RFC 6455 section 5.5)")
        self._command({"cmd": "close", "code": code, "reason": reason})

    def close_widget(self) -> None:
        """Remove the widget (its socket closes with it)."""
        super().close()

    def __del__(self) -> None:
        super().close()

    @staticmethod
    def javascript() -> str:
        """The JavaScript that runs in your browser: read it."""
        return _JS.read_text("utf-8")

    def __repr__(self) -> str:
        return (f"<BrowserClient {self.url} readyState={self.ready_state} "
                f"events={len(self.intake)} dropped={self.intake.dropped}>")
