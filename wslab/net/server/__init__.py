"""The in-kernel WebSocket server: :func:`serve` and :class:`LabServer` (layer 2, I/O).

A Tornado application on the lab loop with three routes:

* ``/echo``  echoes every message back, text as text and binary as binary;
* ``/chat``  sends every message to every client connected to ``/chat``;
* ``/``      the browser client page of the classic tutorial.

Every open, message, ping, pong and close becomes an :class:`~wslab.net.events.Event`
in ``server.events``.  A learner replaces the default behaviour with
``@server.on_message``.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import json
import os
import socket
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web
import tornado.websocket

from ...protocol.closecodes import is_valid_close_code_on_wire
from ...protocol.frames import Frame, Opcode, encode_frame
from .. import loop as lab
from ..errors import ConnectionClosed, ServerStartError
from ..events import Event, EventList, EventLog, clip, payload_size
from ..tls import make_tls
from ..urls import host_for_url, origin_of
from .ack import AckState
from .admission import TokenAuth, make_auth
from .pubsub import PubSub
from .strict import StrictProtocol

CLOSE_GRACE = 1.0     # seconds stop() waits for clients to answer the close frame

_servers: dict[str, LabServer] = {}


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """A snapshot of one connected client as the server sees it."""

    id: int
    remote: str
    path: str
    subprotocol: str | None
    connected_since: float  # time.time() of the open, for humans
    messages_in: int = 0
    messages_out: int = 0
    origin: str | None = None


class Connection:
    """One client connection, as handed to ``on_message(conn, message)`` (layer 2).

    ``conn.send()`` and ``conn.close()`` never block: they may be called from a
    handler running on the lab loop and from an ordinary cell alike.
    """

    def __init__(self, server: LabServer, handler: _LabSocket, cid: int) -> None:
        self.server = server
        self.id = cid
        self._handler = handler
        self.info = ClientInfo(
            id=cid,
            remote=handler.request.remote_ip or "?",
            path=handler.request.path,
            subprotocol=handler.selected_subprotocol,
            connected_since=time.time(),
            origin=handler.request.headers.get("Origin"),
        )
        self.messages_in = 0
        self.messages_out = 0
        self.closed = False
        self._window_start = 0.0
        self._window_count = 0
        # Tornado's IOStream: len(_write_buffer) is what waits to be sent to this client
        self._stream = getattr(handler.ws_connection, "stream", None)

    @property
    def path(self) -> str:
        return self.info.path

    @property
    def subprotocol(self) -> str | None:
        return self.info.subprotocol

    def send(self, message: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message to this client."""
        if not isinstance(message, (str, bytes, bytearray, memoryview)):
            raise ValueError(f"a message is str (text) or bytes (binary), got {type(message).__name__}")
        if isinstance(message, (bytearray, memoryview)):
            message = bytes(message)
        if self.closed:
            raise ConnectionClosed(f"client {self.id} is closed; cannot send")
        lab.call_soon(self._send_now, message)

    def _send_now(self, message: str | bytes, frame: bytes | None = None, *,
                  log: bool = True) -> None:
        """Write one message now (lab loop).  ``frame``: the same message already
        encoded as an unmasked, uncompressed frame (a broadcast encodes it once);
        ``log=False``: the caller records one event for the whole broadcast."""
        proto = self._handler.ws_connection
        if self.closed or proto is None:
            return
        binary = isinstance(message, bytes)
        try:
            if frame is not None and proto._compressor is None:
                stream = proto.stream
                if type(stream) is tornado.iostream.IOStream and not stream._write_buffer:
                    # Nothing queued for this client: hand the frame to the kernel at once
                    # (one send() call, no Future); queue only what it did not take.
                    try:
                        sent = stream.socket.send(frame)
                    except BlockingIOError:
                        sent = 0
                    except OSError:
                        return
                    fut = stream.write(frame[sent:]) if sent < len(frame) else None
                else:
                    fut = stream.write(frame)
            else:
                # Tornado's write_message, minus the Task it wraps around every write.
                data = message if binary else message.encode("utf-8")
                flags = 0
                if proto._compressor is not None:
                    data, flags = proto._compressor.compress(data), proto.RSV1
                fut = proto._write_frame(True, 0x2 if binary else 0x1, data, flags=flags)
        except tornado.iostream.StreamClosedError:
            return
        if fut is not None:
            lab.fire_and_forget(fut)
        self.messages_out += 1
        if log:
            self.server._log.record_message(self.id, "out", "binary" if binary else "text",
                                            payload_size(message), clip(message))
        limit = self.server.send_buffer_max
        if limit is not None and self._stream is not None \
                and len(self._stream._write_buffer) > limit:
            waiting = len(self._stream._write_buffer)
            self._fail(1013, "slow consumer", f"slow consumer: {waiting} bytes wait to be sent "
                                              f"(send_buffer_max={limit})")

    def _over_rate(self, per_second: int) -> bool:
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count > per_second:
            self._fail(1008, "rate limit exceeded",
                       f"rate limit: more than {per_second} messages in one second")
            return True
        return False

    def _fail(self, code: int, reason: str, why: str) -> None:
        """Close this client with ``code`` because of a server policy; the event says why."""
        if self.closed:
            return
        self.server._log.record("error", self.id, code=code, reason=why)
        self._handler.lab_close(code, reason)
        ws = self._handler.ws_connection
        stream = getattr(ws, "stream", None)
        if stream is not None:  # its buffer may never drain: do not wait Tornado's 5 s
            asyncio.get_running_loop().call_later(1.0, stream.close)

    def ping(self, payload: bytes = b"") -> None:
        """Send a ping frame; the pong arrives as a ``pong`` event with its round trip."""
        lab.call_soon(self._handler.lab_ping, bytes(payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with this client (RFC 6455 section 7.1.2)."""
        _check_close_args(code, reason)
        lab.call_soon(self._handler.lab_close, code, reason)

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.info.remote} {self.path}>"


def app_pong(message: str) -> str | None:
    """The answer to an application-level ping ``{"type": "ping", "t": ...}``, or None.

    Browsers cannot send ping frames (their WebSocket API has no ping()), so
    applications exchange small JSON messages instead; the server echoes ``t``
    so the sender can compute the round trip with its own clock.
    """
    try:
        data = json.loads(message)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "ping":
        return None
    return json.dumps({"type": "pong", "t": data.get("t"), "server_time": time.time()})


def _check_close_args(code: int, reason: str) -> None:
    if (isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 0xFFFF
            or not is_valid_close_code_on_wire(code)):
        raise ValueError(
            "a close code sent on the wire is 1000-1003, 1007-1014 or 3000-4999 "
            f"(RFC 6455 section 7.4); 1004, 1005, 1006 and 1015 are never sent; got {code!r}")
    if len(reason.encode("utf-8")) > 123:
        raise ValueError("a close reason is at most 123 bytes of UTF-8 "
                         "(control frames carry at most 125 bytes, RFC 6455 section 5.5)")


class _LabProtocol(StrictProtocol):
    """The lab server's protocol: RFC-strict frame receiving (see :mod:`wslab.net.server.strict`),
    Tornado's sending side, and a heartbeat whose every ping and pong is an event."""

    async def periodic_ping(self) -> None:
        """serve(ping_interval=..., ping_timeout=...): a ping every interval (RFC 6455 5.5.2).

        Unlike Tornado's own loop, every ping and pong is an event with its round
        trip, a pong ends the wait at once, and a missing pong fails the
        connection with 1011 "keepalive timeout", dropping TCP after at most
        one more second instead of Tornado's five.
        """
        handler = self.handler
        interval = self.ping_interval
        # Tornado clamps the timeout to the interval; this loop has no need to.
        timeout = self.params.ping_timeout or interval
        loop = asyncio.get_running_loop()
        await asyncio.sleep(interval)
        n = 0
        while not self.is_closing():
            n += 1
            sent = loop.time()
            got = handler.lab_ping(f"hb-{n}".encode(), expect=True)
            if got is None:
                return
            try:
                await asyncio.wait_for(got, timeout)
            except asyncio.TimeoutError:
                handler.lab_keepalive_timeout(timeout)
                loop.call_later(min(timeout, 1.0), self._abort)
                return
            await asyncio.sleep(max(0.0, sent + interval - loop.time()))


class _LabSocket(tornado.websocket.WebSocketHandler):
    """Tornado hooks -> LabServer events.  Runs on the lab loop only."""

    def initialize(self, server: LabServer, route: str) -> None:  # type: ignore[override]
        self.lab = server
        self.route = route
        self.conn: Connection | None = None
        self._ping_sent: dict[bytes, int] = {}
        self._pong_waiters: dict[bytes, asyncio.Future] = {}
        self._ack_state: dict[str, Any] = {}

    # --- handshake -----------------------------------------------------------
    async def get(self, *args: Any, **kwargs: Any) -> None:
        refused = self.lab._admit(self.request)
        if refused is not None:
            status, reason = refused
            self.lab._log.record("reject", None, code=status, reason=reason,
                                 extra={"path": self.request.path,
                                        "origin": self.request.headers.get("Origin")})
            self.set_status(status)
            if status == 401:
                self.set_header("WWW-Authenticate", 'Bearer realm="wslab"')
            self.finish(reason)
            return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        ok, why = self.lab._origin_allowed(origin, self.request.host)
        if not ok:
            self.lab._log.record("reject", None, code=403, reason=why,
                                 extra={"origin": origin, "path": self.request.path})
        return ok

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # RFC 6455 section 4.2.2: the server picks one of the client's, here in the
        # server's order of preference; None means "no subprotocol" (not a failure).
        offered = [s.strip() for s in subprotocols]
        for mine in self.lab.subprotocols:
            if mine in offered:
                return mine
        return None

    def get_compression_options(self) -> dict[str, Any] | None:
        return {} if self.lab.compression else None

    def get_websocket_protocol(self) -> tornado.websocket.WebSocketProtocol | None:
        if self.request.headers.get("Sec-WebSocket-Version") != "13":
            return None  # Tornado answers 426 Upgrade Required with Sec-WebSocket-Version: 13
        params = tornado.websocket._WebSocketParams(
            ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
            max_message_size=self.max_message_size,
            compression_options=self.get_compression_options())
        self._protocol = _LabProtocol(self, False, params)
        return self._protocol

    # --- life cycle ------------------------------------------------------------
    def open(self, *args: str, **kwargs: str) -> None:
        self.set_nodelay(True)
        self.conn = self.lab._add(self)
        self.lab._log.record("open", self.conn.id, extra={
            "remote": self.conn.info.remote, "path": self.request.path,
            "subprotocol": self.selected_subprotocol,
            "origin": self.request.headers.get("Origin")})
        self.lab._call_hook(self.lab._on_open, self.conn)

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        conn = self.conn
        if conn is None:
            return None
        conn.messages_in += 1
        binary = isinstance(message, bytes)
        self.lab._log.record_message(conn.id, "in", "binary" if binary else "text",
                                     payload_size(message), clip(message))
        if self.lab.app_heartbeat and not binary and message[:1] == "{" \
                and '"ping"' in message[:40]:
            pong = app_pong(message)
            if pong is not None:  # answered here: never echoed, broadcast or handed to fn
                conn._send_now(pong)
                return None
        if self.lab.rate_limit is not None and conn._over_rate(self.lab.rate_limit):
            return None
        if self.route == "ack":
            for reply in self.lab.ack.handle(self._ack_state, message):
                conn._send_now(reply)
            return None
        if self.route == "pubsub":
            self.lab.pubsub.handle(conn.id, message, self.lab._send_now_to)
            return None
        fn = self.lab._on_message
        if fn is None:
            if self.route == "chat":
                self.lab._broadcast_now(message, path=self.request.path)
            else:
                conn._send_now(message)
            return None
        try:
            result = fn(conn, message)
        except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
            self._handler_failed(exc)
            return None
        if inspect.isawaitable(result):
            return self._await_handler(result)
        return None

    async def _await_handler(self, result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception as exc:  # noqa: BLE001
            self._handler_failed(exc)

    def _handler_failed(self, exc: BaseException) -> None:
        assert self.conn is not None
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.lab._log.record("error", self.conn.id, reason=f"{type(exc).__name__}: {exc}",
                             data=tb)
        reason = f"handler error: {type(exc).__name__}"[:123]
        self.lab_close(1011, reason)

    def on_ping(self, data: bytes) -> None:
        if self.conn is None:
            return
        self.lab._log.record("ping", self.conn.id, direction="in", opcode="ping",
                             size=len(data), data=data)
        # Tornado has already answered with a pong carrying the same payload (RFC 6455 5.5.3).
        self.lab._log.record("pong", self.conn.id, direction="out", opcode="pong",
                             size=len(data), data=data)

    def on_pong(self, data: bytes) -> None:
        if self.conn is None:
            return
        sent = self._ping_sent.pop(data, None)
        extra = {"rtt_s": (time.perf_counter_ns() - sent) / 1e9} if sent is not None else {}
        self.lab._log.record("pong", self.conn.id, direction="in", opcode="pong",
                             size=len(data), data=data, extra=extra)
        waiter = self._pong_waiters.pop(data, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(extra.get("rtt_s"))

    def lab_ping(self, payload: bytes, *, expect: bool = False) -> asyncio.Future | None:
        if self.ws_connection is None or self.conn is None:
            return None
        if len(self._ping_sent) > 100:
            self._ping_sent.clear()
        self._ping_sent[payload] = time.perf_counter_ns()
        try:
            self.ping(payload)
        except tornado.websocket.WebSocketClosedError:
            return None
        self.lab._log.record("ping", self.conn.id, direction="out", opcode="ping",
                             size=len(payload), data=payload)
        if not expect:
            return None
        fut = asyncio.get_running_loop().create_future()
        self._pong_waiters[payload] = fut
        return fut

    def lab_keepalive_timeout(self, timeout: float) -> None:
        if self.conn is None:
            return
        self.lab._log.record("error", self.conn.id, code=1011,
                             reason=f"keepalive timeout: no pong within {timeout:g} s")
        self.lab_close(1011, "keepalive timeout")

    def on_protocol_violation(self, code: int, reason: str) -> None:
        """Called by StrictProtocol before it fails the connection (RFC 6455 7.1.7)."""
        if self.conn is None:
            return
        detail = getattr(getattr(self, "_protocol", None), "violation_detail", "") or reason
        self.lab._log.record("error", self.conn.id, code=code, reason=detail)
        self.lab._log.record("close", self.conn.id, direction="out", opcode="close",
                             code=code, reason=reason)

    def lab_drop(self) -> None:
        ws = self.ws_connection
        if ws is None or self.conn is None:
            return
        self.lab._log.record("close", self.conn.id, direction="out", opcode="",
                             reason="TCP connection dropped, no Close frame")
        stream = getattr(ws, "stream", None)
        if stream is not None:
            stream.close()

    def lab_close(self, code: int, reason: str) -> None:
        if self.ws_connection is None or self.conn is None or self.conn.closed:
            return
        self.lab._log.record("close", self.conn.id, direction="out", opcode="close",
                             code=code, reason=reason)
        self.close(code, reason)

    def on_close(self) -> None:
        conn = self.conn
        if conn is None:
            return
        conn.closed = True
        # RFC 6455 7.1.5: no Close frame at all -> 1006 (closed abnormally); a Close
        # frame without a code -> 1005 (no status received).  Neither is ever sent.
        payload = getattr(getattr(self, "_protocol", None), "close_payload", None)
        if payload is None:
            code = 1006
        elif self.close_code is None:
            code = 1005
        else:
            code = self.close_code
        self.lab._log.record("close", conn.id, direction="in", opcode="close", code=code,
                             reason=self.close_reason or "",
                             extra={"clean": payload is not None})
        self.lab._remove(conn)
        if self.route == "pubsub":
            self.lab.pubsub.forget(conn.id)
        self.lab._call_hook(self.lab._on_close, conn)


class _PageHandler(tornado.web.RequestHandler):
    def initialize(self, server: LabServer) -> None:  # type: ignore[override]
        self.lab = server

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(self.lab._page_html())


class _HijackPage(tornado.web.RequestHandler):
    """``/demo/hijack?target=ws://...``: an attacker's page (for notebook 09 and its test)."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(resources.files("wslab.net.server").joinpath("static/hijack.html").read_text("utf-8"))


class _LoginPage(tornado.web.RequestHandler):
    """``/login?token=...``: sets the ``wslab_token`` cookie, as a real login would."""

    def initialize(self, server: LabServer) -> None:  # type: ignore[override]
        self.lab = server

    def get(self) -> None:
        token = self.get_argument("token", "")
        auth = self.lab.auth
        if auth is None or "cookie" not in auth.places:
            self.set_status(404)
            self.finish("this server takes no cookie login (serve(auth=...) with the cookie place)")
            return
        if token != auth.token:
            self.set_status(403)
            self.finish("wrong token")
            return
        self.set_cookie(auth.cookie, token, httponly=True, samesite="Lax", path="/")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish("<p>logged in: the browser now sends the session cookie with every "
                    "request to this host, WebSocket handshakes included.</p>")


class LabServer:
    """A WebSocket server running on the lab loop (layer 2).  Create it with :func:`serve`."""

    _stop_order = 2

    def __init__(self, *, host: str, port: int, name: str, origins: Iterable[str],
                 subprotocols: Iterable[str], compression: bool, events_max: int,
                 ping_interval: float | None, ping_timeout: float | None,
                 max_message_size: int | None, app_heartbeat: bool = True,
                 auth: Any = None, max_connections: int | None = None,
                 rate_limit: int | None = None, send_buffer_max: int | None = 8 << 20,
                 tls: bool = False) -> None:
        self.host = host
        self.name = name
        self.origins = _normalise_origins(origins)
        self.subprotocols = [str(s) for s in subprotocols]
        self.compression = bool(compression)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_message_size = max_message_size
        self.app_heartbeat = bool(app_heartbeat)
        self.ack = AckState()
        self.pubsub = PubSub()
        self.auth = make_auth(auth)
        self.max_connections = max_connections
        self.rate_limit = rate_limit
        self.send_buffer_max = send_buffer_max
        self.tls = bool(tls)
        self.ca_file: str | None = None  # with tls=True: the local CA clients must trust
        self._log = EventLog(events_max)
        self._conns: dict[int, Connection] = {}
        self._next_id = 1
        self._on_message: Callable[[Connection, str | bytes], Any] | None = None
        self._on_open: Callable[[Connection], Any] | None = None
        self._on_close: Callable[[Connection], Any] | None = None
        self._closed_all: asyncio.Event | None = None
        self._http: tornado.httpserver.HTTPServer | None = None
        self._sockets: list[socket.socket] = []
        self.port = port
        self.running = False

    # --- URLs ----------------------------------------------------------------
    @property
    def _ws(self) -> str:
        return "wss" if self.tls else "ws"

    @property
    def _http_scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        """The echo endpoint, ``ws://host:port/echo``."""
        return f"{self._ws}://{host_for_url(self.host)}:{self.port}/echo"

    @property
    def ack_url(self) -> str:
        """The exactly-once route for ReconnectingClient, ``ws://host:port/ack``."""
        return f"{self._ws}://{host_for_url(self.host)}:{self.port}/ack"

    @property
    def chat_url(self) -> str:
        return f"{self._ws}://{host_for_url(self.host)}:{self.port}/chat"

    @property
    def page_url(self) -> str:
        """The browser client page, ``http://host:port/``."""
        return f"{self._http_scheme}://{host_for_url(self.host)}:{self.port}/"

    @property
    def origin(self) -> str:
        return f"{self._http_scheme}://{host_for_url(self.host)}:{self.port}"

    # --- start / stop ----------------------------------------------------------
    async def _astart(self, port: int) -> None:
        # Tornado's access log would print every 403/404 as red stderr in a notebook;
        # rejected handshakes are recorded as ``reject`` events instead.
        settings: dict[str, Any] = {"log_function": _quiet_access_log}
        if self.ping_interval is not None:
            settings["websocket_ping_interval"] = self.ping_interval
        if self.ping_timeout is not None:
            settings["websocket_ping_timeout"] = self.ping_timeout
        if self.max_message_size is not None:
            settings["websocket_max_message_size"] = self.max_message_size
        app = tornado.web.Application([
            (r"/", _PageHandler, {"server": self}),
            (r"/login", _LoginPage, {"server": self}),
            (r"/demo/hijack", _HijackPage),
            (r"/echo", _LabSocket, {"server": self, "route": "echo"}),
            (r"/chat", _LabSocket, {"server": self, "route": "chat"}),
            (r"/ack", _LabSocket, {"server": self, "route": "ack"}),
            (r"/pubsub", _LabSocket, {"server": self, "route": "pubsub"}),
        ], **settings)
        try:
            self._sockets = tornado.netutil.bind_sockets(port, address=self.host)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServerStartError(
                    f"port {port} on {self.host} is already in use (another program or a "
                    f"server not started by this name); pick another port or port=0 for a free one"
                ) from None
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
                raise ServerStartError(f"cannot listen on {self.host!r}: {exc.strerror or exc}") from None
            if exc.errno == errno.EACCES:
                raise ServerStartError(f"no permission to listen on port {port} (ports below "
                                       "1024 need root); use port=0 or a port above 1023") from None
            raise ServerStartError(f"cannot listen on {self.host}:{port}: {exc}") from None
        self.port = self._sockets[0].getsockname()[1]
        ssl_ctx = None
        if self.tls:
            files = make_tls()
            self.ca_file, ssl_ctx = files.ca_file, files.server_context
        self._http = tornado.httpserver.HTTPServer(app, xheaders=False, ssl_options=ssl_ctx)
        self._http.add_sockets(self._sockets)
        self.running = True

    async def _astop(self, grace: float) -> None:
        if self._http is None:
            return
        self._http.stop()  # closes the listening sockets: no new connections
        conns = list(self._conns.values())
        for conn in conns:
            conn._handler.lab_close(1001, "server stopping")
        if conns:
            self._closed_all = asyncio.Event()
            try:
                await asyncio.wait_for(self._closed_all.wait(), grace)
            except asyncio.TimeoutError:
                pass
            for conn in list(self._conns.values()):
                ws = conn._handler.ws_connection
                if ws is not None and getattr(ws, "stream", None) is not None:
                    ws.stream.close()
            # give on_close callbacks one turn of the loop
            await asyncio.sleep(0)
        await self._http.close_all_connections()
        self._http = None
        self.running = False
        if self.ca_file is not None:
            try:
                os.unlink(self.ca_file)
            except OSError:
                pass

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        """Close every client with 1001 (going away) and stop listening.  Safe to call twice."""
        if self._http is not None:
            lab.run(self._astop(min(CLOSE_GRACE, timeout / 2)), timeout=timeout,
                    what=f"stopping server {self.name!r}")
        lab.unregister(self)
        if _servers.get(self.name) is self:
            del _servers[self.name]

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- clients ---------------------------------------------------------------
    def _add(self, handler: _LabSocket) -> Connection:
        conn = Connection(self, handler, self._next_id)
        self._next_id += 1
        self._conns[conn.id] = conn
        return conn

    def _remove(self, conn: Connection) -> None:
        self._conns.pop(conn.id, None)
        if not self._conns and self._closed_all is not None:
            self._closed_all.set()

    @property
    def clients(self) -> list[ClientInfo]:
        """The connected clients: id, remote address, path, subprotocol, since, counts."""
        return [replace(c.info, messages_in=c.messages_in, messages_out=c.messages_out)
                for c in list(self._conns.values())]

    def connection(self, client_id: int) -> Connection:
        try:
            return self._conns[client_id]
        except KeyError:
            ids = sorted(self._conns)
            raise ValueError(f"no connected client with id {client_id!r}; "
                             f"connected ids: {ids or 'none'}") from None

    def send(self, client_id: int, message: str | bytes) -> None:
        """Send one message to one client (text for str, binary for bytes)."""
        self.connection(client_id).send(message)

    def broadcast(self, message: str | bytes, *, path: str | None = None) -> int:
        """Send a message to every connected client (or those on ``path``); returns how many."""
        if not isinstance(message, (str, bytes)):
            raise ValueError(f"a message is str (text) or bytes (binary), got {type(message).__name__}")
        return lab.call(self._broadcast_now, message, path, what="broadcast")

    def _broadcast_now(self, message: str | bytes, path: str | None = None) -> int:
        """Encode the frame once, write the same bytes to every client (no per-client framing;
        clients with permessage-deflate get their own compressed copy)."""
        binary = isinstance(message, bytes)
        frame = encode_frame(Frame(Opcode.BINARY if binary else Opcode.TEXT,
                                   message if binary else message.encode("utf-8")))
        ids = []
        for conn in list(self._conns.values()):
            if path is None or conn.path == path:
                conn._send_now(message, frame, log=False)
                ids.append(conn.id)
        # One event for the whole broadcast (client_id None), naming its recipients.
        self._log.record("message", None, direction="out", opcode="binary" if binary else "text",
                         size=payload_size(message), data=clip(message),
                         extra={"broadcast": True, "recipients": ids})
        return len(ids)

    def _admit(self, request: Any) -> tuple[int, str] | None:
        if self.max_connections is not None and len(self._conns) >= self.max_connections:
            return 503, (f"server full: {len(self._conns)} connections "
                         f"(max_connections={self.max_connections})")
        if self.auth is not None:
            return self.auth.check(request)
        return None

    def _send_now_to(self, client_id: int, text: str) -> None:
        conn = self._conns.get(client_id)
        if conn is not None:
            conn._send_now(text)

    @property
    def pubsub_url(self) -> str:
        """The channels route, ``ws://host:port/pubsub`` (JSON sub/unsub/pub envelope)."""
        return f"{self._ws}://{host_for_url(self.host)}:{self.port}/pubsub"

    @property
    def channels(self) -> dict[str, list[int]]:
        """Channel -> ids of its members, on the ``/pubsub`` route."""
        return {c: sorted(m) for c, m in self.pubsub.channels.items()}

    def publish(self, channel: str, data: Any) -> int:
        """Send ``data`` to every member of ``channel`` on ``/pubsub``; returns how many."""
        return lab.call(self.pubsub.publish, channel, data, self._send_now_to, what="publish")

    def ack_broadcast(self, data: Any) -> int:
        """Send a numbered event to every ``/ack`` client and keep it for replay.

        Clients that are disconnected now get it when they reconnect (from a
        buffer of the last 1,000 events).  Returns the event's number.
        """
        return lab.call(self._ack_broadcast_now, data, what="ack_broadcast")

    def _ack_broadcast_now(self, data: Any) -> int:
        text = self.ack.event(data)
        self._broadcast_now(text, path="/ack")
        return self.ack.event_seq

    def close_client(self, client_id: int, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with one client."""
        self.connection(client_id).close(code, reason)

    def drop_client(self, client_id: int) -> None:
        """Cut one client's TCP connection WITHOUT a Close frame (what a crash looks like).

        The client then reports 1006, abnormal closure (RFC 6455 section 7.1.5).
        """
        conn = self.connection(client_id)
        lab.call_soon(conn._handler.lab_drop)

    def ping(self, client_id: int, payload: bytes = b"") -> None:
        """Send a ping frame to one client; its pong is logged with the round trip."""
        self.connection(client_id).ping(payload)

    # --- hooks -------------------------------------------------------------------
    def on_message(self, fn: Callable[[Connection, str | bytes], Any] | None) -> Any:
        """Decorator: ``fn(conn, message)`` replaces echo/chat; ``None`` restores them.

        If ``fn`` raises, the error is logged as an ``error`` event and that
        connection is closed with 1011 (internal error); other clients go on.
        """
        if fn is not None and not callable(fn):
            raise ValueError("on_message takes a function fn(conn, message) or None")
        self._on_message = fn
        return fn

    def on_open(self, fn: Callable[[Connection], Any] | None) -> Any:
        """Decorator: ``fn(conn)`` runs after each opening handshake."""
        self._on_open = fn
        return fn

    def on_close(self, fn: Callable[[Connection], Any] | None) -> Any:
        """Decorator: ``fn(conn)`` runs after each connection closed."""
        self._on_close = fn
        return fn

    def _call_hook(self, fn: Callable[..., Any] | None, conn: Connection) -> None:
        if fn is None:
            return
        try:
            fn(conn)
        except Exception as exc:  # noqa: BLE001
            self._log.record("error", conn.id, reason=f"{type(exc).__name__}: {exc}",
                             data=traceback.format_exc())

    # --- events --------------------------------------------------------------------
    @property
    def events(self) -> EventList:
        """Every event still in the ring (newest ``events_max``), oldest first."""
        return EventList(self._log.snapshot())

    @property
    def event_log(self) -> EventLog:
        return self._log

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[Event], None]:
        """Call ``fn(event)`` on the lab loop for every new event (for live panels)."""
        return self._log.subscribe(fn)

    def unsubscribe(self, fn: Callable[[Event], None]) -> None:
        self._log.unsubscribe(fn)

    # --- origin policy ------------------------------------------------------------------
    def _origin_allowed(self, origin: str, host_header: str) -> tuple[bool, str]:
        try:
            normal = origin_of(origin)
        except ValueError:
            return False, f"Origin {origin!r} is not a valid origin"
        if urlsplit(normal).netloc == host_header.lower() or normal == origin_of(self.origin):
            return True, "same origin"  # (the second test: a page of ours reached via a relay)
        if "*" in self.origins or normal in self.origins:
            return True, "allowed by serve(origins=...)"
        return False, (f"Origin {origin} is not this server's origin and not in "
                       f"serve(origins=...) (allowed: {sorted(self.origins) or 'none'})")

    def allow_origin(self, origin: str) -> None:
        """Add an allowed origin while running (e.g. JupyterLab's own page)."""
        self.origins |= _normalise_origins([origin])

    def _page_html(self) -> str:
        return resources.files("wslab.net.server").joinpath("static/client.html").read_text("utf-8")

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"<LabServer {self.name!r} {state} {self.url} page={self.page_url} "
                f"clients={len(self._conns)}>")


def _quiet_access_log(handler: tornado.web.RequestHandler) -> None:
    return None


def _normalise_origins(origins: Iterable[str]) -> set[str]:
    if isinstance(origins, str):
        origins = [origins]
    out = set()
    for o in origins:
        out.add("*" if o == "*" else origin_of(o))
    return out


def serve(*, host: str = "127.0.0.1", port: int = 0, name: str = "default",
          origins: Iterable[str] = (), subprotocols: Iterable[str] = (),
          compression: bool = False, events_max: int = 10_000,
          ping_interval: float | None = None, ping_timeout: float | None = None,
          max_message_size: int | None = None, app_heartbeat: bool = True,
          auth: str | TokenAuth | None = None, max_connections: int | None = None,
          rate_limit: int | None = None, send_buffer_max: int | None = 8 << 20,
          tls: bool = False, process: bool = False, handler: str | None = None,
          responsive: bool | None = None, timeout: float = lab.DEFAULT_TIMEOUT) -> LabServer:
    """Start (or restart) the in-kernel server called ``name`` and return it listening.

    Layer 2 (I/O).  Re-running the same cell stops the previous server of that
    name first, so no server leaks and the port is free again.  ``port=0`` picks
    a free port.  The default bind address is loopback; any other ``host`` must
    be asked for explicitly.  ``origins`` lists extra page origins allowed to
    connect (same-origin pages always are; ``"*"`` allows any, for demos only).
    ``ping_interval``/``ping_timeout`` (seconds) turn on protocol pings from the
    server; ``app_heartbeat`` answers JSON ``{"type": "ping", "t": ...}``
    messages with ``{"type": "pong", "t": ...}`` on every route.
    """
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port is an integer 0-65535 (0 = any free port), got {port!r}")
    if not isinstance(host, str) or not host:
        raise ValueError(f"host is an address string such as '127.0.0.1' or '::1', got {host!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name is a non-empty string, got {name!r}")
    for label, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(f"{label} is a number of seconds > 0 or None, got {value!r}")
    for label, value in (("max_message_size", max_message_size), ("rate_limit", rate_limit),
                         ("max_connections", max_connections), ("send_buffer_max", send_buffer_max)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{label} is a positive integer or None, got {value!r}")
    if handler is not None and not process:
        raise ValueError("handler='module:function' is for serve(process=True); in the kernel "
                         "use @server.on_message")
    if process:
        from .process import ProcessServer
        if tls or auth is not None:
            raise ValueError("serve(process=True) supports neither tls nor auth (yet)")
        old = _servers.pop(name, None)
        if old is not None:
            old.stop(timeout=timeout)
        options = {"host": host, "port": port, "name": name, "origins": list(origins),
                   "subprotocols": list(subprotocols), "compression": compression,
                   "events_max": events_max, "ping_interval": ping_interval,
                   "ping_timeout": ping_timeout, "max_message_size": max_message_size,
                   "app_heartbeat": app_heartbeat, "max_connections": max_connections,
                   "rate_limit": rate_limit, "send_buffer_max": send_buffer_max,
                   "handler": handler}
        proc_server = ProcessServer(options, timeout=timeout)
        _servers[name] = proc_server  # type: ignore[assignment]
        return proc_server  # type: ignore[return-value]
    if responsive is None:
        responsive = _in_kernel()
    if responsive:
        lab.keep_responsive()
    server = LabServer(host=host, port=port, name=name, origins=origins,
                       subprotocols=subprotocols, compression=compression,
                       events_max=events_max, ping_interval=ping_interval,
                       ping_timeout=ping_timeout, max_message_size=max_message_size,
                       app_heartbeat=app_heartbeat, auth=make_auth(auth),
                       max_connections=max_connections, rate_limit=rate_limit,
                       send_buffer_max=send_buffer_max, tls=tls)
    old = _servers.pop(name, None)
    if old is not None:
        old.stop(timeout=timeout)
    lab.run(server._astart(port), timeout=timeout, what=f"starting server {name!r}")
    _servers[name] = server
    lab.register(server)
    return server


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (not in a plain script or a terminal IPython)."""
    import sys
    ip = sys.modules.get("IPython")
    shell = ip.get_ipython() if ip is not None and hasattr(ip, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def servers() -> dict[str, LabServer]:
    """The running servers by name."""
    return dict(_servers)
