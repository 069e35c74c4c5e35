"""The receiving side of one WebSocket endpoint, sans I/O (layer 1 (protocol)).

Bytes go in (:meth:`Receiver.receive_data`, as TCP delivers them, cut anywhere),
events come out (:meth:`Receiver.events_received`): a :class:`Message`, a
:class:`PingReceived`, a :class:`PongReceived`, a :class:`CloseReceived`, or a
:class:`ProtocolViolation` naming the close code the endpoint must answer
with and the RFC section broken.  No socket, no clock: the I/O layer moves
bytes and acts on the events, so every receiving rule of RFC 6455 lives here
once and serves the server and the client alike.

The rules, for a ``role`` of :attr:`Role.SERVER` (reading a client) or
:attr:`Role.CLIENT` (reading a server):

* 5.1: a client masks every frame, a server masks none;
* 5.2: no RSV bit without an extension that defines it (RSV1 with
  permessage-deflate, RFC 7692), no reserved opcode, minimal payload lengths;
* 5.4: CONTINUATION only inside a fragmented message, no new message inside one;
* 5.5: control frames carry at most 125 bytes and are never fragmented;
* 7.4: a Close frame's code must be one allowed on the wire, its reason UTF-8;
* 8.1: text is UTF-8, checked piece by piece as the payload arrives, so invalid
  text fails as soon as it is visible, even in the middle of a frame whose rest
  never comes;
* 7.4.1 (1009): a message over ``max_size`` fails as soon as a header says so;
  every fragment after the first counts ``fragment_cost`` bytes more, so empty
  fragments are not free.

The connection's state is walked through :data:`wslab.protocol.state.TRANSITIONS`
(CONNECTING, OPEN, CLOSING, CLOSED): a Close frame received, a violation
detected, or (told by the I/O layer) the handshake done, a Close frame sent,
TCP closed.  A step the table lacks raises
:class:`~wslab.protocol.errors.IllegalTransition`: that is a bug, never the
peer's fault.  After a Close frame or a violation nothing more is read
(RFC 6455 5.5.1, 7.1.7).

Memory is bounded: at most one frame header (14 bytes) and one control payload
(125 bytes) wait here; data payloads go to the
:class:`~wslab.protocol.assembler.MessageAssembler` as they arrive, bounded by
``max_size``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from . import state as st
from .assembler import Inflater, Message, MessageAssembler
from .errors import NeedMoreData, ProtocolError
from .frames import Opcode, decode_header, mask, parse_close_payload
from .state import ConnectionStateMachine, State

__all__ = ["FRAGMENT_COST", "CloseReceived", "Event", "Message", "PingReceived",
           "PongReceived", "ProtocolViolation", "Receiver", "Role", "close_reason"]

FRAGMENT_COST = 16  # bytes each fragment after the first adds toward max_size
_MAX_HEADER = 14    # 2 + 8 bytes of extended length + 4 of masking key


class Role(enum.Enum):
    """Which end reads: a server reads masked client frames, a client unmasked ones."""

    SERVER = "server"
    CLIENT = "client"


@dataclass(frozen=True, slots=True)
class PingReceived:
    """A Ping frame (RFC 6455 5.5.2): answer it with a Pong carrying ``payload``."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """A Pong frame (RFC 6455 5.5.3)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """A valid Close frame (RFC 6455 5.5.1): ``code`` None for an empty body (1005)."""

    code: int | None
    reason: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer broke a receiving rule: fail the connection (RFC 6455 7.1.7).

    ``close_code`` is the code to send (1002, 1007, 1009), ``reason`` a short
    Close reason naming the rule, ``rule`` and ``rfc`` what was broken,
    ``detail`` the full explanation for a learner.
    """

    close_code: int
    reason: str
    rule: str
    rfc: str
    detail: str


Event = Message | PingReceived | PongReceived | CloseReceived | ProtocolViolation


def close_reason(exc: ProtocolError, first_byte: int = 0) -> str:
    """The short Close reason for a broken rule: the error's stable ``rule``, with the
    value where the rule names one (RFC 6455 7.1.7 lets the reason say which rule broke)."""
    if exc.rule == "reserved opcode":
        return f"reserved opcode {first_byte & 0x0F:#x}"
    return exc.rule


def _check_size(max_size: object) -> int | None:
    if max_size is None:
        return None
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
        raise ValueError(f"max_size must be None or an int >= 0, not {max_size!r}")
    return max_size


class Receiver:
    """Bytes in, events out, for one connection's receiving side (RFC 6455 5, 7, 8).

    ``role`` is :attr:`Role.SERVER` or :attr:`Role.CLIENT`; ``max_size`` the
    largest message in bytes (None: no limit); ``deflate`` the negotiated
    permessage-deflate (RFC 7692), also settable later with
    :meth:`use_deflate`; ``machine`` the state machine to walk (a new one by
    default); ``unmask(key, data)`` the XOR of RFC 6455 5.3 (the I/O layer
    may pass a faster one than :func:`wslab.protocol.frames.mask`).
    """

    __slots__ = ("_asm", "_buf", "_ctrl", "_events", "_got", "_key", "_limit", "_msg_cost",
                 "_msg_wire", "_need", "_op", "_require_mask", "_rsv1_ok", "_unmask",
                 "close_received", "deflate", "fragment_cost", "machine", "max_size", "role",
                 "violation")

    def __init__(self, role: Role, *, max_size: int | None = None,
                 deflate: Inflater | None = None, machine: ConnectionStateMachine | None = None,
                 fragment_cost: int = FRAGMENT_COST,
                 unmask: Callable[[bytes, bytes], bytes] | None = None) -> None:
        if not isinstance(role, Role):
            raise ValueError(f"role must be Role.SERVER or Role.CLIENT, not {role!r}")
        self.role = role
        self.max_size = _check_size(max_size)
        self.fragment_cost = fragment_cost
        self.machine = machine if machine is not None else ConnectionStateMachine()
        self.deflate: Inflater | None = None
        self.close_received: CloseReceived | None = None
        self.violation: ProtocolViolation | None = None
        self._require_mask = role is Role.SERVER
        self._rsv1_ok = False
        self._unmask: Callable[[bytes, bytes], bytes] = unmask or _mask_by_key
        self._asm: MessageAssembler | None = None
        self._events: list[Event] = []
        self._buf = b""        # an incomplete frame header
        self._op = -1          # the opcode of the frame whose payload is arriving (-1: none)
        self._need = 0         # payload bytes of that frame still to come
        self._got = 0          # payload bytes of it so far
        self._key: bytes | None = None
        self._ctrl = b""       # a control frame's payload so far
        self._msg_wire = 0     # wire payload bytes of the current message
        self._msg_cost = 0     # the same plus fragment_cost per fragment after the first
        self._limit: int | None = None
        if deflate is not None:
            self.use_deflate(deflate)

    # --- what the I/O layer tells us --------------------------------------------
    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED (the state machine's)."""
        return self.machine.state

    @property
    def idle(self) -> bool:
        """True between messages: no partial frame or fragmented message is held and the
        connection still reads, so a whole frame may be handled without this object
        (an I/O layer's fast path) without changing what it would decide."""
        return (not self._buf and self._op < 0 and self.violation is None
                and self.close_received is None
                and (self._asm is None or not self._asm.in_progress))

    @property
    def buffered(self) -> int:
        """Bytes held here waiting for the rest of a frame header (at most 13)."""
        return len(self._buf)

    @property
    def frame_remaining(self) -> int:
        """Payload bytes of the frame being received still to come (0 between frames or
        while its header is incomplete): an I/O layer may feed exactly these, then take
        the whole frames after them by itself while :attr:`idle`."""
        return self._need if self._op >= 0 else 0

    def use_deflate(self, deflate: Inflater) -> None:
        """permessage-deflate was negotiated: RSV1 marks a compressed message (RFC 7692)."""
        self.deflate = deflate
        self._rsv1_ok = True
        self._asm = MessageAssembler(max_size=self.max_size, deflate=deflate)

    def handshake_done(self) -> None:
        """The opening handshake succeeded (the 101 was sent or received): OPEN."""
        self.machine.handle(st.HANDSHAKE_SUCCEEDED)

    def handshake_failed(self) -> None:
        """The opening handshake failed: CLOSED."""
        self.machine.handle(st.HANDSHAKE_FAILED)

    def close_sent(self) -> None:
        """This end sent a Close frame (to start the closing handshake or to answer one)."""
        self.machine.handle(st.CLOSE_SENT)

    def close_timeout(self) -> None:
        """Our Close frame was not answered in time; TCP is dropped (RFC 6455 7.1.1)."""
        self.machine.handle(st.CLOSE_TIMEOUT)

    def connection_lost(self) -> None:
        """The TCP connection ended.  After a violation this end closed it (the closing
        handshake, 7.1.7, is over); before any Close frame it was lost (1006)."""
        s = self.machine.state
        if s == State.CLOSED:
            return
        clean = s == State.CLOSING and (self.violation is not None
                                        or self.close_received is not None)
        self.machine.handle(st.TCP_CLOSED if clean else st.TCP_LOST)

    # --- bytes in, events out --------------------------------------------------------------
    def events_received(self) -> list[Event]:
        """The events of the bytes received so far, each once, in order."""
        events, self._events = self._events, []
        return events

    def receive_data(self, data: bytes) -> None:
        """Parse ``data`` (any piece of the stream); events go to :meth:`events_received`.

        Bytes after a Close frame or a violation are ignored (RFC 6455 5.5.1, 7.1.7).
        """
        if self.violation is not None or self.close_received is not None:
            return
        buf = self._buf + data if self._buf else bytes(data)
        self._buf = b""
        pos, end = 0, len(buf)
        while pos < end and self.violation is None and self.close_received is None:
            if self._op >= 0:
                pos = self._payload(buf, pos, end)
                continue
            try:
                head = decode_header(buf[pos:pos + _MAX_HEADER],
                                     require_mask=self._require_mask,
                                     extensions_rsv1=self._rsv1_ok)
            except NeedMoreData:
                self._buf = buf[pos:]
                return
            except ProtocolError as exc:
                self._fail(exc, buf[pos])
                return
            pos += head.header_size
            self._start(head.opcode, head.fin, head.rsv1, head.length, head.mask_key)

    # --- frames ---------------------------------------------------------------------------------
    def _assembler(self) -> MessageAssembler:
        asm = self._asm
        if asm is None:
            asm = self._asm = MessageAssembler(max_size=self.max_size)
        return asm

    def _start(self, op: Opcode, fin: bool, rsv1: bool, n: int, key: bytes | None) -> None:
        if op < 8:
            try:
                self._assembler().start_frame(op, fin=fin, rsv1=rsv1)
            except ProtocolError as exc:
                self._fail(exc)
                return
            if not self._count(op, rsv1, n):
                return
        self._op, self._need, self._got, self._key, self._ctrl = op, n, 0, key, b""
        if n == 0:
            self._end_frame()

    def _count(self, op: Opcode, rsv1: bool, n: int) -> bool:
        """Count a data frame toward the message's size before its payload arrives."""
        if op != Opcode.CONTINUATION:
            self._msg_wire = self._msg_cost = n
            limit = self.max_size
            if limit is not None and rsv1:  # compressed: DEFLATE may grow a little
                limit += (limit >> 10) + 64
            self._limit = limit
        else:
            self._msg_wire += n
            self._msg_cost += n + self.fragment_cost
        limit = self._limit
        if limit is None or (self._msg_wire <= limit
                             and self._msg_cost <= limit + (limit >> 4) + 1024):
            return True
        self._fail(ProtocolError(
            f"the message reached {self._msg_wire} bytes on the wire, counted as "
            f"{self._msg_cost} with {self.fragment_cost} per fragment after the first, over "
            f"max_size={self.max_size} (close code 1009, RFC 6455 7.4.1)",
            rule="message too big", rfc="7.4.1", close_code=1009))
        return False

    def _payload(self, buf: bytes, pos: int, end: int) -> int:
        """Take what has arrived of the current frame's payload; return the new position."""
        take = min(self._need, end - pos)
        piece = buf[pos:pos + take]
        key = self._key
        if key is not None:
            r = self._got & 3  # the key turned to where this piece starts (RFC 6455 5.3)
            piece = self._unmask(key[r:] + key[:r] if r else key, piece)
        self._need -= take
        self._got += take
        if self._op >= 8:
            self._ctrl += piece
        else:
            try:
                self._assembler().add_piece(piece)
            except ProtocolError as exc:
                self._fail(exc)
                return end
        if self._need == 0:
            self._end_frame()
        return pos + take

    def _end_frame(self) -> None:
        op = self._op
        self._op, self._key = -1, None
        if op < 8:
            try:
                message = self._assembler().end_frame()
            except ProtocolError as exc:
                self._fail(exc)
                return
            if message is not None:
                self._events.append(message)
            return
        payload, self._ctrl = self._ctrl, b""
        if op == Opcode.PING:
            self._events.append(PingReceived(payload))
        elif op == Opcode.PONG:
            self._events.append(PongReceived(payload))
        else:
            self._close_frame(payload)

    def _close_frame(self, payload: bytes) -> None:
        try:
            code, reason = parse_close_payload(payload)
        except ProtocolError as exc:
            short = close_reason(exc)
            if exc.rule == "close code not allowed on the wire":
                short = f"close code {int.from_bytes(payload[:2], 'big')} not allowed on the wire"
            self._fail(exc, reason=short)
            return
        event = CloseReceived(None if code is None else int(code), reason, payload)
        self.close_received = event
        if self.machine.state in (State.OPEN, State.CLOSING):
            self.machine.handle(st.CLOSE_RECEIVED)
        self._events.append(event)

    def _fail(self, exc: ProtocolError, first_byte: int = 0, *, reason: str | None = None) -> None:
        event = ProtocolViolation(exc.close_code, reason or close_reason(exc, first_byte),
                                  exc.rule, exc.rfc, str(exc))
        self.violation = event
        self._buf, self._op, self._ctrl = b"", -1, b""
        if self.machine.state == State.OPEN:
            self.machine.handle(st.PROTOCOL_ERROR)
        self._events.append(event)


def _mask_by_key(key: bytes, data: bytes) -> bytes:
    return mask(data, key)
