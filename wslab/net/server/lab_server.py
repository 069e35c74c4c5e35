"""LabServer: one WebSocket server on the lab loop (layer 2, I/O).  Start it with ``serve()``.

It owns the Tornado application (the routes of :mod:`.routes`, the pages of
:mod:`.pages`), the connected clients (:class:`~.connection.Connection`), the
event log, the channel and exactly-once state (:mod:`.pubsub`, :mod:`.ack`),
the admission rules (an :class:`~.admission.Admission` value), and the
learner's hooks (``@server.on_message``, ``on_open``, ``on_close``).  Routes
and pages see it only as a :class:`~.context.ServerContext`.

Bounds against hostile clients (issue 11): an opening handshake must arrive
within ``handshake_timeout`` seconds, and handshakes in progress count toward
``max_connections`` (``pending_handshakes``); running out of file descriptors
backs off with one ``error`` event (:mod:`.accept`); a Host header naming this
port must name this server (DNS rebinding); ``/ack`` sessions idle for
``ack_session_ttl`` seconds expire.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import traceback
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from ...protocol.ack import check_event_id
from ...protocol.frames import Frame, Opcode, encode_frame
from .. import loop as lab
from .. import public_url
from .._tornado import handle_connection
from ..errors import ServerStartError
from ..events import Event, EventList, EventLog, clip, payload_size
from ..relay import LocalRelay, Relay, RelayHost
from ..tls import make_tls
from ..urls import ServerURLs
from . import registry
from .accept import Acceptor, describe, raise_file_limit
from .ack import AckRoute, MemoryAckStore
from .admission import Admission, TokenAuth, normalise_origins
from .connection import (
    ClientInfo,
    Connection,
    ConnectionHandler,
    SharedDeflate,
    broadcast_frame,
    payload_bytes,
)
from .context import MessageHook
from .options import HANDSHAKE_TIMEOUT, ServerOptions
from .pages import ClientPage, HijackPage, LoginPage
from .pubsub import PubSub
from .routes import routes_for

__all__ = ["CLOSE_GRACE", "HANDSHAKE_TIMEOUT", "LabServer"]

CLOSE_GRACE = 1.0     # seconds stop() waits for clients to answer the close frame


class LabServer(ServerURLs):
    """A WebSocket server running on the lab loop (layer 2).  Create it with :func:`serve`."""

    _stop_order = 2

    def __init__(self, *, options: ServerOptions) -> None:
        """``options`` (checked already, see :class:`~.options.ServerOptions`) say how it
        listens, whom it admits and what it bounds; :func:`serve` starts it."""
        self.options = options
        self.host = options.host
        self.name = options.name
        self.admission = Admission(
            bound_host=options.host, port=options.port, tls=options.tls,
            origins=normalise_origins(options.origins),
            proxies=frozenset(options.trusted_proxies) | public_url.proxy_addresses(),
            machine_name=socket.gethostname().lower(),
            max_connections=options.max_connections, auth=options.auth,
            max_per_address=options.max_per_address)
        self.subprotocols = list(options.subprotocols)
        self.compression = options.compression
        self.ping_interval = options.ping_interval
        self.ping_timeout = options.ping_timeout
        self.max_message_size = options.max_message_size
        self.app_heartbeat = options.app_heartbeat
        self.ack = MemoryAckStore(session_ttl=options.ack_session_ttl)
        self.handshake_timeout = options.handshake_timeout
        self._pending: set[Any] = set()  # streams whose handshake is in progress
        self._acceptor: Acceptor | None = None
        self._ack_sweeper: asyncio.TimerHandle | None = None
        self.pubsub = PubSub()
        self.rate_limit = options.rate_limit
        self.send_buffer_max = options.send_buffer_max
        self.ca_file: str | None = None  # with tls=True: the local CA clients must trust
        self._log = EventLog(options.events_max, level=options.events_level)
        self._conns: dict[int, Connection] = {}
        self._next_id = 1
        self._on_message: MessageHook | None = None
        self._on_open: Callable[[Connection], Any] | None = None
        self._on_close: Callable[[Connection], Any] | None = None
        self._closed_all: asyncio.Event | None = None
        self._http: tornado.httpserver.HTTPServer | None = None
        self._sockets: list[socket.socket] = []
        self.running = False
        # serve(backplane="redis://..."): broadcasts, /chat, /pubsub and /ack shared with
        # every server on that Redis (wslab.net.backplane, which imports redis; None: not used)
        self.backplane_url = options.backplane
        self.backplane: Any = None
        self.ack_route = AckRoute(self.ack, self._record_ack)
        self.relay: Relay = self._make_relay()

    # --- rules and options handlers read (see ServerContext) --------------------
    @property
    def port(self) -> int:
        """The port the server listens on (the one bound when it was asked for 0)."""
        return self.admission.port

    @port.setter
    def port(self, port: int) -> None:
        self.admission = self.admission.with_port(port)

    @property
    def tls(self) -> bool:
        return self.admission.tls

    @property
    def auth(self) -> TokenAuth | None:
        return self.admission.auth

    @property
    def max_connections(self) -> int | None:
        return self.admission.max_connections

    @property
    def origins(self) -> frozenset[str]:
        """Page origins allowed besides the server's own (``"*"``: any)."""
        return self.admission.origins


    # --- start / stop ----------------------------------------------------------
    async def astart(self) -> None:
        """Listen on ``options.port`` (0: a free one) and serve, on the lab loop; a server
        is started once (:func:`serve` does it and raises its start-up errors in the cell)."""
        if self._http is not None:
            raise ServerStartError(f"server {self.name!r} is running already")
        port = self.options.port
        # Tornado's access log would print every 403/404 as red stderr in a notebook;
        # rejected handshakes are recorded as ``reject`` events instead.
        settings: dict[str, Any] = {"log_function": _quiet_access_log}
        if self.ping_interval is not None:
            settings["websocket_ping_interval"] = self.ping_interval
        if self.ping_timeout is not None:
            settings["websocket_ping_timeout"] = self.ping_timeout
        if self.max_message_size is not None:
            settings["websocket_max_message_size"] = self.max_message_size
        table: list[Any] = [
            (r"/", ClientPage, {"server": self}),
            (r"/login", LoginPage, {"server": self}),
            (r"/demo/hijack", HijackPage, {"server": self}),
            *routes_for(self),
        ]
        if self.options.paths is not None:  # only the routes this server was told to serve
            table = [row for row in table if row[0] in self.options.paths]
        app = tornado.web.Application(table, **settings)
        try:
            self._sockets = tornado.netutil.bind_sockets(port, address=self.host)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServerStartError(
                    f"port {port} on {self.host} is already in use (another program or a "
                    f"server not started by this name); pick another port or port=0 for a free one"
                ) from None
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) \
                    or isinstance(exc, socket.gaierror):
                raise ServerStartError(
                    f"cannot listen on {self.host!r}: {exc.strerror or exc}") from None
            if exc.errno == errno.EACCES:
                raise ServerStartError(f"no permission to listen on port {port} (ports below "
                                       "1024 need root); use port=0 or a port above 1023") from None
            raise ServerStartError(f"cannot listen on {self.host}:{port}: {exc}") from None
        self.port = self._sockets[0].getsockname()[1]
        ssl_ctx = None
        if self.tls:
            files = make_tls()
            self.ca_file, ssl_ctx = files.ca_file, files.server_context
        await self._astart_relay()
        # idle_connection_timeout bounds the wait for a request's header block: a client
        # that sends its handshake slowly (or never) is dropped after handshake_timeout.
        self._http = _LabHTTPServer(app, xheaders=False, ssl_options=ssl_ctx,
                                    idle_connection_timeout=self.handshake_timeout)
        self._http.lab = self
        http = self._http
        self._acceptor = Acceptor(self._sockets, lambda c, a: handle_connection(http, c, a),
                                  self._accept_exhausted, fd_reserve=self.options.fd_reserve,
                                  on_full=self._accept_full)
        self._acceptor.start()
        self._say_file_limit(raise_file_limit())
        self._sweep_ack_sessions()
        self.running = True

    def _accept_exhausted(self, exc: OSError, delay: float) -> None:
        self._log.record("error", None, reason=(
            f"cannot accept connections: {describe(exc)}; not accepting for {delay:g} s, "
            "then again with a growing pause (one event per episode)"),
            extra={"errno": errno.errorcode.get(exc.errno or 0, "")})

    def _say_file_limit(self, raised: tuple[int, int] | None) -> None:
        """One ``limit`` event (and a log line) when starting raised the open-file limit."""
        if raised is None:
            return
        old, new = raised
        text = (f"raised this process's soft open-file limit (RLIMIT_NOFILE) from {old} to "
                f"{new}, its hard limit: more clients at once; at the limit new clients "
                "are answered 503")
        self._log.record("limit", None, reason=text, extra={"soft_was": old, "soft": new})
        logging.getLogger("wslab").info("server %r: %s", self.name, text)

    def _accept_full(self, refused: int) -> None:
        self._log.record("reject", None, code=503, reason=(
            f"connection refused at once: the last {self.options.fd_reserve} file descriptors "
            f"are kept for the rest of the process ({refused} refused so far; one event per "
            "episode)"))

    def _sweep_ack_sessions(self) -> None:
        """Expire idle ``/ack`` sessions now and then (lab loop)."""
        self.ack_route.sweep_soon()
        every = max(0.1, min(30.0, self.ack.limits.session_ttl / 2))
        self._ack_sweeper = asyncio.get_running_loop().call_later(every, self._sweep_ack_sessions)

    # --- handshakes in progress ------------------------------------------------------
    def handshake_begin(self, stream: Any) -> None:
        """A TCP connection arrived: its handshake is in progress until ``handshake_done``."""
        self._pending.add(stream)
        if len(self._pending) > 256:
            self._prune_pending()

    def handshake_done(self, stream: Any) -> None:
        """The handshake on ``stream`` completed or failed (safe to call twice)."""
        self._pending.discard(stream)

    @property
    def pending_handshakes(self) -> int:
        """TCP connections whose opening handshake has not completed (nor failed) yet."""
        return sum(1 for s in list(self._pending) if not s.closed())

    def _prune_pending(self) -> None:
        self._pending = {s for s in self._pending if not s.closed()}

    def _make_relay(self) -> Relay:
        """The relay for ``serve(backplane=...)``: Redis for a URL, else this server alone."""
        host = RelayHost(
            name=self.name,
            broadcast=lambda message, path: self._broadcast_now(message, path, relay=False),
            publish=lambda channel, data, sender: self.pubsub.publish(
                channel, data, self._send_now_to, sender=sender, relay=False),
            ack_event=self.ack_route.deliver_event, ack_missed=self.ack_route.events_missed,
            record=self._record_backplane)
        if self.backplane_url is None:
            return LocalRelay(host, self.ack)
        from ..backplane import Backplane  # imports redis: only for a server that uses it
        shared: Relay = Backplane(host, self.backplane_url, limits=self.ack.limits)
        self.backplane = shared
        return shared

    async def _astart_relay(self) -> None:
        try:
            await self.relay.astart()
        except BaseException:
            for s in self._sockets:
                s.close()
            raise
        self.ack_route.store = self.relay.ack_store()
        self.pubsub.relay = self.relay.publish

    def _record_backplane(self, what: str, extra: dict[str, Any]) -> None:
        self._log.record("backplane", None, reason=what, extra=extra)

    def _record_ack(self, kind: str, client_id: int | None, code: int | None,
                    reason: str) -> None:
        self._log.record(kind, client_id, code=code, reason=reason)

    async def _astop(self, grace: float, code: int = 1001, reason: str = "server stopping") -> None:
        if self._http is None:
            return
        if self._acceptor is not None:
            self._acceptor.stop()  # closes the listening sockets: no new connections
        if self._ack_sweeper is not None:
            self._ack_sweeper.cancel()
        self._http.stop()
        conns = list(self._conns.values())
        for conn in conns:
            conn.close_now(code, reason)
        if conns:
            self._closed_all = asyncio.Event()
            try:
                await asyncio.wait_for(self._closed_all.wait(), grace)
            except asyncio.TimeoutError:
                pass
            for conn in list(self._conns.values()):
                conn.abort()
            # give on_close callbacks one turn of the loop
            await asyncio.sleep(0)
        await self._http.close_all_connections()
        self._http = None
        self.running = False
        await self.relay.astop()
        if self.ca_file is not None:
            try:
                os.unlink(self.ca_file)
            except OSError:
                pass

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT, code: int = 1001,
             reason: str = "server stopping") -> None:
        """Close every client with 1001 (going away) and stop listening.  Safe to call twice.

        ``code=1012`` (service restart) tells clients the server comes back: a graceful
        drain before a restart (RFC 6455 section 7.4.1 lists 1001; 1012 is IANA's).
        """
        if code not in (1000, 1001, 1011, 1012, 1013):
            raise ValueError(f"a server stops its clients with 1000, 1001, 1011, 1012 or 1013, "
                             f"got {code!r}")
        if self._http is not None:
            lab.run(self._astop(min(CLOSE_GRACE, timeout / 2), code, reason), timeout=timeout,
                    what=f"stopping server {self.name!r}")
        lab.unregister(self)
        registry.forget(self)

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- clients ---------------------------------------------------------------
    def attach(self, handler: ConnectionHandler) -> Connection:
        """A handshake completed: the new client's :class:`Connection`, now listed."""
        conn = Connection(self, handler, self._next_id)
        self._next_id += 1
        self._conns[conn.id] = conn
        return conn

    def detach(self, conn: Connection) -> None:
        """``conn`` closed: no longer listed (safe to call twice)."""
        self._conns.pop(conn.id, None)
        if not self._conns and self._closed_all is not None:
            self._closed_all.set()

    def number_clients_from(self, first: int) -> None:
        """Give the next client the id ``first`` (the one after it ``first + 1``...).

        Ids are never reused while a client holds one: ``first`` must be above every
        connected client's id (``ValueError`` otherwise).
        """
        if isinstance(first, bool) or not isinstance(first, int) or first < 1:
            raise ValueError(f"a client id is an int of at least 1, got {first!r}")
        if self._conns and first <= max(self._conns):
            raise ValueError(f"client ids up to {max(self._conns)} are in use; "
                             f"the next id must be above them, got {first}")
        self._next_id = first

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
            raise ValueError("a message is str (text) or bytes (binary), "
                             f"got {type(message).__name__}")
        return lab.call(self._broadcast_now, message, path, what="broadcast")

    def _broadcast_now(self, message: str | bytes, path: str | None = None, *,
                       relay: bool = True) -> int:
        """Encode the frame once, write the same bytes to every client (no per-client framing;
        clients with permessage-deflate share one compressed copy per window size when they
        agreed to server_no_context_takeover, else each gets its own).  The relay then shares
        it with the other servers, if any (``relay=False``: it came from one of them)."""
        binary = isinstance(message, bytes)
        frame = encode_frame(Frame(Opcode.BINARY if binary else Opcode.TEXT,
                                   payload_bytes(message)))
        shared = SharedDeflate()
        conns = list(self._conns.values()) if path is None else \
            [c for c in self._conns.values() if c.info.path == path]
        ids = broadcast_frame(conns, message, frame, shared, self.compression)
        # One event for the whole broadcast (client_id None), naming its recipients.
        extra: dict[str, Any] = {"broadcast": True, "recipients": ids}
        if shared.compressions:
            extra["compressions"] = shared.compressions
        self._log.record("message", None, direction="out", opcode="binary" if binary else "text",
                         size=payload_size(message), data=clip(message), extra=extra)
        if relay:
            self.relay.broadcast(message, path)
        return len(ids)

    def broadcast_local(self, message: str | bytes, path: str | None = None) -> int:
        """Send ``message`` now to every client of this server (on ``path`` if given),
        with one event for all, and relay it to the backplane if there is one (lab loop)."""
        return self._broadcast_now(message, path)

    def admit(self, request: Any) -> tuple[int, str] | None:
        """None when this upgrade request may go on, else (HTTP status, reason): the
        connection limit, handshakes in progress counted, then the token (lab loop)."""
        pending = 0
        if self.admission.max_connections is not None:
            own = getattr(request.connection, "stream", None)
            pending = self.pending_handshakes - (own in self._pending)
        same = 0
        if self.admission.max_per_address is not None:
            own = getattr(request.connection, "stream", None)
            same = sum(1 for c in self._conns.values() if c.info.remote == request.remote_ip)
            same += sum(1 for s in list(self._pending)
                        if s is not own and _peer_ip(s) == request.remote_ip)
        return self.admission.check(request, connections=len(self._conns), pending=pending,
                                    from_address=same)

    def send_local(self, client_id: int, text: str) -> None:
        """Send ``text`` now to one client of this server, if it is still connected."""
        self._send_now_to(client_id, text)

    def _send_now_to(self, client_id: int, text: str) -> None:
        conn = self._conns.get(client_id)
        if conn is not None and not conn.closed:
            conn.send_now(text)

    @property
    def channels(self) -> dict[str, list[int]]:
        """Channel -> ids of its members, on the ``/pubsub`` route."""
        return {c: sorted(m) for c, m in self.pubsub.channels.items()}

    def publish(self, channel: str, data: Any) -> int:
        """Send ``data`` to every member of ``channel`` on ``/pubsub``; returns how many."""
        return lab.call(self.pubsub.publish, channel, data, self._send_now_to, what="publish")

    def ack_broadcast(self, data: Any, *, id: str | None = None) -> int:
        """Send a numbered event to every ``/ack`` client and keep it for replay.

        Clients that are disconnected now get it when they reconnect (from a
        buffer of the last 1,000 events).  Returns the event's number.  With an ``id``
        (1-128 printable ASCII characters) the call is idempotent: a retry with the same
        id (after a timeout or a Redis fault left the outcome unknown) returns the first
        call's number and never delivers twice (the newest ``replay_max`` ids are kept).
        """
        if id is not None:
            check_event_id(id, self.relay.ack_store().limits)
        return self.relay.ack_broadcast(data, id)

    def close_client(self, client_id: int, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with one client (``ValueError`` for a code or
        reason that may not be sent, RFC 6455 section 7.4)."""
        self.connection(client_id).close(code, reason)

    def drop_client(self, client_id: int) -> None:
        """Cut one client's TCP connection WITHOUT a Close frame (what a crash looks like).

        The client then reports 1006, abnormal closure (RFC 6455 section 7.1.5).
        """
        conn = self.connection(client_id)
        lab.call_soon(conn.drop_now)

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

    @property
    def message_hook(self) -> MessageHook | None:
        """The ``@server.on_message`` function, or None for the route's default."""
        return self._on_message

    def run_open_hook(self, conn: Connection) -> None:
        """Run ``@server.on_open`` for ``conn``; an exception becomes an ``error`` event."""
        self._call_hook(self._on_open, conn)

    def run_close_hook(self, conn: Connection) -> None:
        """Run ``@server.on_close`` for ``conn``; an exception becomes an ``error`` event."""
        self._call_hook(self._on_close, conn)

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

    def subscribe(self, fn: Callable[[Any], None], *,
                  batch: bool = False) -> Callable[[Any], None]:
        """Call ``fn(event)`` on the lab loop for every new event (for live panels), after
        the loop turn that recorded it; ``batch=True``: ``fn(events)`` once per turn."""
        return self._log.subscribe(fn, batch=batch)

    def unsubscribe(self, fn: Callable[[Event], None]) -> None:
        self._log.unsubscribe(fn)

    # --- origin policy ------------------------------------------------------------------
    def allow_origin(self, origin: str) -> None:
        """Add an allowed origin while running (e.g. JupyterLab's own page)."""
        self.admission = self.admission.with_origin(origin)

    def allow_host(self, name: str) -> None:
        """Accept ``name`` in the Host header of requests to this port (the DNS-rebinding
        rule of :meth:`Admission.host_allowed <.admission.Admission.host_allowed>`)."""
        self.admission = self.admission.with_host(name)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"<LabServer {self.name!r} {state} {self.url} page={self.page_url} "
                f"clients={len(self._conns)}>")


def _peer_ip(stream: Any) -> str | None:
    """The client address of an open stream whose handshake is in progress, else None."""
    if stream.closed():
        return None
    try:
        return str(stream.socket.getpeername()[0])
    except (OSError, AttributeError):
        return None


def _quiet_access_log(handler: tornado.web.RequestHandler) -> None:
    return None


class _LabHTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTP server, counting the connections whose handshake is in progress."""

    lab: LabServer

    def handle_stream(self, stream: Any, address: tuple[Any, ...]) -> None:
        self.lab.handshake_begin(stream)
        super().handle_stream(stream, address)
