"""Tornado's private names, behind one door (layer 2, I/O).

wslab's server receives frames by RFC 6455's rules rather than Tornado's
(:mod:`wslab.net.server.strict`) and writes broadcast frames straight to the
socket (:mod:`wslab.net.server.connection`).  Both need a few parts of Tornado
that are not its public API: names with a leading underscore, which a Tornado
release may rename without notice.  Every such use in wslab goes through this
module, and ``tests/test_tornado_fence.py`` checks each one against the
installed Tornado (and that no other module touches one), so an upgrade that
breaks one fails loudly in one place instead of in a notebook.

``pyproject.toml`` pins ``tornado>=6.6,<7``: ``_send_pong`` first exists in 6.6, and
``periodic_ping`` runs as one task per connection from 6.5 on (``LabProtocol`` replaces it).
"""

from __future__ import annotations

from typing import Any

import tornado.http1connection
import tornado.httputil
import tornado.iostream
import tornado.tcpserver
import tornado.util
import tornado.websocket

__all__ = ["FORGOTTEN_HEADERS", "PRIVATE_NAMES", "Protocol13", "WebSocketParams", "abort",
           "compressor", "forget_request_headers", "handle_connection", "listening_port",
           "websocket_mask", "websocket_mask_python", "write_buffer_size", "write_frame"]

#: The options bundle ``WebSocketProtocol13(handler, mask_outgoing, params)`` takes
#: (ping interval and timeout, max message size, compression options).
WebSocketParams = tornado.websocket._WebSocketParams

#: ``websocket_mask(key, data)``: ``data`` XOR the 4-byte masking ``key`` repeated
#: (RFC 6455 section 5.3), in C when Tornado's speedups are built.
websocket_mask = tornado.util._websocket_mask

#: Tornado's pure-Python masking, what ``websocket_mask`` is without the C speedups
#: (``bench/bench_masking.py`` compares wslab's own with both).
websocket_mask_python = tornado.util._websocket_mask_python

#: Every Tornado private name wslab uses, by the Tornado object that has it;
#: tests/test_tornado_fence.py checks each against the installed Tornado.
PRIVATE_NAMES: dict[str, tuple[str, ...]] = {
    "tornado.websocket": ("_WebSocketParams",),
    "tornado.util": ("_websocket_mask", "_websocket_mask_python"),
    "tornado.websocket.WebSocketProtocol": ("_run_callback", "_abort", "_receive_frame"),
    "tornado.websocket.WebSocketProtocol13": (
        "_write_frame", "_send_pong", "_create_compressors", "_receive_frame",
        "_compressor", "_decompressor", "_received_pong", "_wire_bytes_in",
        "_message_bytes_in"),
    "tornado.iostream.IOStream": ("_write_buffer",),
    "tornado.tcpserver.TCPServer": ("_sockets", "_handle_connection"),
    "tornado.http1connection.HTTP1Connection": ("_request_headers",),
}


class _ForgottenHeaders(tornado.httputil.HTTPHeaders):
    """The headers of a request whose handshake is over: empty, and nothing may be added."""

    def add(self, name: str, value: str, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a WebSocket request's headers are forgotten once it is open")

    def __setitem__(self, name: str, value: str) -> None:
        self.add(name, value)


#: what :func:`forget_request_headers` leaves (one object shared by every connection)
FORGOTTEN_HEADERS: tornado.httputil.HTTPHeaders = _ForgottenHeaders()


def forget_request_headers(request: tornado.httputil.HTTPServerRequest) -> None:
    """Let the headers of an upgraded request go: Tornado keeps them for the connection's
    whole life, twice (``request.headers`` and its HTTP connection's ``_request_headers``),
    though nothing reads them after the 101.  A browser's handshake sends 1-2 KiB of them;
    an idle connection is that much lighter without them."""
    request.headers = FORGOTTEN_HEADERS
    connection = request.connection
    if isinstance(connection, tornado.http1connection.HTTP1Connection):
        connection._request_headers = FORGOTTEN_HEADERS


def write_buffer_size(stream: tornado.iostream.BaseIOStream | None) -> int:
    """Bytes queued in ``stream`` that the kernel has not taken yet; 0 once it is closed.

    Tornado sets ``IOStream._write_buffer`` to None when the stream closes (a
    reset connection closes it in the middle of a write), so this never raises.
    """
    buffer = getattr(stream, "_write_buffer", None)
    return len(buffer) if buffer is not None else 0


def compressor(proto: tornado.websocket.WebSocketProtocol13) -> Any | None:
    """The permessage-deflate compressor of a connection (RFC 7692), None without one.

    It has ``compress(data) -> bytes``; a frame it filled carries RSV1.
    """
    return proto._compressor


def write_frame(proto: tornado.websocket.WebSocketProtocol13, fin: bool, opcode: int,
                data: bytes, *, flags: int = 0) -> Any:
    """Write one frame with Tornado's framing (masked if the side masks); returns its Future.

    Raises ``tornado.iostream.StreamClosedError`` when the stream is closed.
    """
    return proto._write_frame(fin, opcode, data, flags=flags)


def abort(proto: tornado.websocket.WebSocketProtocol) -> None:
    """Close TCP at once, without a Close frame (what Tornado does on a broken connection)."""
    proto._abort()


def handle_connection(server: tornado.tcpserver.TCPServer, connection: Any,
                      address: Any) -> None:
    """Hand a socket that wslab accepted to a Tornado server, as its own accept handler
    would (TLS wrapping, IOStream, then ``handle_stream``).  wslab accepts by itself so
    that running out of file descriptors backs off instead of spinning
    (:mod:`wslab.net.server.accept`)."""
    server._handle_connection(connection, address)


def listening_port(server: tornado.tcpserver.TCPServer) -> int:
    """The port a server from ``app.listen(0)`` got (Tornado keeps no public record of it)."""
    sock = next(iter(server._sockets.values()))
    return sock.getsockname()[1]


class Protocol13(tornado.websocket.WebSocketProtocol13):
    """``WebSocketProtocol13`` with public names for the private hooks a receiver replaces.

    A subclass that defines ``async def receive_frame(self)`` (read and handle
    one frame) has it called where Tornado calls ``_receive_frame``, by
    Tornado's receive loop, with no extra call per frame: the method is bound
    under the private name when the subclass is created.  ``negotiated(side,
    agreed_parameters)`` runs after Tornado built its permessage-deflate
    (de)compressors.  The rest are aliases of Tornado's own methods.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("receive_frame")
        if own is not None:
            cls._receive_frame = own  # type: ignore[method-assign]

    #: ``write_frame(fin, opcode, data, flags=0)``: Tornado's framing and write; a Future.
    write_frame = tornado.websocket.WebSocketProtocol13._write_frame
    #: ``run_callback(fn, *args)``: call a handler hook; a Future if it returned an
    #: awaitable (Tornado waits for it before reading on: backpressure); on an
    #: exception, log it and abort.
    run_callback = tornado.websocket.WebSocketProtocol._run_callback
    #: ``send_pong(data)``: answer a ping, at most one pong outstanding (RFC 6455 5.5.3).
    send_pong = tornado.websocket.WebSocketProtocol13._send_pong
    #: ``abort()``: close TCP at once, no Close frame.
    abort = tornado.websocket.WebSocketProtocol._abort

    def _create_compressors(self, side: str, agreed_parameters: dict[str, Any],
                            compression_options: dict[str, Any] | None = None) -> None:
        exact = self.offered_parameters(side)
        if exact is not None:
            # Tornado 6.6 parses the offer with its Content-Type parser, which drops every
            # parameter without a value (server_no_context_takeover, ...); Tornado answers
            # with this very dict, so it is corrected in place (RFC 7692 7.1.1.1).
            agreed_parameters.clear()
            agreed_parameters.update(exact)
        super()._create_compressors(side, agreed_parameters, compression_options)
        self.negotiated(side, agreed_parameters)

    def offered_parameters(self, side: str) -> dict[str, str | None] | None:
        """The permessage-deflate offer's parameters as sent (a hook; None: Tornado's)."""
        return None

    def negotiated(self, side: str, agreed_parameters: dict[str, Any]) -> None:
        """permessage-deflate was agreed with ``agreed_parameters`` (RFC 7692); a hook."""

    @property
    def compressor(self) -> Any | None:
        """Tornado's permessage-deflate compressor for sending (None without compression)."""
        return self._compressor

    def drop_decompressor(self) -> None:
        """Forget Tornado's inflater: the subclass inflates received messages itself."""
        self._decompressor = None

    def count_in(self, wire: int, message: int = 0) -> None:
        """Add to Tornado's byte counters: ``wire`` bytes read (its receive loop yields to
        other connections by them) and ``message`` bytes of message payload."""
        self._wire_bytes_in += wire
        if message:
            self._message_bytes_in += message

    @property
    def wire_bytes_in(self) -> int:
        """Bytes read from the socket so far (Tornado's counter, frame headers included)."""
        return self._wire_bytes_in

    def pong_received(self) -> None:
        """Tell Tornado's own ping loop that a pong arrived."""
        self._received_pong = True
