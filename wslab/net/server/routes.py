"""The WebSocket routes of a LabServer, one handler class each (layer 2, I/O).

* ``/echo``   :class:`EchoSocket`   echoes every message, text as text, binary as binary;
* ``/chat``   :class:`ChatSocket`   relays every message to every client on ``/chat``;
* ``/pubsub`` :class:`PubSubSocket` channels in a JSON envelope (:mod:`.pubsub`);
* ``/ack``    :class:`AckSocket`    exactly-once delivery and replay (:mod:`.ack`).

:class:`LabSocket`, their base, turns Tornado's hooks into the server's events
and policies: admission (token, connection limit) before the upgrade, the
origin check, subprotocol choice, the application heartbeat and the rate
limit, then ``lab_handle``, which each route defines.  ``@server.on_message``
replaces the default behaviour of ``/echo`` and ``/chat`` only; ``/pubsub``
and ``/ack`` speak their own protocols whatever the hook.

No message may kill a connection silently (issue 11): every route answers
anything with a reply or a Close frame (1011 and an ``error`` event if a
route fails); every message counts toward ``rate_limit``, application pings
included; a ping flood leaves a few ``ping`` events and one summary per burst;
and nothing logged or recorded carries the request's query (``?token=``).
Before Tornado accepts an upgrade the request is checked by
:func:`wslab.protocol.handshake.parse_request` (RFC 6455 4.2.1), its Host by the
server's DNS-rebinding rule, and a permessage-deflate offer the server cannot
honour is declined rather than failed (RFC 7692 section 5).
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from collections.abc import Awaitable
from types import TracebackType
from typing import Any

import tornado.web
import tornado.websocket

from ...protocol.app_ping import build_app_pong, maybe_app_ping
from ...protocol.deflate import EXTENSION_NAME, PerMessageDeflate, parse_extension_offer
from ...protocol.errors import HandshakeError
from ...protocol.handshake import parse_request, split_header_list
from .._tornado import WebSocketParams, forget_request_headers
from ..keepalive import Keepalive
from .connection import Connection
from .context import ServerContext
from .strict import StrictProtocol

__all__ = ["PING_EVENTS_PER_SECOND", "ROUTES", "AckSocket", "ChatSocket", "EchoSocket",
           "LabProtocol", "LabSocket", "PubSubSocket", "acceptable_deflate_offer", "routes_for"]

#: pings from one client recorded one by one per second; the rest of a burst is one event
PING_EVENTS_PER_SECOND = 10


class LabProtocol(StrictProtocol):
    """The lab server's protocol: RFC-strict frame receiving (see :mod:`wslab.net.server.strict`),
    Tornado's sending side, and a heartbeat whose every ping and pong is an event."""

    def offered_parameters(self, side: str) -> dict[str, str | None] | None:
        # the offer LabSocket chose, parameters without a value included
        return getattr(self.handler, "lab_deflate_params", None) if side == "server" else None

    async def periodic_ping(self) -> None:
        """serve(ping_interval=..., ping_timeout=...): a ping every interval (RFC 6455 5.5.2).

        The loop is :class:`~wslab.net.keepalive.Keepalive`, the client's too.  Unlike
        Tornado's own loop, every ping and pong is an event with its round trip, a
        pong ends the wait at once, and a missing pong fails the connection with 1011
        "keepalive timeout", dropping TCP after at most one more second instead of
        Tornado's five.
        """
        handler: Any = self.handler  # a LabSocket
        # Tornado clamps the timeout to the interval; this loop has no need to.
        timeout = self.params.ping_timeout or self.ping_interval
        loop = asyncio.get_running_loop()

        async def ping(payload: bytes, wait: float) -> float | None:
            sent = loop.time()
            got = handler.lab_ping(payload, expect=True)
            if got is None:
                return None  # closed: the loop ends
            try:
                await asyncio.wait_for(got, wait)
            except asyncio.TimeoutError:
                raise TimeoutError(f"no pong within {wait:g} s") from None
            return loop.time() - sent

        async def abort(reason: str) -> None:
            loop.call_later(min(timeout, 1.0), self.abort)

        await Keepalive(ping=ping, is_open=lambda: not self.is_closing(),
                        on_timeout=lambda reason: handler.lab_keepalive_timeout(timeout),
                        abort=abort, interval=self.ping_interval, timeout=timeout,
                        prefix="hb-").run()


_SHARED_PARAMS: dict[tuple[Any, ...], Any] = {}  # see LabSocket.get_websocket_protocol


class LabSocket(tornado.websocket.WebSocketHandler):
    """Tornado hooks -> LabServer events and policies; a route defines ``lab_handle``.

    Runs on the lab loop only.
    """

    # Defaults live on the class; an instance gets its own value only once it changes,
    # so an idle connection's attribute dict stays small (issue 15, memory).
    lab: ServerContext  # set on the per-server subclass (routes_for), not per connection
    conn: Connection | None = None
    _ping_sent: dict[bytes, int] | None = None  # made by the first ping the server sends
    _pong_waiters: dict[bytes, asyncio.Future] | None = None
    # the ping flood guard: pings this second, and those not recorded one by one
    _ping_window = 0.0
    _ping_count = 0
    _pings_unlogged = 0
    _pings_unlogged_bytes = 0
    _pings_since = 0.0
    _lab_stream: Any = None
    lab_deflate_params: dict[str, str | None] | None = None

    @property
    def lab_protocol(self) -> LabProtocol | None:
        """This connection's :class:`LabProtocol` (kept by the Connection once open:
        Tornado forgets it before ``on_close``)."""
        ws = self.ws_connection
        if ws is not None:
            return ws  # type: ignore[return-value]
        return self.conn.protocol if self.conn is not None else None

    # --- handshake -----------------------------------------------------------
    def get(  # type: ignore[override]  # an awaitable, not a coroutine: see below
            self, *args: Any, **kwargs: Any) -> Awaitable[None] | None:
        # Not a coroutine itself: Tornado awaits what this returns, and the connection's
        # whole life runs inside that await, so one frame less is kept per connection.
        # (Tornado's HTTP connection forgets its stream once the upgrade detaches it)
        self._lab_stream = getattr(self.request.connection, "stream", None)
        refused = self._check_request()
        if refused is None:
            refused = self.lab.admit(self.request)
        if refused is not None:
            status, reason = refused[:2]
            self.lab.event_log.record("reject", None, code=status, reason=reason,
                                      extra={"path": self.request.path,
                                        "origin": self.request.headers.get("Origin")})
            self.set_status(status)
            if status == 401:
                self.set_header("WWW-Authenticate", 'Bearer realm="wslab"')
            for name, value in refused[2] if len(refused) > 2 else ():
                self.set_header(name, value)
            return self.finish(reason)
        if self.lab.compression:
            self._choose_deflate_offer()
        # What Tornado's own get() checks (Upgrade, Connection, Origin, the version) was
        # checked above by wslab's rules; its get() would also keep the request's headers in
        # a local for the connection's whole life.
        self.open_args, self.open_kwargs = args, kwargs
        protocol = self.ws_connection = self.get_websocket_protocol()
        return protocol.accept_connection(self)

    def _check_request(self) -> tuple[Any, ...] | None:
        """RFC 6455 4.2.1 by :mod:`wslab.protocol.handshake`, then the Host rule; None if fine.

        The head handed to ``parse_request`` is the request as Tornado read it, with the
        path but not the query (a token in it must not reach an error message).
        """
        req = self.request
        lines = [f"{req.method} {req.path or '/'} {req.version}"]
        lines += [f"{name}: {value}" for name, value in req.headers.get_all()]
        try:
            parse_request(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace"))
        except HandshakeError as exc:
            return exc.status, f"{exc.rule}: {exc}"[:300], tuple(exc.headers or ())
        ok, why = self.lab.admission.host_allowed(req.headers.get("Host", ""))
        if not ok:
            return 403, why
        # Tornado's own check passes an Origin whose host:port equals the Host whatever
        # its scheme, and any request saying Sec-Fetch-Site: same-origin; this one compares
        # scheme, host and port (RFC 6454 section 4), always.
        origin = req.headers.get("Origin")
        if origin is not None:
            ok, why = self.lab.admission.origin_allowed(origin, req.host)
            if not ok:
                return 403, why
        return None

    def _choose_deflate_offer(self) -> None:
        """Keep only the first permessage-deflate offer this server can honour (RFC 7692 5).

        Tornado takes the first offer as it is and fails the handshake when it cannot
        apply it; an offer wslab cannot honour is declined instead, and the next is tried.
        """
        headers = self.request.headers
        values = headers.get_list("Sec-WebSocket-Extensions")
        if not values:
            return
        chosen = acceptable_deflate_offer(", ".join(values))
        del headers["Sec-WebSocket-Extensions"]
        if chosen is not None:
            headers.add("Sec-WebSocket-Extensions", chosen[0])
            self.lab_deflate_params = chosen[1]

    def check_origin(self, origin: str) -> bool:
        ok, why = self.lab.admission.origin_allowed(origin, self.request.host)
        if not ok:
            self.lab.event_log.record("reject", None, code=403, reason=why,
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

    def get_websocket_protocol(self) -> LabProtocol:
        # Version 13 only: a request for another was refused with 426 by _check_request.
        # One parameter object per set of values, shared by the connections (Tornado only
        # reads it): an idle connection carries no copy of its own.
        key = (self.ping_interval, self.ping_timeout, self.max_message_size,
               self.lab.compression)
        params = _SHARED_PARAMS.get(key)
        if params is None:
            params = _SHARED_PARAMS[key] = WebSocketParams(
                ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
                max_message_size=self.max_message_size,
                compression_options=self.get_compression_options())
        return LabProtocol(self, False, params)

    # --- life cycle ------------------------------------------------------------
    def on_finish(self) -> None:
        self.lab.handshake_done(self._lab_stream)

    def open(self, *args: str, **kwargs: str) -> None:
        self.lab.handshake_done(self._lab_stream)
        self.set_nodelay(True)
        self.conn = self.lab.attach(self)
        self.lab.event_log.record_open(self.conn.id, self.conn.info)
        self.lab.run_open_hook(self.conn)
        forget_request_headers(self.request)  # what a handler needs is in conn.info now

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        conn = self.conn
        if conn is None:
            return None
        conn.messages_in += 1
        if self._pings_unlogged:
            self._flush_pings()
        self.lab.event_log.record_message(conn.id, "in", message)
        # every message counts toward the rate limit, application pings included
        if self.lab.rate_limit is not None and conn.over_rate(self.lab.rate_limit):
            return None
        try:
            ping = maybe_app_ping(message) if self.lab.app_heartbeat else None
            if ping is not None:  # answered here: never echoed, broadcast or handed to fn
                conn.send_now(build_app_pong(ping, server_time=time.time()))
                return None
            return self.lab_handle(conn, message)
        except Exception as exc:  # noqa: BLE001 - a route never dies silently
            self._handler_failed(exc)
            return None

    def lab_handle(self, conn: Connection, message: str | bytes) -> Awaitable[None] | None:
        """One message, after the heartbeat and the rate limit: the learner's
        ``@server.on_message`` function if there is one, else :meth:`lab_default`."""
        fn = self.lab.message_hook
        if fn is None:
            self.lab_default(conn, message)
            return None
        corked = conn.corked is not None
        if corked:  # the learner's code may send, then block: what it sent leaves at once
            conn.uncork()
        try:
            result = fn(conn, message)
        except Exception as exc:  # noqa: BLE001 - the learner's code may raise anything
            self._handler_failed(exc)
            return None
        finally:
            if corked:
                conn.cork()
        if inspect.isawaitable(result):
            return self._await_handler(result)
        return None

    def lab_default(self, conn: Connection, message: str | bytes) -> None:
        """What the route does with a message when no ``on_message`` function is set."""
        raise NotImplementedError

    async def _await_handler(self, result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception as exc:  # noqa: BLE001
            self._handler_failed(exc)

    def _handler_failed(self, exc: BaseException) -> None:
        assert self.conn is not None
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.lab.event_log.record("error", self.conn.id, reason=f"{type(exc).__name__}: {exc}",
                                  data=tb)
        reason = f"handler error: {type(exc).__name__}"[:123]
        self.lab_close(1011, reason)

    def on_ping(self, data: bytes) -> None:
        if self.conn is None:
            return
        now = time.monotonic()
        if now - self._ping_window >= 1.0:
            if self._pings_unlogged:
                self._flush_pings()
            self._ping_window, self._ping_count = now, 0
        self._ping_count += 1
        if self._ping_count > PING_EVENTS_PER_SECOND:
            # a flood: counted, answered, summed up in one event when the burst ends
            if not self._pings_unlogged:
                self._pings_since = now
                asyncio.get_running_loop().call_later(1.0, self._flush_pings)
            self._pings_unlogged += 1
            self._pings_unlogged_bytes += len(data)
            return
        self.lab.event_log.record("ping", self.conn.id, direction="in", opcode="ping",
                                  size=len(data), data=data)
        # Tornado has already answered with a pong carrying the same payload (RFC 6455 5.5.3).
        self.lab.event_log.record("pong", self.conn.id, direction="out", opcode="pong",
                                  size=len(data), data=data)

    def _flush_pings(self) -> None:
        """One ``ping`` event for the pings of a burst that were not recorded one by one."""
        n = self._pings_unlogged
        if not n or self.conn is None:
            return
        took = time.monotonic() - self._pings_since
        self.lab.event_log.record(
            "ping", self.conn.id, direction="in", opcode="ping", size=self._pings_unlogged_bytes,
            reason=f"burst: {n} more pings in {took:.2f} s, each answered with a pong; "
                   f"more than {PING_EVENTS_PER_SECOND} a second are not recorded one by one",
            extra={"burst": n})
        self._pings_unlogged = self._pings_unlogged_bytes = 0

    def on_pong(self, data: bytes) -> None:
        if self.conn is None:
            return
        sent = self._ping_sent.pop(data, None) if self._ping_sent else None
        extra = {"rtt_s": (time.perf_counter_ns() - sent) / 1e9} if sent is not None else {}
        self.lab.event_log.record("pong", self.conn.id, direction="in", opcode="pong",
                                  size=len(data), data=data, extra=extra)
        waiter = self._pong_waiters.pop(data, None) if self._pong_waiters else None
        if waiter is not None and not waiter.done():
            waiter.set_result(extra.get("rtt_s"))

    def lab_ping(self, payload: bytes, *, expect: bool = False) -> asyncio.Future | None:
        if self.ws_connection is None or self.conn is None:
            return None
        if self._ping_sent is None:
            self._ping_sent = {}
        elif len(self._ping_sent) > 100:
            self._ping_sent.clear()
        self._ping_sent[payload] = time.perf_counter_ns()
        if self.conn.held is not None:  # broadcasts sent before this ping leave first
            self.conn.release()
        if self.conn.corked:
            self.conn.flush()
        try:
            self.ping(payload)
        except tornado.websocket.WebSocketClosedError:
            return None
        self.lab.event_log.record("ping", self.conn.id, direction="out", opcode="ping",
                                  size=len(payload), data=payload)
        if not expect:
            return None
        fut = asyncio.get_running_loop().create_future()
        if self._pong_waiters is None:
            self._pong_waiters = {}
        self._pong_waiters[payload] = fut
        return fut

    def lab_keepalive_timeout(self, timeout: float) -> None:
        if self.conn is None:
            return
        self.lab.event_log.record("error", self.conn.id, code=1011,
                                  reason=f"keepalive timeout: no pong within {timeout:g} s")
        self.lab_close(1011, "keepalive timeout")

    def on_protocol_violation(self, code: int, reason: str) -> None:
        """Called by StrictProtocol before it fails the connection (RFC 6455 7.1.7)."""
        if self.conn is None:
            return
        proto = self.lab_protocol
        detail = (proto.violation_detail if proto is not None else None) or reason
        self.lab.event_log.record("error", self.conn.id, code=code, reason=detail)
        self.lab.event_log.record("close", self.conn.id, direction="out", opcode="close",
                                  code=code, reason=reason)

    def lab_batch(self, on: bool) -> None:
        """StrictProtocol's hook around the whole frames of one read chunk (lab loop):
        ``True`` before them, ``False`` after (and before anything it awaits), so the
        replies to one chunk leave in one ``send()`` (:meth:`Connection.cork`)."""
        conn = self.conn
        if conn is not None:
            if on:
                conn.cork()
            else:
                conn.uncork()

    def lab_drop(self) -> None:
        ws = self.ws_connection
        if ws is None or self.conn is None:
            return
        self.lab.event_log.record("close", self.conn.id, direction="out", opcode="",
                                  reason="TCP connection dropped, no Close frame")
        stream = getattr(ws, "stream", None)
        if stream is not None:
            stream.close()

    def lab_close(self, code: int, reason: str) -> None:
        if self.ws_connection is None or self.conn is None or self.conn.closed:
            return
        if self.conn.held is not None:  # broadcasts sent before the close leave first
            self.conn.release()
        if self.conn.corked:  # and the replies gathered so far
            self.conn.flush()
        self.lab.event_log.record("close", self.conn.id, direction="out", opcode="close",
                                  code=code, reason=reason)
        self.close(code, reason)

    def on_close(self) -> None:
        conn = self.conn
        if conn is None:
            return
        conn.closed = True
        if self._pings_unlogged:
            self._flush_pings()
        # RFC 6455 7.1.5: no Close frame at all -> 1006 (closed abnormally); a Close
        # frame without a code -> 1005 (no status received).  Neither is ever sent.
        proto = self.lab_protocol
        payload = proto.close_payload if proto is not None else None
        if payload is None:
            code = 1006
        elif self.close_code is None:
            code = 1005
        else:
            code = self.close_code
        self.lab.event_log.record("close", conn.id, direction="in", opcode="close", code=code,
                                  reason=self.close_reason or "",
                                  extra={"clean": payload is not None})
        self.lab.detach(conn)
        self.lab_forget(conn)
        self.lab.run_close_hook(conn)

    def lab_forget(self, conn: Connection) -> None:
        """The connection closed: drop what the route kept about it (before ``on_close``)."""

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        """Tornado's hook for an uncaught exception: an ``error`` event, never a log line.

        Tornado's own would log the request URI (with its ``?token=``) and headers.
        """
        if value is None or isinstance(value, tornado.web.HTTPError):
            return
        self.lab.event_log.record(
            "error", self.conn.id if self.conn is not None else None,
            reason=f"{type(value).__name__}: {value}",
            data="".join(traceback.format_exception(typ, value, tb)),
            extra={"path": self.request.path})


class EchoSocket(LabSocket):
    """``/echo``: every message goes back to its sender, text as text, binary as binary."""

    def lab_default(self, conn: Connection, message: str | bytes) -> None:
        conn.send_now(message)


class ChatSocket(LabSocket):
    """``/chat``: every message goes to every client connected to ``/chat``."""

    def lab_default(self, conn: Connection, message: str | bytes) -> None:
        self.lab.broadcast_local(message, path=self.request.path)


class PubSubSocket(LabSocket):
    """``/pubsub``: channels over one connection (:mod:`wslab.net.server.pubsub`).

    Its JSON envelope is the server's protocol: ``@server.on_message`` does not replace it.
    """

    def lab_handle(self, conn: Connection, message: str | bytes) -> None:
        self.lab.pubsub.handle(conn.id, message, self.lab.send_local)

    def lab_forget(self, conn: Connection) -> None:
        self.lab.pubsub.forget(conn.id)


class AckSocket(LabSocket):
    """``/ack``: exactly-once delivery with replay (:mod:`wslab.net.server.ack`).

    Its JSON envelope is the server's protocol: ``@server.on_message`` does not replace it.
    """

    def lab_handle(self, conn: Connection, message: str | bytes) -> Awaitable[None] | None:
        # replies go out before the next message is read (the store may be Redis)
        return self._await_handler(self.lab.ack_route.handle(conn, message))

    def lab_forget(self, conn: Connection) -> None:
        self.lab.ack_route.forget(conn)


#: (path, handler class) of every WebSocket route, in the order they are matched.
ROUTES: tuple[tuple[str, type[LabSocket]], ...] = (
    (r"/echo", EchoSocket),
    (r"/chat", ChatSocket),
    (r"/ack", AckSocket),
    (r"/pubsub", PubSubSocket),
)


def routes_for(server: ServerContext) -> list[tuple[str, type[LabSocket]]]:
    """:data:`ROUTES` for one server: a subclass of each handler with ``lab = server``, so
    that no connection carries the server in its own attribute dict (issue 15, memory)."""
    return [(path, type(cls.__name__, (cls,), {"lab": server, "__module__": cls.__module__}))
            for path, cls in ROUTES]


def acceptable_deflate_offer(header: str) -> tuple[str, dict[str, str | None]] | None:
    """The first permessage-deflate offer in a Sec-WebSocket-Extensions value that this
    server can honour, as ``(element, parameters)``; None to decline them all.

    An offer is declined (RFC 7692 section 5: the server accepts at most one offer and
    answers only with what it can honour) when it is malformed, names an unknown
    parameter or a parameter twice, or names a window of 8 bits either way: zlib has no
    256-byte window (it quietly uses 512 bytes), so wslab never agrees to one.
    """
    for item in split_header_list(header):
        try:
            ((name, params),) = parse_extension_offer(item)
            if name != EXTENSION_NAME:
                continue
            PerMessageDeflate.from_params(dict(params), is_server=True)
        except (HandshakeError, ValueError):
            continue
        if "8" in (params.get("client_max_window_bits"), params.get("server_max_window_bits")):
            continue
        return "; ".join([EXTENSION_NAME, *(k if v is None else f"{k}={v}"
                                            for k, v in params.items())]), dict(params)
    return None
