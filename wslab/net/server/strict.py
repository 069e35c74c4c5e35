"""RFC-strict frame receiving on Tornado, for the server and the client (layer 2, I/O).

Tornado is lenient where a teaching tool must not be: on a bad frame it drops
TCP without a Close frame, it never checks the masking direction, it accepts
any close code, and it validates UTF-8 only once the last fragment has arrived.
:class:`StrictProtocol` keeps Tornado's *sending* side (``write_message``,
``ping``, ``close``, permessage-deflate compression) and receives through
:class:`wslab.protocol.receiver.Receiver`, the sans-I/O object where every
receiving rule of RFC 6455 lives (masking per role, reserved bits and opcodes,
fragmentation, control frames, close codes, UTF-8 checked per TCP piece, size
limit with ``FRAGMENT_COST`` per fragment, RFC 7692 inflation).  This module
only moves bytes and acts on the receiver's events.  The same class serves the
server (``Role.SERVER``: a client's frames must be masked) and wslab's
:class:`~wslab.net.client.Client` (``Role.CLIENT``).

The connection's state is the receiver's: the handshake (``start_pinging``),
every Close frame sent (``close``) or received, a violation and the end of TCP
walk :data:`wslab.protocol.state.TRANSITIONS`, so the diagram notebook 04 draws
is the one both ends follow.

A broken rule *fails the WebSocket connection* (RFC 6455 section 7.1.7): a
Close frame with the code the RFC names (1002 protocol error, 1007 invalid
payload data, 1009 message too big) and a short reason, then TCP closed.
``protocol.violation`` keeps ``(code, reason)`` and ``protocol.violation_detail``
the full explanation; a handler with an ``on_protocol_violation(code, reason)``
method is told at once.  The bytes a peer makes us inflate are metered: past a
burst, reading from it pauses so that it inflates at most ``INFLATE_RATE``
bytes a second, and after a large inflate the other connections get a turn.

Speed: the stream is read in chunks (every frame already received at once).
Between messages (``receiver.idle``), whole plain frames of one message, pings
and pongs complete in the chunk are handled right here without an event
object; the first frame that is anything else (cut by the chunk's end, a
fragment, compressed, a Close, a 64-bit length, any header that is not plainly
valid, text that does not decode) and the rest of the chunk go to the receiver,
which decides.  ``tests/test_receiver_fast_path.py`` checks that both give the
same messages and close codes.  Tornado's private hooks are reached through
:mod:`wslab.net._tornado` only.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.log import app_log

from ...protocol.assembler import Message
from ...protocol.deflate import PerMessageDeflate
from ...protocol.errors import HandshakeError
from ...protocol.frames import header_is_plain
from ...protocol.receiver import (
    FRAGMENT_COST,
    CloseReceived,
    Event,
    PingReceived,
    PongReceived,
    ProtocolViolation,
    Receiver,
    Role,
)
from ...protocol.state import ConnectionStateMachine, State
from .._tornado import Protocol13, WebSocketParams, websocket_mask

__all__ = ["FAIL_FLUSH_TIMEOUT", "FRAGMENT_COST", "INFLATE_BURST", "INFLATE_RATE",
           "StrictProtocol", "header_is_plain"]

FAIL_FLUSH_TIMEOUT = 1.0  # seconds a failing connection waits for its Close frame to leave
INFLATE_RATE = 64 << 20   # bytes a second one peer may make us inflate ...
INFLATE_BURST = 8 << 20   # ... after a burst of this many (or one maximum-size message)
_CHUNK = 1 << 16          # bytes read from the stream at most at once (every frame in them)
_MAX_HEADER = 14          # bytes of the longest frame header (with a masking key)
_TURN = 256               # messages delivered from one chunk before other tasks get a turn
_CLOSE = struct.Struct("!H")
_INFLATE_TURN = 256 << 10  # after inflating this much, other connections get a turn
_SENDS_CLOSE = (State.OPEN, State.CLOSING)


class StrictProtocol(Protocol13):
    """Tornado's RFC 6455 protocol, receiving like the RFC says (server or client).

    Build it where Tornado would build ``WebSocketProtocol13``: a server's
    ``WebSocketHandler.get_websocket_protocol`` (``StrictProtocol(self, False,
    params)``) or a client connection's (``StrictProtocol(self, True, params,
    role=Role.CLIENT, machine=...)``).  ``role`` defaults to the server's when
    ``mask_outgoing`` is False; ``machine`` is the state machine to walk (a new
    one by default).

    Only the frame receiver (``receive_frame``, called where Tornado calls its
    ``_receive_frame``) and the negotiation of the inflater are replaced;
    Tornado's receive loop, its yielding to other connections, its
    one-outstanding-pong rule, ``run_callback`` (async ``on_message`` and its
    backpressure) and all sending stay Tornado's.

    Attributes: ``receiver`` (the :class:`~wslab.protocol.receiver.Receiver`;
    ``receiver.machine.history`` the transitions walked); ``close_payload``, the
    body of the first Close frame the peer sent (None if none; an empty body
    means code 1005, none at all 1006, RFC 6455 7.1.5); ``violation``,
    ``(close_code, reason)`` of the rule the peer broke (None if none) and
    ``violation_detail`` the long explanation; ``deflate``, the negotiated
    :class:`PerMessageDeflate` (None without compression).
    """

    # The receiver lives in a slot, outside Tornado's attribute dict (one key more there
    # makes the dict of every connection grow by a resize); other defaults live on the
    # class and an instance gets its own value only once it changes.
    __slots__ = ("receiver",)
    close_payload: bytes | None = None
    violation: tuple[int, str] | None = None
    violation_detail: str | None = None
    deflate: PerMessageDeflate | None = None
    # the inflate meter (a token bucket): bytes that may be inflated now without a pause
    _inflate_budget: float | None = None  # None: a full burst
    _inflate_at = 0.0
    inflated_bytes = 0   # bytes inflated for this peer
    inflate_waits = 0    # pauses in reading it because it inflated too much

    def __init__(self, handler: Any, mask_outgoing: bool, params: WebSocketParams, *,
                 role: Role | None = None,
                 machine: ConnectionStateMachine | None = None) -> None:
        super().__init__(handler, mask_outgoing, params)
        if role is None:
            role = Role.CLIENT if mask_outgoing else Role.SERVER
        self.receiver = Receiver(role, max_size=params.max_message_size, machine=machine,
                                 unmask=websocket_mask)

    @property
    def role(self) -> Role:
        """Which end this protocol is: Role.SERVER or Role.CLIENT."""
        return self.receiver.role

    @property
    def state(self) -> State:
        """The connection's state (CONNECTING, OPEN, CLOSING, CLOSED)."""
        return self.receiver.machine.state

    # --- negotiation: wslab inflates, Tornado still deflates -----------------------
    def negotiated(self, side: str, agreed_parameters: dict[str, Any]) -> None:
        try:
            self.deflate = PerMessageDeflate.from_params(dict(agreed_parameters),
                                                         is_server=side == "server")
        except HandshakeError as exc:  # Tornado answers a ValueError as a malformed request
            raise ValueError(str(exc)) from None
        # Received messages are inflated by wslab's PerMessageDeflate (through the
        # receiver); Tornado's own decompressor would only hold a second window.
        self.drop_decompressor()
        self.receiver.use_deflate(self.deflate)

    # --- the state walk: handshake done, Close frames sent -------------------------
    def start_pinging(self) -> None:
        """Tornado calls this once the handshake succeeded (either side): OPEN."""
        self.receiver.handshake_done()
        super().start_pinging()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Send a Close frame (once) and close as Tornado does; the state walks CLOSE_SENT."""
        stream = getattr(self, "stream", None)
        if (not self.server_terminated and stream is not None and not stream.closed()
                and self.receiver.state in _SENDS_CLOSE):
            self.receiver.close_sent()
        super().close(code, reason)

    # --- receiving -----------------------------------------------------------------
    async def receive_frame(self) -> None:
        """Read a chunk.  Between messages, whole plain frames are handled here; the
        receiver takes every other frame and the rest of one cut by a chunk's end."""
        rx = self.receiver
        try:
            buf = await self.stream.read_bytes(_CHUNK, partial=True)
        except StreamClosedError:
            rx.connection_lost()
            raise
        end = len(buf)
        pos = 0
        while pos < end and not self.client_terminated:
            if rx.idle:
                pos = await self._fast(buf, pos, end)
                if pos >= end or self.client_terminated:
                    return
            # The receiver takes the rest of the frame it is inside (then the fast path
            # goes on), a header's worth when it holds part of one, else all that is left.
            n = rx.frame_remaining or (_MAX_HEADER if rx.buffered else end - pos)
            piece = buf[pos:pos + n] if pos or n < end else buf
            pos += len(piece)
            self.count_in(len(piece))
            rx.receive_data(piece)
            await self._dispatch(rx.events_received())

    async def _fast(self, buf: bytes, pos: int, end: int) -> int:
        """Handle the whole plain frames of ``buf`` from ``pos``; return where it stopped.

        A handler with a ``lab_batch(on)`` method (the server's) is told when the frames
        of this chunk begin (``True``) and end, and before anything is awaited
        (``False``): what it sends in between may leave in one ``send()``."""
        batch = getattr(self.handler, "lab_batch", None)
        if batch is None:
            return await self._fast_frames(buf, pos, end, _no_batch)
        batch(True)
        try:
            return await self._fast_frames(buf, pos, end, batch)
        finally:
            batch(False)

    async def _fast_frames(self, buf: bytes, pos: int, end: int,  # kept flat: runs per frame
                           batch: Any) -> int:
        """:meth:`_fast`'s loop; ``batch``: the handler's ``lab_batch`` (or a no-op)."""
        klen = 4 if self.receiver.role is Role.SERVER else 0  # masking key bytes, by role
        masked = 0x80 if klen else 0
        limit = self.receiver.max_size
        run_callback = self.run_callback
        on_message = self.handler.on_message
        wire = turn = 0
        while end - pos >= 2 + klen and not self.client_terminated:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            # FIN, no RSV bit, MASK as the role wants: else the receiver checks the rules
            if b0 & 0xF0 != 0x80 or b1 & 0x80 != masked:
                break
            op = b0 & 0x0F
            n = b1 & 0x7F
            head = 2 + klen
            if n == 126 and end - pos >= 4 + klen:
                n = buf[pos + 2] << 8 | buf[pos + 3]
                head += 2
                if n < 126:  # not minimal: the receiver names the rule
                    break
            elif n >= 126:
                break  # a 64-bit length, or a 16-bit one cut by the chunk's end
            start = pos + head
            if start + n > end:
                break  # cut by the chunk's end
            if op == 1 or op == 2:
                if limit is not None and n > limit:
                    break  # too big: the receiver says so
            elif not 9 <= op <= 10 or head != 2 + klen:
                break  # Close, continuation, reserved opcode, control frame over 125 bytes
            if klen:
                payload = websocket_mask(buf[start - 4:start], buf[start:start + n])
            else:
                payload = buf[start:start + n]
            if op == 1:
                try:
                    message: str | bytes = payload.decode("utf-8")
                except UnicodeDecodeError:
                    break  # the receiver fails it with 1007, naming where
            elif op == 2:
                message = payload
            else:
                pos = start + n
                self.count_in(wire + head + n)
                wire = 0
                batch(False)
                await self._control(op, payload)
                batch(True)
                continue
            pos = start + n
            wire += head + n
            turn += 1
            self.count_in(0, n)
            done = run_callback(on_message, message)
            if done is not None or turn >= _TURN:
                # a handler's future is awaited (backpressure); else the other tasks
                # (a consumer of these messages, other connections) get a turn
                self.count_in(wire)
                wire = turn = 0
                batch(False)
                await (done or asyncio.sleep(0))
                batch(True)
        self.count_in(wire)
        return pos

    async def _control(self, op: int, payload: bytes) -> None:
        """A Ping or Pong frame whose header and length were checked."""
        if op == 0x9:
            self.send_pong(payload)  # Tornado's: at most one pong outstanding (RFC 6455 5.5.3)
            self.run_callback(self.handler.on_ping, payload)
        else:
            self.pong_received()
            done = self.run_callback(self.handler.on_pong, payload)
            if done is not None:
                await done

    async def _dispatch(self, events: list[Event]) -> None:
        """Act on the receiver's events, in order (a callback's future is awaited:
        backpressure)."""
        for i, event in enumerate(events, 1):
            if isinstance(event, Message):
                self.count_in(0, len(event.data))
                if event.compressed:
                    await self._meter_inflate(len(event.data))
                done = self.run_callback(self.handler.on_message, event.data)
                if done is not None or i % _TURN == 0:
                    await (done or asyncio.sleep(0))
            elif isinstance(event, (PingReceived, PongReceived)):
                await self._control(0x9 if isinstance(event, PingReceived) else 0xA,
                                    event.payload)
            elif isinstance(event, CloseReceived):
                self._on_close_frame(event)
            else:
                await self._fail(event)

    async def _meter_inflate(self, size: int) -> None:
        """Charge ``size`` inflated bytes to this peer; pause reading it while its budget
        is spent, so that one peer cannot keep the loop inflating."""
        self.inflated_bytes += size
        now = time.monotonic()
        burst = max(INFLATE_BURST, self.receiver.max_size or 0)
        was = self._inflate_budget
        budget = (burst if was is None else
                  min(burst, was + (now - self._inflate_at) * INFLATE_RATE)) - size
        self._inflate_at = now
        self._inflate_budget = budget
        if budget < 0:
            self.inflate_waits += 1
            await asyncio.sleep(-budget / INFLATE_RATE)
        elif size >= _INFLATE_TURN:
            await asyncio.sleep(0)  # a big inflate: let the other connections have a turn

    def _on_close_frame(self, event: CloseReceived) -> None:
        """A valid Close frame: echo its code (an empty body with an empty body), then
        close TCP, as Tornado does (RFC 6455 5.5.1, 7.1.2)."""
        if self.close_payload is None:
            self.close_payload = event.payload
        if event.code is not None:  # the connection close code is the one received (7.1.5)
            self.close_code = event.code
            self.close_reason = event.reason if len(event.payload) > 2 else None
        self.client_terminated = True
        self.close(event.code)

    # --- failing the connection (RFC 6455 7.1.7) ----------------------------------------
    async def _fail(self, event: ProtocolViolation) -> None:
        """Send Close(code, reason), tell the handler, then close TCP without waiting."""
        if self.violation is not None:
            return
        code, reason = event.close_code, event.reason
        self.violation = (code, reason)
        self.violation_detail = event.detail
        self.client_terminated = True  # read nothing more (RFC 6455 7.1.7)
        hook = getattr(self.handler, "on_protocol_violation", None)
        if hook is not None:  # told before the Close frame leaves
            try:
                hook(code, reason)
            except Exception:  # noqa: BLE001 - a logging hook must not stop the close
                app_log.exception("on_protocol_violation(%s, %r) failed", code, reason)
        sent = None
        if not self.server_terminated and not self.stream.closed():
            try:
                sent = self.write_frame(True, 0x8, _CLOSE.pack(code) + reason.encode("utf-8"))
            except StreamClosedError:
                sent = None
        self.server_terminated = True
        if sent is not None and not sent.done():
            # a peer that reads nothing must not keep the socket open
            await asyncio.wait([sent], timeout=FAIL_FLUSH_TIMEOUT)
        self.abort()
        self.receiver.connection_lost()


def _no_batch(on: bool) -> None:
    """The ``lab_batch`` of a handler that has none (wslab's client)."""
