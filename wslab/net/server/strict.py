"""RFC-strict frame receiving for the in-kernel Tornado server (layer 2, I/O).

Tornado is lenient where a teaching server must not be (issue 7): on a bad
frame it drops TCP without a Close frame, it never checks that client frames
are masked, it accepts any close code, and it validates UTF-8 only once the
last fragment has arrived.  :class:`StrictProtocol` keeps Tornado's *sending*
side (``write_message``, ``ping``, ``close``, permessage-deflate compression)
and replaces its *receiving* side with one whose rules are wslab's own:

* the frame rules of :mod:`wslab.protocol.frames` (``decode_header``, the
  header rules of ``decode_frame``, with ``require_mask=True``: we read a client);
* message assembly by :class:`~wslab.protocol.assembler.MessageAssembler`
  (fragments, UTF-8 checked fragment by fragment, size limit, RFC 7692
  decompression with :class:`~wslab.protocol.deflate.PerMessageDeflate`);
* Close frame bodies by :func:`~wslab.protocol.frames.parse_close_payload`.

Bounds against hostile clients (issue 11): the UTF-8 of a text frame is
checked as its payload arrives, TCP piece by TCP piece, so invalid text fails
at once rather than when the (maybe never completed) frame is in (RFC 6455
8.1, Autobahn 6.4.3/6.4.4); every fragment after the first costs
``FRAGMENT_COST`` bytes toward ``max_message_size`` (empty fragments are not
free); and the bytes a client makes the server inflate are metered: past a
burst, reading from that client pauses so that it inflates at most
``INFLATE_RATE`` bytes a second, and after a large inflate the other
connections get a turn before it is read again.

A broken rule *fails the WebSocket connection* (RFC 6455 section 7.1.7): the
server sends a Close frame with the code the RFC names (1002 protocol error,
1007 invalid payload data, 1009 message too big) and a short reason, then
closes TCP.  ``protocol.violation`` keeps ``(code, reason)`` and
``protocol.violation_detail`` the full explanation; a handler with an
``on_protocol_violation(code, reason)`` method is told at once.

Speed: the stream is read in chunks (one read for every frame already
received, not one per header and one per payload), and the common case, a
whole masked TEXT/BINARY frame of one message or a control frame, complete in
the chunk, is handled right there without a Future or a
:class:`~wslab.protocol.frames.Frame` (issue 15).  Anything else, a frame cut
by the chunk's end, a fragment, a compressed frame, a 64-bit length or any
header that is not plainly valid, goes to the frame-by-frame path below,
which reads what is left of the chunk first.  On that path the common case
never builds a :class:`~wslab.protocol.frames.Frame` either.  Two small inline checks
(:func:`~wslab.protocol.frames.header_is_plain` and
:func:`~wslab.protocol.frames.extended_length_ok`) decide whether the header is
clean; only when they say no does ``decode_header`` run, and then it alone
decides which rule was broken, with which code; the Close reason is the error's
``rule``, never words picked out of its message.  Fragmented and compressed
messages go through the assembler.  The payload is unmasked by Tornado's C
XOR (``websocket_mask``).  Tornado's private hooks are reached through
:mod:`wslab.net._tornado` only.
"""

from __future__ import annotations

import asyncio
import codecs
import struct
import sys
import time
from typing import Any

from tornado.iostream import StreamClosedError

from ...protocol.assembler import MessageAssembler
from ...protocol.deflate import PerMessageDeflate
from ...protocol.errors import HandshakeError, NeedMoreData, ProtocolError
from ...protocol.frames import (
    Frame,
    Opcode,
    decode_header,
    extended_length_ok,
    header_is_plain,
    parse_close_payload,
)
from .._tornado import Protocol13, WebSocketParams, websocket_mask

__all__ = ["FAIL_FLUSH_TIMEOUT", "FRAGMENT_COST", "INFLATE_BURST", "INFLATE_RATE",
           "StrictProtocol", "header_is_plain"]

FAIL_FLUSH_TIMEOUT = 1.0  # seconds a failing connection waits for its Close frame to leave
FRAGMENT_COST = 16        # bytes each fragment after the first adds toward max_message_size
INFLATE_RATE = 64 << 20   # bytes a second one client may make the server inflate ...
INFLATE_BURST = 8 << 20   # ... after a burst of this many (or one maximum-size message)
_JOINED_READ = 1 << 16    # payloads up to this size are read in one go with their masking key
_CHUNK = 1 << 16          # bytes read from the stream at most at once (every frame in them)
_CLOSE = struct.Struct("!H")
_UTF8 = codecs.getincrementaldecoder("utf-8")
_INFLATE_TURN = 256 << 10  # after inflating this much, other connections get a turn


def _reason(exc: ProtocolError, b0: int = 0) -> str:
    """The short Close reason for a broken rule: the error's stable ``rule``, with the value
    where the rule names one (RFC 6455 7.1.7 lets the reason say which rule broke)."""
    if exc.rule == "reserved opcode":
        return f"reserved opcode {b0 & 0x0F:#x}"
    return exc.rule


class StrictProtocol(Protocol13):
    """Tornado's RFC 6455 protocol, receiving like the RFC says a server must.

    Build it where Tornado would build ``WebSocketProtocol13``, i.e. in
    ``WebSocketHandler.get_websocket_protocol``::

        return StrictProtocol(self, False, wslab.net._tornado.WebSocketParams(...))

    Only the frame receiver (``receive_frame``, called where Tornado calls its
    ``_receive_frame``) and the negotiation of the inflater are replaced;
    Tornado's receive loop, its yielding to other connections, its
    one-outstanding-pong rule, ``run_callback`` (async ``on_message`` and its
    backpressure) and all sending stay Tornado's.

    Attributes: ``close_payload`` is the body of the first Close frame the
    client sent (None if none; an empty body means code 1005, none at all
    1006, RFC 6455 7.1.5); ``violation`` is ``(close_code, reason)`` of the
    rule the client broke (None if none) and ``violation_detail`` the long
    explanation from :mod:`wslab.protocol`; ``deflate`` is the negotiated
    :class:`PerMessageDeflate` (None without compression).
    """

    # Defaults live on the class and an instance gets its own value only once it
    # changes: an idle connection's attribute dict stays small (issue 15, memory).
    close_payload: bytes | None = None
    violation: tuple[int, str] | None = None
    violation_detail: str | None = None
    deflate: PerMessageDeflate | None = None
    _asm: MessageAssembler | None = None  # made when a message needs it
    _rx = b""      # the last chunk read from the stream ...
    _rx_pos = 0    # ... and how much of it has been handled
    _msg_wire = 0        # wire payload bytes of the fragmented message so far
    _msg_cost = 0        # the same plus FRAGMENT_COST per fragment after the first
    _msg_compressed = 0  # RSV1 of its first frame
    _msg_limit: int | None = None  # its limit (slack for fragments and compression)
    # the inflate meter (a token bucket): bytes that may be inflated now without a pause
    _inflate_budget: float | None = None  # None: a full burst
    _inflate_at = 0.0
    inflated_bytes = 0   # bytes inflated for this client
    inflate_waits = 0    # pauses in reading it because it inflated too much

    def __init__(self, handler: Any, mask_outgoing: bool,
                 params: WebSocketParams) -> None:
        super().__init__(handler, mask_outgoing, params)

    @property
    def _max_size(self) -> int | None:
        return self.params.max_message_size  # (not copied: one attribute less per connection)

    # --- negotiation: wslab inflates, Tornado still deflates -----------------------
    def negotiated(self, side: str, agreed_parameters: dict[str, Any]) -> None:
        try:
            self.deflate = PerMessageDeflate.from_params(dict(agreed_parameters),
                                                         is_server=side == "server")
        except HandshakeError as exc:  # Tornado answers a ValueError as a malformed request
            raise ValueError(str(exc)) from None
        # Received messages are inflated by wslab's PerMessageDeflate (through the
        # assembler); Tornado's own decompressor would only hold a second window.
        self.drop_decompressor()
        self._asm = MessageAssembler(max_size=self._max_size, deflate=self.deflate)

    @property
    def _assembler(self) -> MessageAssembler:
        """The message assembler, made on first use (most connections never fragment)."""
        asm = self._asm
        if asm is None:
            asm = self._asm = MessageAssembler(max_size=self._max_size)
        return asm

    # --- receiving -----------------------------------------------------------------
    async def _take(self, n: int) -> bytes:
        """Exactly ``n`` bytes: what is left of the chunk first, then from the stream."""
        buf, pos = self._rx, self._rx_pos
        have = len(buf) - pos
        if have <= 0:
            return await self.stream.read_bytes(n)
        if have >= n:
            self._rx_pos = pos + n
            return buf[pos:pos + n]
        self._rx, self._rx_pos = b"", 0
        return buf[pos:] + await self.stream.read_bytes(n - have)

    async def _take_some(self, n: int) -> bytes:
        """At most ``n`` bytes, at least one: what is left of the chunk, else the stream's."""
        buf, pos = self._rx, self._rx_pos
        if pos < len(buf):
            self._rx_pos = pos + n
            return buf[pos:pos + n]
        return await self.stream.read_bytes(n, partial=True)

    async def receive_frame(self) -> None:
        """Read a chunk; handle every whole plain frame in it here, then at most one frame
        (the first that is not whole and plain) by :meth:`_receive_one`."""
        buf, pos = self._rx, self._rx_pos
        if pos >= len(buf):
            buf, pos = await self.stream.read_bytes(_CHUNK, partial=True), 0
            self._rx = buf
        end = len(buf)
        limit = self._max_size
        run_callback = self.run_callback
        on_message = self.handler.on_message
        asm = self._asm
        wire = 0
        while end - pos >= 6 and not self.client_terminated:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            # FIN, no RSV bit, MASK set: else the rules are checked frame by frame below
            if b0 & 0xF0 != 0x80 or b1 < 0x80:
                break
            op = b0 & 0x0F
            n = b1 & 0x7F
            head = 6
            if n == 126:
                if end - pos < 8:
                    break
                n = buf[pos + 2] << 8 | buf[pos + 3]
                head = 8
                if n < 126:  # not minimal: the frame-by-frame path names the rule
                    break
            elif n == 127:
                break
            start = pos + head
            if start + n > end:
                break  # cut by the chunk's end
            if op == 1 or op == 2:
                if (asm is not None and asm.in_progress) or (limit is not None and n > limit):
                    break  # a new message inside a fragmented one, or too big: named below
            elif not 8 <= op <= 10 or head != 6:
                break  # continuation, reserved opcode, control frame over 125 bytes
            payload = websocket_mask(buf[start - 4:start], buf[start:start + n])
            pos = start + n
            wire += head + n
            self._rx_pos = pos
            if op == 1:
                try:
                    message: str | bytes = payload.decode("utf-8")
                except UnicodeDecodeError:
                    self.count_in(wire)
                    await self._fail_on_frame(Frame(Opcode.TEXT, payload))
                    return
            elif op == 2:
                message = payload
            else:
                self.count_in(wire)
                wire = 0
                await self._control(op, payload)
                continue
            self.count_in(0, n)
            done = run_callback(on_message, message)
            if done is not None:
                self.count_in(wire)
                wire = 0
                await done
        if wire:
            self.count_in(wire)
        if pos >= end:
            self._rx, self._rx_pos = b"", 0  # an idle connection keeps no chunk
        elif not self.client_terminated:
            self._rx_pos = pos
            await self._receive_one()

    async def _control(self, op: int, payload: bytes) -> None:
        """A Close, Ping or Pong frame whose header and length were checked."""
        if op == 0x8:
            await self._on_close_frame(payload)
        elif op == 0x9:
            self.send_pong(payload)  # Tornado's: at most one pong outstanding (RFC 6455 5.5.3)
            self.run_callback(self.handler.on_ping, payload)
        else:
            self.pong_received()
            done = self.run_callback(self.handler.on_pong, payload)
            if done is not None:
                await done

    async def _receive_one(self) -> None:  # one frame, by every rule; kept flat
        # The byte count is added once per frame: Tornado's loop uses it to yield.
        read = self._take
        header = await read(2)
        b0, b1 = header
        deflate = self.deflate
        wire = 6  # 2 header bytes + 4 masking-key bytes
        if not header_is_plain(b0, b1, deflate is not None):
            self.count_in(2)
            await self._fail_on_header(header)
            return
        op = b0 & 0x0F
        n = b1 & 0x7F
        if n >= 126:
            ext = await read(2 if n == 126 else 8)
            wire += len(ext)
            n = int.from_bytes(ext, "big")
            if not extended_length_ok(ext):
                self.count_in(wire - 4)
                await self._fail_on_header(header + ext)
                return
        fin = b0 & 0x80
        if op < 3:
            asm = self._assembler
            if (op == 0) != asm.in_progress:
                # a CONTINUATION with no message open, or a new message inside one:
                # the assembler names the rule (RFC 6455 5.4)
                self.count_in(wire - 4)
                await self._fail_on_frame(Frame(op, b"", bool(fin), bool(b0 & 0x40)))
                return
            if op:
                self._msg_wire = self._msg_cost = n
                self._msg_compressed = b0 & 0x40
                limit = self._max_size
                if limit is not None and b0 & 0x40:  # compressed: DEFLATE may grow a little
                    limit += (limit >> 10) + 64
                self._msg_limit = limit
            else:
                self._msg_wire += n
                # each fragment costs FRAGMENT_COST more: room for one per 256 payload bytes
                self._msg_cost += n + FRAGMENT_COST
            limit = self._msg_limit
            if limit is not None and (self._msg_wire > limit
                                      or self._msg_cost > limit + (limit >> 4) + 1024):
                self.count_in(wire - 4)
                await self._fail(1009, "message too big", (
                    f"the message reached {self._msg_wire} bytes on the wire, counted as "
                    f"{self._msg_cost} with {FRAGMENT_COST} per fragment after the first, over "
                    f"max_message_size={self._max_size} (close code 1009, RFC 6455 7.4.1)"))
                return
        if op == 1 and fin and n and not b0 & 0x40:
            # a whole uncompressed TEXT frame: all of it if it is in, else what there is,
            # and its UTF-8 is checked piece by piece as the rest arrives
            data = await self._take_some(4 + n)
            if len(data) < 4 + n:
                await self._receive_text(data, n, wire)
                return
            payload = websocket_mask(data[:4], data[4:])
        elif n <= _JOINED_READ:
            data = await read(4 + n)
            payload = websocket_mask(data[:4], data[4:])
        else:
            key = await read(4)
            payload = websocket_mask(key, await read(n))
        self.count_in(wire + n)

        if op < 3:
            if op and fin and not b0 & 0x40:  # a whole uncompressed message in one frame
                if op == 1:
                    try:
                        message: str | bytes = payload.decode("utf-8")
                    except UnicodeDecodeError:
                        await self._fail_on_frame(Frame(Opcode.TEXT, payload))
                        return
                else:
                    message = payload
                self.count_in(0, n)
                done = self.run_callback(self.handler.on_message, message)
                if done is not None:
                    await done
                return
            try:
                result = self._assembler.add(Frame(op, payload, bool(fin), bool(b0 & 0x40)))
            except ProtocolError as exc:
                await self._fail(exc.close_code, _reason(exc), str(exc))
                return
            if result is None:
                return
            self.count_in(0, self._msg_wire)
            if self._msg_compressed:
                await self._meter_inflate(len(result.data))
            done = self.run_callback(self.handler.on_message, result.data)
            if done is not None:
                await done
        else:
            await self._control(op, payload)

    async def _receive_text(self, data: bytes, n: int, wire: int) -> None:
        """The rest of a whole uncompressed TEXT frame of ``n`` payload bytes, of which
        ``data`` (masking key first) has arrived: deliver the text, or fail with 1007 at
        the first piece that makes it invalid UTF-8 (RFC 6455 8.1: fail fast), whether or
        not the rest of the frame ever comes (Autobahn 6.4.3, 6.4.4)."""
        if len(data) < 4:
            data += await self._take(4 - len(data))
        key, piece = data[:4], data[4:]
        decoder = _UTF8()
        parts: list[str] = []
        got = 0
        try:
            while True:
                if piece:
                    r = got & 3  # the key, turned to where this piece starts (RFC 6455 5.3)
                    parts.append(decoder.decode(websocket_mask(key[r:] + key[:r], piece)))
                    got += len(piece)
                if got >= n:
                    break
                piece = await self._take_some(n - got)
            decoder.decode(b"", True)
        except UnicodeDecodeError as exc:
            self.count_in(wire + got + len(piece))
            await self._fail(1007, "invalid UTF-8 in text", (
                f"text frame is not valid UTF-8 ({exc.reason} in payload bytes {got}-"
                f"{got + len(piece)} of {n}, before the rest of the frame arrived; "
                "RFC 6455 5.6, 8.1)"))
            return
        self.count_in(wire + n, n)
        message = "".join(parts)
        done = self.run_callback(self.handler.on_message, message)
        if done is not None:
            await done

    async def _meter_inflate(self, size: int) -> None:
        """Charge ``size`` inflated bytes to this client; pause reading it while its budget
        is spent, so that one client cannot keep the loop inflating."""
        self.inflated_bytes += size
        now = time.monotonic()
        burst = max(INFLATE_BURST, self._max_size or 0)
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

    async def _on_close_frame(self, payload: bytes) -> None:
        if self.close_payload is None:
            self.close_payload = payload
        if len(payload) >= 2:  # the connection close code is the one received (RFC 6455 7.1.5)
            self.close_code = _CLOSE.unpack_from(payload)[0]
            self.close_reason = payload[2:].decode("utf-8", "replace") if len(payload) > 2 \
                else None
        try:
            code, _ = parse_close_payload(payload)
        except ProtocolError as exc:
            reason = exc.rule
            if reason == "close code not allowed on the wire":
                reason = f"close code {self.close_code} not allowed on the wire"
            self.client_terminated = True
            await self._fail(exc.close_code, reason, str(exc))
            return
        # Valid: echo the code (an empty body with an empty body), then close TCP,
        # as Tornado does (RFC 6455 5.5.1, 7.1.2).
        self.client_terminated = True
        self.close(None if code is None else int(code))

    # --- failing the connection (RFC 6455 7.1.7) ----------------------------------------
    async def _fail_on_header(self, raw: bytes) -> None:
        try:
            decode_header(raw, require_mask=True, max_size=self._max_size,
                          extensions_rsv1=self.deflate is not None)
        except ProtocolError as exc:
            await self._fail(exc.close_code, _reason(exc, raw[0]), str(exc))
            return
        except NeedMoreData:
            pass
        # Unreachable while header_is_plain agrees with decode_header (tested): a header
        # already consumed cannot be read again, so fail rather than guess.
        await self._fail(1002, "protocol error", f"frame header {raw.hex(' ')} was refused")

    async def _fail_on_frame(self, frame: Frame) -> None:
        # The assembler refuses the frame before it changes any state, naming the rule.
        try:
            self._assembler.add(frame)
        except ProtocolError as exc:
            await self._fail(exc.close_code, _reason(exc), str(exc))
            return
        await self._fail(1002, "protocol error", f"{frame} was refused")

    async def _fail(self, code: int, reason: str, detail: str) -> None:
        """Send Close(code, reason), tell the handler, then close TCP without waiting."""
        if self.violation is not None:
            return
        self.violation = (code, reason)
        self.violation_detail = detail
        self.client_terminated = True  # read nothing more (RFC 6455 7.1.7)
        sent = None
        if not self.server_terminated and not self.stream.closed():
            try:
                sent = self.write_frame(True, 0x8, _CLOSE.pack(code) + reason.encode("utf-8"))
            except StreamClosedError:
                sent = None
        self.server_terminated = True
        hook = getattr(self.handler, "on_protocol_violation", None)
        if hook is not None:
            try:
                hook(code, reason)
            except Exception:  # noqa: BLE001 - a logging hook must not stop the close
                self.handler.log_exception(*sys.exc_info())
        if sent is not None and not sent.done():
            # a peer that reads nothing must not keep the socket open
            await asyncio.wait([sent], timeout=FAIL_FLUSH_TIMEOUT)
        self.abort()
