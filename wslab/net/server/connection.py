"""One client connection as the server sees it, and its send path (layer 2, I/O).

:class:`Connection` is what ``@server.on_message`` handlers receive.  Its send
path writes a frame without the Task Tornado wraps around every write, hands a
broadcast's pre-encoded frame straight to the kernel when nothing is queued,
and applies the server's policies: ``send_buffer_max`` (a client that does not
read is failed with 1013, "try again later": a slow consumer) and
``rate_limit`` (more messages a second than allowed: 1008, policy violation).
A message for a connection that is closed, or whose TCP connection was reset
under it, is dropped without an error.

A Connection knows its server only as a :class:`ConnectionOwner` (the event log
and the send-buffer limit) and its Tornado handler only as a
:class:`ConnectionHandler` (close, ping, drop, the protocol object).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import tornado.iostream

from ...protocol.app_ping import build_app_pong, parse_app_ping
from ...protocol.closecodes import check_close_args
from ...protocol.deflate import PerMessageDeflate
from ...protocol.frames import Opcode, encode_header
from .. import loop as lab
from .._tornado import write_buffer_size
from ..errors import ConnectionClosed
from ..events import EventLog

__all__ = ["BROADCAST_SLICE", "Broadcast", "ClientInfo", "Connection", "ConnectionHandler",
           "ConnectionOwner", "SharedDeflate",
           "app_pong", "broadcast_frame", "check_close_args", "deliver", "payload_bytes",
           "server_frame"]


class ConnectionOwner(Protocol):
    """What a Connection needs of its server: where events go, and the send-buffer bound."""

    @property
    def event_log(self) -> EventLog:
        """The server's event log."""

    @property
    def send_buffer_max(self) -> int | None:
        """Bytes that may wait to be sent to one client before it is failed with 1013."""


class ConnectionHandler(Protocol):
    """What a Connection needs of the request handler that carries it (lab loop)."""

    @property
    def ws_connection(self) -> Any:
        """The WebSocket protocol object, None once the connection is closed."""

    @property
    def request(self) -> Any:
        """The opening handshake's HTTP request."""

    @property
    def selected_subprotocol(self) -> str | None:
        """The subprotocol agreed in the handshake."""

    def lab_close(self, code: int, reason: str) -> None:
        """Start the closing handshake (one ``close`` event)."""

    def lab_ping(self, payload: bytes, *, expect: bool = False) -> Any:
        """Send a ping (one ``ping`` event)."""

    def lab_drop(self) -> None:
        """Cut the TCP connection without a Close frame."""


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
    handler running on the lab loop and from an ordinary cell alike.  Per-client
    state of your own goes in ``conn.state`` (a dict made on first use): the
    attributes are fixed (``__slots__``), one object per connection kept small.
    """

    __slots__ = ("server", "id", "_handler", "protocol", "info", "messages_in", "messages_out",
                 "closed", "_window_start", "_window_count", "_state", "held", "corked")
    _state: dict[str, Any] | None

    @property
    def state(self) -> dict[str, Any]:
        """A dict for your own per-client data (a nickname, a counter...)."""
        if self._state is None:
            self._state = {}
        return self._state

    def __init__(self, server: ConnectionOwner, handler: ConnectionHandler, cid: int) -> None:
        self.server = server
        self.id = cid
        self._handler = handler
        #: the connection's protocol object (Tornado drops the handler's before on_close)
        self.protocol = handler.ws_connection
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
        self._state: dict[str, Any] | None = None
        #: broadcasts that reached this client's turn not yet (a large fan-out goes out in
        #: slices, see :func:`broadcast_frame`); None when nothing waits.  Anything else
        #: sent to this client (a reply, a close, a ping) writes these first: per client,
        #: messages leave in the order they were sent.
        self.held: list[Broadcast] | None = None
        #: frames written while the replies to one read chunk are gathered (see
        #: :meth:`cork`), sent with one ``send()`` when the chunk is done; None otherwise
        self.corked: list[bytes] | None = None

    @property
    def path(self) -> str:
        return self.info.path

    @property
    def subprotocol(self) -> str | None:
        return self.info.subprotocol

    def send(self, message: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message to this client."""
        if not isinstance(message, (str, bytes, bytearray, memoryview)):
            raise ValueError("a message is str (text) or bytes (binary), "
                             f"got {type(message).__name__}")
        if isinstance(message, (bytearray, memoryview)):
            message = bytes(message)
        if self.closed:
            raise ConnectionClosed(f"client {self.id} is closed; cannot send")
        lab.call_soon(self.send_now, message)

    @property
    def live_protocol(self) -> Any:
        """The handler's protocol object while it has one (None once Tornado dropped it,
        when the connection closed); :attr:`protocol` keeps it after that."""
        return self._handler.ws_connection

    def send_now(self, message: str | bytes, frame: bytes | None = None, *,
                  log: bool = True, shared: SharedDeflate | None = None) -> None:
        """Write one message now (lab loop).  ``frame``: the same message already
        encoded as an unmasked, uncompressed frame (a broadcast encodes it once);
        ``log=False``: the caller records one event for the whole broadcast;
        ``shared``: a broadcast's compressed copies, one per parameter set."""
        if self.held is not None:
            self.release()
        proto = self._handler.ws_connection
        if self.closed or proto is None:
            return
        stream = proto.stream
        if stream is None or stream.closed():
            return  # reset under us; on_close is on its way: dropped like any closed send
        binary = isinstance(message, bytes)
        try:
            deflater = proto.compressor
            if deflater is None:
                if frame is None:  # framed by wslab.protocol, as a broadcast is
                    frame = server_frame(binary, payload_bytes(message))
                fut = self.write_plain(stream, frame)
                if fut is _DROPPED:
                    return
            else:
                self.flush()
                # Tornado's write_message, minus the Task it wraps around every write.
                data = payload_bytes(message)
                if shared is not None:
                    data = shared.compress(getattr(proto, "deflate", None), deflater, data)
                else:
                    data = deflater.compress(data)
                fut = proto.write_frame(True, 0x2 if binary else 0x1, data, proto.RSV1)
        except tornado.iostream.StreamClosedError:
            return
        if fut is not None:  # something waits in the stream's buffer
            lab.fire_and_forget(fut)
            if stream.closed():
                return  # the write met a reset connection and Tornado closed the stream
        self.messages_out += 1
        if log:
            self.server.event_log.record_message(self.id, "out", message)
        if fut is not None:
            self.check_send_buffer(stream)

    def write_plain(self, stream: Any, frame: bytes) -> Any:
        """Write one uncompressed frame (lab loop): gathered while :meth:`cork` is on and
        nothing is queued, else handed to the kernel with one ``send()`` when nothing is
        queued (no Future), else queued behind what waits.  Returns the write's Future when
        something waits in the stream's buffer, None when all left, ``_DROPPED`` when the
        connection was reset under us.  Raises ``StreamClosedError`` like a write."""
        if type(stream) is _IOStream and not write_buffer_size(stream):
            if self.corked is not None:  # the replies of one chunk: one send()
                self.corked.append(frame)
                return None
            try:
                sent = stream.socket.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError:
                return _DROPPED
            return stream.write(frame[sent:]) if sent < len(frame) else None
        self.flush()  # gathered frames go first
        return stream.write(frame)

    def cork(self) -> None:
        """Gather what is sent to this client until :meth:`uncork` (lab loop): the replies
        to one read chunk leave with one ``send()``.  Order is kept (anything that cannot
        join the gathered bytes sends them first) and the ``send_buffer_max`` rule is
        applied when they are sent."""
        if self.corked is None:
            self.corked = []

    def uncork(self) -> None:
        """Send what was gathered since :meth:`cork`, and stop gathering (lab loop)."""
        self.flush()
        self.corked = None

    def flush(self) -> None:
        """Send the gathered frames now with one ``send()``; queue what the kernel did not
        take, then apply ``send_buffer_max`` (lab loop)."""
        frames = self.corked
        if not frames:
            return
        self.corked = []
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        proto = self._handler.ws_connection
        stream = proto.stream if proto is not None else None
        if stream is None or stream.closed():
            return  # reset under us: dropped like any send to a closed connection
        try:
            sent = stream.socket.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return
        if sent < len(data):
            try:
                lab.fire_and_forget(stream.write(data[sent:]))
            except tornado.iostream.StreamClosedError:
                return
            if not stream.closed():
                self.check_send_buffer(stream)

    def release(self) -> None:
        """Write the broadcasts this client still waits for, in order, now (lab loop)."""
        held, self.held = self.held, None
        if held is not None:
            for item in held:
                deliver(self, item)

    def check_send_buffer(self, stream: Any) -> None:
        """Bytes wait in the stream's buffer: a client over ``send_buffer_max`` is failed
        with 1013 (a slow consumer)."""
        limit = self.server.send_buffer_max
        if limit is not None:
            waiting = write_buffer_size(stream)
            if waiting > limit:
                self.fail(1013, "slow consumer", f"slow consumer: {waiting} bytes wait to be "
                                                  f"sent (send_buffer_max={limit})")

    def over_rate(self, per_second: int) -> bool:
        """Count one received message; over ``per_second`` in one second the client is
        failed with 1008 (policy violation) and the answer is True."""
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count > per_second:
            self.fail(1008, "rate limit exceeded",
                       f"rate limit: more than {per_second} messages in one second")
            return True
        return False

    def fail(self, code: int, reason: str, why: str) -> None:
        """Close this client with ``code`` because of a server policy; the event says why
        (lab loop).  The TCP connection is cut a second later if the close cannot drain."""
        if self.closed:
            return
        self.server.event_log.record("error", self.id, code=code, reason=why)
        self._handler.lab_close(code, reason)
        ws = self._handler.ws_connection
        stream = getattr(ws, "stream", None)
        if stream is not None:  # its buffer may never drain: do not wait Tornado's 5 s
            asyncio.get_running_loop().call_later(1.0, stream.close)

    # Names kept for callers written before send_now and fail were public.
    _send_now = send_now
    _fail = fail

    def close_now(self, code: int, reason: str) -> None:
        """Start the closing handshake now (lab loop; arguments already checked)."""
        self._handler.lab_close(code, reason)

    def drop_now(self) -> None:
        """Cut the TCP connection now without a Close frame (lab loop)."""
        self._handler.lab_drop()

    def abort(self) -> None:
        """Close the TCP connection now, whatever the closing handshake's state (lab loop)."""
        stream = getattr(self._handler.ws_connection, "stream", None)
        if stream is not None:
            stream.close()

    def ping(self, payload: bytes = b"") -> None:
        """Send a ping frame; the pong arrives as a ``pong`` event with its round trip."""
        lab.call_soon(self._handler.lab_ping, bytes(payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with this client (RFC 6455 section 7.1.2)."""
        check_close_args(code, reason)
        lab.call_soon(self._handler.lab_close, code, reason)

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.info.remote} {self.path}>"


class SharedDeflate:
    """A broadcast's compressed payloads: compressed once per parameter set where possible.

    With ``server_no_context_takeover`` (RFC 7692 7.1.1.1) the server's compressor
    starts afresh for every message, so every client that agreed to it with the same
    window gets the same bytes: one compression serves them all.  A client with context
    takeover needs its own (its window holds its own history).  ``compressions``
    counts the compress calls of the broadcast.
    """

    __slots__ = ("_by_bits", "compressions")

    def __init__(self) -> None:
        self._by_bits: dict[int, bytes] = {}
        self.compressions = 0

    def compress(self, pmd: PerMessageDeflate | None, own: Any, data: bytes) -> bytes:
        if pmd is None or not pmd.server_no_context_takeover:
            self.compressions += 1
            return own.compress(data)
        bits = pmd.server_max_window_bits
        out = self._by_bits.get(bits)
        if out is None:
            self.compressions += 1
            out = self._by_bits[bits] = PerMessageDeflate(
                is_server=True, server_no_context_takeover=True,
                server_max_window_bits=bits).compress(data)
        return out


_IOStream = tornado.iostream.IOStream
_DROPPED = object()  # Connection.write_plain: the connection was reset under the write
#: server frame headers (FIN, no mask) for TEXT and BINARY payloads under 126 bytes,
#: built once by wslab.protocol
_SMALL_HEADERS = tuple(tuple(encode_header(opcode=op, length=n) for n in range(126))
                       for op in (Opcode.TEXT, Opcode.BINARY))


def payload_bytes(message: str | bytes) -> bytes:
    """The payload of a message: bytes as they are, text as UTF-8 (RFC 6455 5.6)."""
    return message if isinstance(message, bytes) else message.encode("utf-8")


def server_frame(binary: bool, data: bytes) -> bytes:
    """One whole unmasked TEXT (or BINARY) frame carrying ``data`` (RFC 6455 5.2)."""
    n = len(data)
    if n < 126:
        return _SMALL_HEADERS[binary][n] + data
    return encode_header(opcode=Opcode.BINARY if binary else Opcode.TEXT, length=n) + data


#: clients one turn of the lab loop writes a broadcast to; the rest of a larger fan-out
#: goes out in later turns, so the loop reads and answers other clients in between
BROADCAST_SLICE = 128


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One broadcast's message, its pre-encoded frame and its shared compressed copies."""

    message: str | bytes
    frame: bytes
    shared: SharedDeflate
    compression: bool


def broadcast_frame(conns: list[Connection], message: str | bytes, frame: bytes,
                    shared: SharedDeflate, compression: bool, *,
                    slice_size: int | None = None) -> list[int]:
    """Send one broadcast to ``conns`` (lab loop); the ids of the clients it goes to.

    Fairness: the first ``slice_size`` clients (default :data:`BROADCAST_SLICE`) are
    written to now; every later one gets the broadcast in a later turn of the loop, one
    slice per turn, so a fan-out to thousands never holds the loop for all of them at
    once.  Order per client stays exact: a client whose turn has not come holds the
    broadcast in :attr:`Connection.held`, and a later broadcast queues behind it; any
    other send, close or ping to that client writes what it holds first.  Backpressure
    is unchanged (see :func:`deliver`).  The ids include the clients still waiting for
    their turn (one closing meanwhile drops its copy, as any send to a closed client).
    """
    item = Broadcast(message, frame, shared, compression)
    limit = BROADCAST_SLICE if slice_size is None else slice_size
    ids: list[int] = []
    later: list[Connection] = []
    for conn in conns:
        if conn.closed:
            continue
        if conn.held is not None:  # an earlier broadcast waits for this client: queue behind
            conn.held.append(item)
            ids.append(conn.id)
        elif len(ids) < limit:
            if deliver(conn, item):
                ids.append(conn.id)
        else:
            conn.held = [item]
            later.append(conn)
            ids.append(conn.id)
    if later:
        asyncio.get_running_loop().call_soon(_release_slices, later, 0, limit)
    return ids


def _release_slices(conns: list[Connection], start: int, size: int) -> None:
    """One turn of a sliced broadcast: the next ``size`` waiting clients get what they
    hold (a client that was written to meanwhile holds nothing any more)."""
    end = start + size
    for conn in conns[start:end]:
        conn.release()
    if end < len(conns):
        asyncio.get_running_loop().call_soon(_release_slices, conns, end, size)


def deliver(conn: Connection, item: Broadcast) -> bool:
    """Write one broadcast to one client now (lab loop); True when it was sent or queued.

    The checks that do not depend on the client are made once by the caller; here
    only what may differ: closed, its compressor (only when the server negotiates
    compression), something already queued.  A client with nothing queued gets the
    pre-encoded frame with one ``send()``; every other case takes
    :meth:`Connection.send_now`, with all of its rules (``send_buffer_max``: 1013).
    """
    if conn.closed:
        return False
    frame = item.frame
    proto = conn.live_protocol
    stream = proto.stream if proto is not None else None
    if (stream is None or type(stream) is not _IOStream or stream.socket is None
            or (item.compression and proto.compressor is not None) or write_buffer_size(stream)
            or conn.corked is not None):
        before = conn.messages_out
        conn.send_now(item.message, frame, log=False, shared=item.shared)
        return conn.messages_out != before
    try:
        sent = stream.socket.send(frame)
    except BlockingIOError:
        sent = 0
    except OSError:
        return False  # reset under us: on_close is on its way; dropped like a closed send
    if sent < len(frame):
        try:
            lab.fire_and_forget(stream.write(frame[sent:]))
        except tornado.iostream.StreamClosedError:
            return False
        if stream.closed():
            return False
        conn.check_send_buffer(stream)
    conn.messages_out += 1
    return True


def app_pong(message: str) -> str | None:
    """The answer to an application-level ping ``{"type": "ping", "t": ...}``, or None
    (:mod:`wslab.protocol.app_ping`, with this machine's clock as ``server_time``)."""
    ping = parse_app_ping(message)
    if ping is None:
        return None
    return build_app_pong(ping, server_time=time.time())
