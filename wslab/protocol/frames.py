"""WebSocket frames, byte by byte (layer 1 (protocol)): RFC 6455 section 5.

The base framing of RFC 6455 section 5.2::

      0                   1                   2                   3
      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
     +-+-+-+-+-------+-+-------------+-------------------------------+
     |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
     |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
     |N|V|V|V|       |S|             |   (if payload len==126/127)   |
     | |1|2|3|       |K|             |                               |
     +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
     |     Extended payload length continued, if payload len == 127  |
     + - - - - - - - - - - - - - - - +-------------------------------+
     |                               |Masking-key, if MASK set to 1  |
     +-------------------------------+-------------------------------+
     | Masking-key (continued)       |          Payload Data         |
     +-------------------------------- - - - - - - - - - - - - - - - +

:func:`encode_frame` builds these bytes, :func:`decode_frame` reads one frame
and :class:`FrameParser` reads a stream split at any byte.  Nothing here does
I/O.  Bits are numbered like the picture: bit 0 is FIN, bit 8 is MASK.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from .closecodes import (
    CloseCode,
    check_close_args,
    describe_close_code,
    is_valid_close_code_on_wire,
)
from .errors import NeedMoreData, ProtocolError

__all__ = [
    "CloseCode",
    "Frame",
    "FrameHeader",
    "FrameParser",
    "NeedMoreData",
    "Opcode",
    "ProtocolError",
    "decode_frame",
    "decode_header",
    "describe_close_code",
    "encode_frame",
    "encode_header",
    "extended_length_ok",
    "frame_header",
    "header_is_plain",
    "header_size",
    "is_valid_close_code_on_wire",
    "mask",
    "parse_close_payload",
    "split_frames",
]

MAX_CONTROL_PAYLOAD = 125  # RFC 6455 section 5.5


class Opcode(enum.IntEnum):
    """The frame opcodes of RFC 6455 section 5.2 (3-7 and 11-15 are reserved)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Control frames (opcode 0x8 and up) manage the connection (RFC 6455 section 5.5)."""
        return self >= 0x8

    @property
    def is_data(self) -> bool:
        """Data frames carry a message (RFC 6455 section 5.6)."""
        return self < 0x8

    @property
    def meaning(self) -> str:
        """One line saying what the opcode is for."""
        return _OPCODE_MEANINGS[self]


_OPCODE_MEANINGS = {
    Opcode.CONTINUATION: "continuation frame: the next fragment of a message (RFC 6455 5.4)",
    Opcode.TEXT: "text frame: a message of UTF-8 text (RFC 6455 5.6)",
    Opcode.BINARY: "binary frame: a message of arbitrary bytes (RFC 6455 5.6)",
    Opcode.CLOSE: "close frame: starts or answers the closing handshake (RFC 6455 5.5.1)",
    Opcode.PING: "ping frame: the peer must answer with a pong (RFC 6455 5.5.2)",
    Opcode.PONG: "pong frame: answers a ping, or a unidirectional heartbeat (RFC 6455 5.5.3)",
}


_VALID_OPCODES = frozenset(int(op) for op in Opcode)
_OPCODE_OF = {int(op): op for op in Opcode}  # faster than Opcode(n) on the decoding path


def describe_opcode(opcode: int) -> str:
    """One line for any 4-bit opcode, reserved ones included (RFC 6455 section 5.2)."""
    if isinstance(opcode, bool) or not isinstance(opcode, int):
        raise ValueError(f"an opcode is an int in 0..15, not {opcode!r}")
    if opcode in _VALID_OPCODES:
        return _OPCODE_MEANINGS[Opcode(opcode)]
    if 0x3 <= opcode <= 0x7:
        return f"opcode {opcode:#x} is reserved for further non-control frames (RFC 6455 5.2)"
    if 0xB <= opcode <= 0xF:
        return f"opcode {opcode:#x} is reserved for further control frames (RFC 6455 5.2)"
    raise ValueError(f"an opcode is 4 bits: 0..15, not {opcode!r}")


# ---------------------------------------------------------------------------
# Masking (RFC 6455 section 5.3)

_XOR_TABLES: dict[int, bytes] = {}
_IDENTITY = bytes(range(256))
_SMALL = 4096  # below this, the big-int XOR is faster than four strided translates


def _xor_table(k: int) -> bytes:
    table = _XOR_TABLES.get(k)
    if table is None:
        table = _XOR_TABLES[k] = bytes(b ^ k for b in _IDENTITY)
    return table


def mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking key repeated (RFC 6455 section 5.3).

    ``transformed[i] = original[i] ^ key[i % 4]``; applying it twice gives the
    data back, so the same function masks and unmasks.  Pure Python, but every
    loop runs in C.  Up to 4 KiB the payload and the repeated key become two big
    ints XORed at once (``int.from_bytes`` ... ``to_bytes``); beyond that, byte
    ``i`` of each group of four goes through a 256-entry ``bytes.translate``
    table for ``key[i]`` on the strided slice ``data[i::4]``, which is faster
    for large payloads.
    """
    if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) != 4:
        raise ValueError(f"the masking key must be exactly 4 bytes, not {key!r}")
    key = bytes(key)
    if not isinstance(data, (bytes, bytearray)):
        if not isinstance(data, memoryview):
            raise ValueError("data must be bytes, bytearray or memoryview, "
                             f"not {type(data).__name__}")
        data = bytes(data)
    n = len(data)
    if n <= _SMALL:
        q, r = divmod(n, 4)
        repeated = int.from_bytes(key * q + key[:r], "little")
        return (int.from_bytes(data, "little") ^ repeated).to_bytes(n, "little")
    out = bytearray(n)
    k0, k1, k2, k3 = key
    out[0::4] = data[0::4].translate(_xor_table(k0))
    out[1::4] = data[1::4].translate(_xor_table(k1))
    out[2::4] = data[2::4].translate(_xor_table(k2))
    out[3::4] = data[3::4].translate(_xor_table(k3))
    return bytes(out)


# ---------------------------------------------------------------------------
# The Frame


def _to_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    hint = " (encode text with .encode('utf-8'))" if isinstance(value, str) else ""
    raise ValueError(f"{what} must be bytes, bytearray or memoryview, not "
                     f"{type(value).__name__}{hint}")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hex(data: bytes, limit: int = 24) -> str:
    shown = data[:limit].hex(" ")
    return shown + (" ..." if len(data) > limit else "")


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame (RFC 6455 section 5.2), payload always *unmasked*.

    ``mask_key`` is the 4-byte masking key, or None for an unmasked frame: a
    client sets it on every frame it sends, a server never does (RFC 6455
    section 5.1).  ``opcode`` may be a reserved int (3-7, 11-15) so that a
    learner can build a wrong frame on purpose.
    """

    opcode: Opcode
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    mask_key: bytes | None = None

    def __post_init__(self) -> None:
        op = self.opcode
        if isinstance(op, bool) or not isinstance(op, int) or not 0 <= op <= 0xF:
            raise ValueError(f"opcode must be an Opcode or an int in 0..15, not {op!r}")
        if op in _VALID_OPCODES:
            object.__setattr__(self, "opcode", Opcode(op))
        object.__setattr__(self, "payload", _to_bytes(self.payload, "payload"))
        for flag in ("fin", "rsv1", "rsv2", "rsv3"):
            object.__setattr__(self, flag, bool(getattr(self, flag)))
        if self.mask_key is not None:
            key = _to_bytes(self.mask_key, "mask_key")
            if len(key) != 4:
                raise ValueError(f"mask_key must be exactly 4 bytes or None, not {len(key)} bytes")
            object.__setattr__(self, "mask_key", key)

    # -- convenience constructors -------------------------------------------------
    @classmethod
    def text(cls, text: str, *, fin: bool = True, mask_key: bytes | None = None) -> Frame:
        """A TEXT frame carrying ``text`` encoded as UTF-8 (RFC 6455 section 5.6)."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, not {type(text).__name__}")
        return cls(Opcode.TEXT, text.encode("utf-8"), fin=fin, mask_key=mask_key)

    @classmethod
    def binary(cls, data: bytes, *, fin: bool = True, mask_key: bytes | None = None) -> Frame:
        """A BINARY frame (RFC 6455 section 5.6)."""
        return cls(Opcode.BINARY, data, fin=fin, mask_key=mask_key)

    @classmethod
    def ping(cls, data: bytes = b"", *, mask_key: bytes | None = None) -> Frame:
        """A PING frame, at most 125 bytes of application data (RFC 6455 section 5.5.2)."""
        return cls(Opcode.PING, data, mask_key=mask_key)

    @classmethod
    def pong(cls, data: bytes = b"", *, mask_key: bytes | None = None) -> Frame:
        """A PONG frame echoing a ping's data (RFC 6455 section 5.5.3)."""
        return cls(Opcode.PONG, data, mask_key=mask_key)

    @classmethod
    def close(cls, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "", *,
              mask_key: bytes | None = None) -> Frame:
        """A CLOSE frame: 2-byte big-endian code + UTF-8 reason (RFC 6455 section 5.5.1).

        ``code=None`` builds an empty close body (then ``reason`` must be empty).
        The code must be valid on the wire (section 7.4) and the whole body at most
        125 bytes, so the reason at most 123 bytes of UTF-8.
        """
        if not isinstance(reason, str):
            raise ValueError(f"reason must be a str, not {type(reason).__name__}")
        if code is None:
            if reason:
                raise ValueError("a close reason needs a close code (RFC 6455 5.5.1); "
                                 "pass code=1000 or reason=''")
            return cls(Opcode.CLOSE, b"", mask_key=mask_key)
        check_close_args(code, reason)
        return cls(Opcode.CLOSE, struct.pack("!H", code) + reason.encode("utf-8"),
                   mask_key=mask_key)

    # -- reading -------------------------------------------------------------------
    @property
    def masked(self) -> bool:
        """True if the frame travels masked (MASK bit 1, RFC 6455 section 5.3)."""
        return self.mask_key is not None

    @property
    def is_control(self) -> bool:
        """True for CLOSE, PING, PONG and reserved control opcodes (RFC 6455 section 5.5)."""
        return self.opcode >= 0x8

    def close_info(self) -> tuple[int | None, str]:
        """``(code, reason)`` of a CLOSE frame, see :func:`parse_close_payload`."""
        if self.opcode != Opcode.CLOSE:
            raise ValueError(f"close_info() needs a CLOSE frame, not {self._name()}")
        return parse_close_payload(self.payload)

    def _name(self) -> str:
        if isinstance(self.opcode, Opcode):
            return self.opcode.name
        return f"RESERVED({self.opcode:#x})"

    def _body(self) -> str:
        data = self.payload
        if self.opcode == Opcode.CLOSE:
            try:
                code, reason = parse_close_payload(data)
            except ProtocolError:
                return _hex(data)
            if code is None:
                return "(no status code)"
            name = f" ({CloseCode(code).name})" if 1000 <= code <= 1015 else ""
            return f"{code}{name} {_short(reason)!r}" if reason else f"{code}{name}"
        if self.opcode == Opcode.BINARY:
            return _hex(data) if data else "''"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return _hex(data)
        if self.opcode != Opcode.TEXT and not text.isprintable():
            return _hex(data)
        return repr(_short(text))

    def __str__(self) -> str:
        n = len(self.payload)
        extras = [f"{n} byte{'' if n == 1 else 's'}"]
        if not self.fin:
            extras.append("continued")
        for flag in ("rsv1", "rsv2", "rsv3"):
            if getattr(self, flag):
                extras.append(flag.upper())
        if self.mask_key is not None:
            extras.append(f"masked {self.mask_key.hex()}")
        return f"{self._name()} {self._body()} [{', '.join(extras)}]"


def _parse_close(payload: bytes, base: int) -> tuple[int | None, str]:
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise ProtocolError(
            "a close body of 1 byte is invalid: it is empty or starts with a 2-byte code "
            "(RFC 6455 5.5.1)", rule="1-byte close payload", rfc="5.5.1", close_code=1002,
            offset=base, bit=base * 8)
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code_on_wire(code):
        raise ProtocolError(
            f"close code {code} is not allowed on the wire: {describe_close_code(code)} "
            "(RFC 6455 7.4)", rule="close code not allowed on the wire", rfc="7.4",
            close_code=1002, offset=base, bit=base * 8)
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"the close reason is not valid UTF-8 ({exc.reason} at reason byte {exc.start}; "
            "RFC 6455 5.5.1, 8.1)", rule="invalid UTF-8 in close reason", rfc="5.5.1, 8.1",
            close_code=1007, offset=base + 2 + exc.start, bit=(base + 2 + exc.start) * 8) from None
    return (CloseCode(code) if code <= 1015 else code), reason


def parse_close_payload(payload: bytes) -> tuple[int | None, str]:
    """Split a Close frame body into ``(code, reason)`` (RFC 6455 sections 5.5.1, 7.4).

    An empty body gives ``(None, "")`` (the connection close code is then 1005).
    Raises :class:`ProtocolError` 1002 for a 1-byte body or a code not valid on
    the wire, 1007 for a reason that is not UTF-8.  Registered codes come back as
    :class:`CloseCode` members.
    """
    return _parse_close(_to_bytes(payload, "payload"), 0)


# ---------------------------------------------------------------------------
# The header alone (RFC 6455 section 5.2): what a streaming reader needs first


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """The fields before the payload: flags, opcode, MASK, length and masking key.

    ``header_size`` counts the header bytes on the wire (2, 4 or 10, plus 4 for
    the masking key); ``length`` is the payload length; ``frame_size`` the two
    together.  ``opcode`` is an :class:`Opcode` (reserved opcodes are refused by
    :func:`decode_header`).
    """

    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: Opcode
    masked: bool
    length: int
    header_size: int
    mask_key: bytes | None = None

    @property
    def frame_size(self) -> int:
        """Bytes of the whole frame on the wire: header and payload."""
        return self.header_size + self.length


def header_size(second_byte: int) -> int:
    """Header bytes implied by a frame's second byte: 2, 4 or 10, plus 4 when MASK is set.

    Reads the layout only, checks no rule (RFC 6455 section 5.2).
    """
    n = 2 + {126: 2, 127: 8}.get(second_byte & 0x7F, 0)
    return n + 4 if second_byte & 0x80 else n


def header_is_plain(b0: int, b1: int, rsv1_ok: bool) -> bool:
    """True if the first two bytes of a *client* frame break none of the header rules.

    A fast pre-check for a server's hot path: the rules are those
    :func:`decode_header` checks in the first two bytes with
    ``require_mask=True`` (RFC 6455 5.1, 5.2, 5.5; RFC 7692 6): MASK set, RSV
    bits clear (RSV1 allowed on a TEXT/BINARY frame when ``rsv1_ok``, i.e.
    permessage-deflate was negotiated), a defined opcode, and control frames
    final with at most 125 bytes.  False means "ask :func:`decode_header` which
    rule broke"; the two agree on all 65536 headers (tested exhaustively).
    """
    if b1 < 0x80:  # MASK = 0
        return False
    op = b0 & 0x0F
    rsv = b0 & 0x70
    if rsv and (rsv != 0x40 or not rsv1_ok or not 1 <= op <= 2):
        return False
    if op < 3:
        return True
    return 8 <= op <= 10 and b0 >= 0x80 and (b1 & 0x7F) <= 125


def extended_length_ok(ext: bytes) -> bool:
    """True if a 2- or 8-byte extended payload length is minimal (and < 2**63, RFC 6455 5.2)."""
    n = int.from_bytes(ext, "big")
    if len(ext) == 2:
        return n > 125
    return n > 0xFFFF and not n >> 63


def encode_header(*, opcode: int, length: int, fin: bool = True, rsv1: bool = False,
                  rsv2: bool = False, rsv3: bool = False, mask_key: bytes | None = None) -> bytes:
    """The header bytes of a frame with a ``length``-byte payload (RFC 6455 section 5.2).

    The shortest length form (7-bit up to 125, 16-bit up to 65535, 64-bit
    beyond), then the 4-byte ``mask_key`` when given.  Checks the field sizes
    only, not the rules of a valid frame (a learner may build a wrong one).
    """
    if isinstance(opcode, bool) or not isinstance(opcode, int) or not 0 <= opcode <= 0xF:
        raise ValueError(f"opcode must be an Opcode or an int in 0..15, not {opcode!r}")
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length < 1 << 63:
        raise ValueError(f"length must be an int in 0..2**63-1, not {length!r}")
    first = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | int(opcode)
    mask_bit = 0x80 if mask_key is not None else 0
    if length <= 125:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask_key is None:
        return header
    if not isinstance(mask_key, (bytes, bytearray, memoryview)) or len(mask_key) != 4:
        raise ValueError(f"mask_key must be exactly 4 bytes or None, not {mask_key!r}")
    return header + bytes(mask_key)


# ---------------------------------------------------------------------------
# Encoding


def encode_frame(frame: Frame, *, strict: bool = True) -> bytes:
    """Serialise ``frame`` to wire bytes (RFC 6455 section 5.2).

    Chooses the shortest length form (7-bit up to 125, 16-bit up to 65535,
    64-bit beyond) and masks the payload when ``frame.mask_key`` is set.  With
    ``strict=True`` (the default) a frame the receiver would have to reject
    raises ValueError: reserved opcode, control frame over 125 bytes or not
    final, invalid close body.  ``strict=False`` writes such frames anyway, for
    experiments.
    """
    if not isinstance(frame, Frame):
        raise ValueError(f"encode_frame() needs a Frame, not {type(frame).__name__}")
    payload = frame.payload
    n = len(payload)
    if strict:
        if not isinstance(frame.opcode, Opcode):
            raise ValueError(f"{describe_opcode(frame.opcode)}; use strict=False to send it anyway")
        if frame.opcode.is_control:
            if n > MAX_CONTROL_PAYLOAD:
                raise ValueError(f"a {frame.opcode.name} frame carries at most 125 bytes, not {n} "
                                 "(RFC 6455 5.5); use strict=False to send it anyway")
            if not frame.fin:
                raise ValueError("control frames must not be fragmented: fin must be True "
                                 "(RFC 6455 5.5); use strict=False to send it anyway")
        if frame.opcode == Opcode.CLOSE:
            try:
                parse_close_payload(payload)
            except ProtocolError as exc:
                raise ValueError(f"invalid close body: {exc}; use strict=False to send it "
                                 "anyway") from None
    header = encode_header(opcode=frame.opcode, length=n, fin=frame.fin, rsv1=frame.rsv1,
                           rsv2=frame.rsv2, rsv3=frame.rsv3, mask_key=frame.mask_key)
    if frame.mask_key is not None:
        return header + mask(payload, frame.mask_key)
    return header + payload


def frame_header(frame: Frame) -> bytes:
    """The exact header bytes :func:`encode_frame` writes for ``frame`` (masking key included)."""
    return encode_header(opcode=frame.opcode, length=len(frame.payload), fin=frame.fin,
                         rsv1=frame.rsv1, rsv2=frame.rsv2, rsv3=frame.rsv3,
                         mask_key=frame.mask_key)


# ---------------------------------------------------------------------------
# Decoding


def _check_options(require_mask: object, max_size: object) -> None:
    if require_mask not in (None, True, False):
        raise ValueError("require_mask must be None (accept both), True (a server reading a "
                         f"client) or False (a client reading a server), not {require_mask!r}")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                 or max_size < 0):
        raise ValueError(f"max_size must be None or an int >= 0, not {max_size!r}")


_new_frame = object.__new__


def _bad(message: str, rule: str, rfc: str, offset: int, bit: int,
         close_code: int = 1002) -> ProtocolError:
    return ProtocolError(message, rule=rule, rfc=rfc, close_code=close_code, offset=offset,
                         bit=bit)


#: what the frame readers accept as a buffer
_Buffer = bytes | bytearray | memoryview


def _header(buf: _Buffer, pos: int, require_mask: bool | None, max_size: int | None,
            extensions_rsv1: bool) -> tuple[int, Opcode, int, int, bytes | None]:
    """Check and read the header at ``buf[pos]``: ``(byte 0, opcode, length, header size,
    mask key)``.  The one place the header rules live; offsets count from ``pos``."""
    have = len(buf) - pos
    if have < 2:
        raise NeedMoreData(f"a frame header is at least 2 bytes; have {have}", needed=2 - have)
    b0 = buf[pos]
    b1 = buf[pos + 1]
    opcode = _first_byte(b0, extensions_rsv1)
    masked = b1 & 0x80
    if require_mask is True and not masked:
        raise _bad("a client must mask every frame it sends; this frame from the client has "
                   "MASK=0 (RFC 6455 5.1, 5.3)", "unmasked client frame", "5.1, 5.3", 1, 8)
    if require_mask is False and masked:
        raise _bad("a server must not mask the frames it sends; this frame from the server has "
                   "MASK=1 (RFC 6455 5.1)", "masked server frame", "5.1", 1, 8)
    length = b1 & 0x7F
    if opcode >= 0x8 and length > MAX_CONTROL_PAYLOAD:
        raise _bad(f"control frames carry at most 125 bytes of payload; this {opcode.name} "
                   f"frame's length field is {length} (RFC 6455 5.5)",
                   "control frame over 125 bytes", "5.5", 1, 9)
    header_len = 2
    length_bit = 9
    if length >= 126:
        length, header_len = _extended_length(buf, pos, have, length)
        length_bit = 16
    if max_size is not None and length > max_size:
        raise _bad(f"the payload is {length} bytes, over max_size={max_size} (close code 1009 "
                   "message too big, RFC 6455 7.4.1)", "message too big", "7.4.1",
                   1 if length_bit == 9 else 2, length_bit, close_code=1009)
    mask_key = None
    if masked:
        if have < header_len + 4:
            raise NeedMoreData(f"the 4-byte masking key ends at byte {header_len + 3}; have "
                               f"{have} bytes", needed=header_len + 4 - have,
                               frame_size=header_len + 4 + length)
        mask_key = bytes(buf[pos + header_len:pos + header_len + 4])
        header_len += 4
    return b0, opcode, length, header_len, mask_key


def _first_byte(b0: int, extensions_rsv1: bool) -> Opcode:
    """Check FIN, RSV1-3 and the opcode of a header's first byte; return the opcode."""
    op = b0 & 0x0F
    if b0 & 0x70:
        if b0 & 0x40:
            if not extensions_rsv1:
                raise _bad("RSV1 is set but no extension defining it was negotiated "
                           "(RFC 6455 5.2)", "RSV1 set without a negotiated extension", "5.2",
                           0, 1)
            if op not in (Opcode.TEXT, Opcode.BINARY):
                raise _bad("RSV1 (per-message compressed) may only be set on the first frame of "
                           "a data message, never on continuation or control frames (RFC 7692 6)",
                           "RSV1 on a continuation or control frame", "RFC 7692 6", 0, 1)
        if b0 & 0x20:
            raise _bad("RSV2 is set but no extension defining it was negotiated (RFC 6455 5.2)",
                       "RSV2 set without a negotiated extension", "5.2", 0, 2)
        if b0 & 0x10:
            raise _bad("RSV3 is set but no extension defining it was negotiated (RFC 6455 5.2)",
                       "RSV3 set without a negotiated extension", "5.2", 0, 3)
    opcode = _OPCODE_OF.get(op)
    if opcode is None:
        raise _bad(describe_opcode(op), "reserved opcode", "5.2", 0, 4)
    if op >= 0x8 and not b0 & 0x80:
        raise _bad(f"control frames must not be fragmented: this {opcode.name} frame has FIN=0 "
                   "(RFC 6455 5.5)", "fragmented control frame", "5.5", 0, 0)
    return opcode


def _extended_length(buf: _Buffer, pos: int, have: int, field: int) -> tuple[int, int]:
    """The 16-bit (``field`` 126) or 64-bit (127) payload length after the first two bytes,
    in its minimal form (RFC 6455 5.2), and the header size so far."""
    if field == 126:
        if have < 4:
            raise NeedMoreData(f"the 16-bit extended payload length needs bytes 2-3; have {have} "
                               "bytes", needed=4 - have)
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        if length <= 125:
            raise _bad(f"non-minimal length: a 16-bit extended length holding {length} (<= 125 "
                       "fits the 7-bit field); the minimal number of bytes MUST be used "
                       "(RFC 6455 5.2)", "non-minimal payload length", "5.2", 2, 16)
        return length, 4
    if have < 10:
        raise NeedMoreData(f"the 64-bit extended payload length needs bytes 2-9; have {have} "
                           "bytes", needed=10 - have)
    length = int.from_bytes(bytes(buf[pos + 2:pos + 10]), "big")
    if length >> 63:
        raise _bad("the most significant bit of a 64-bit payload length must be 0 "
                   "(RFC 6455 5.2)", "64-bit length with its top bit set", "5.2", 2, 16)
    if length <= 0xFFFF:
        raise _bad(f"non-minimal length: a 64-bit extended length holding {length} (<= 65535 "
                   "fits the 16-bit form); the minimal number of bytes MUST be used "
                   "(RFC 6455 5.2)", "non-minimal payload length", "5.2", 2, 16)
    return length, 10


def decode_header(data: bytes, *, require_mask: bool | None = None, max_size: int | None = None,
                  extensions_rsv1: bool = False) -> FrameHeader:
    """Decode and check the header at the start of ``data`` (RFC 6455 section 5.2).

    The payload need not have arrived.  Raises :class:`NeedMoreData` (with
    ``needed``) while the header is incomplete and :class:`ProtocolError` (with
    ``rule``) for every header rule :func:`decode_frame` checks; the options
    mean the same.
    """
    _check_options(require_mask, max_size)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data must be bytes, bytearray or memoryview, not {type(data).__name__}")
    b0, opcode, length, size, key = _header(bytes(data[:14]), 0, require_mask, max_size,
                                            extensions_rsv1)
    return FrameHeader(bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10),
                       opcode, key is not None, length, size, key)


def split_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Whole *server* frames at the start of ``data`` as ``(opcode, payload)``, and the rest.

    A lean reader for clients that count messages (the benchmark's wire
    clients): no :class:`Frame` objects, no payload copies beyond one slice.
    The header rules are those of ``decode_frame(require_mask=False)`` (RFC
    6455 5.1, 5.2, 5.5; no extension negotiated), checked inline and, when one
    is broken, named by the same code as :func:`decode_header` (a
    :class:`ProtocolError` with its ``rule``).  Close bodies are not checked
    here: :func:`parse_close_payload` does that.
    """
    out: list[tuple[int, bytes]] = []
    n, i = len(data), 0
    while n - i >= 2:
        b0 = data[i]
        b1 = data[i + 1]
        op = b0 & 0x0F
        ln = b1
        if b1 >= 0x80 or b0 & 0x70 or (op > 2 and not (8 <= op <= 10 and b0 >= 0x80
                                                        and ln <= 125)):
            _header(data, i, False, None, False)  # raises, naming the rule
            raise ProtocolError(f"frame header {bytes(data[i:i + 2]).hex(' ')} was refused")
        h = 2
        if ln == 126:
            if n - i < 4:
                break
            ln, h = (data[i + 2] << 8) | data[i + 3], 4
            if ln <= 125:
                _header(data, i, False, None, False)
        elif ln == 127:
            if n - i < 10:
                break
            ln, h = int.from_bytes(data[i + 2:i + 10], "big"), 10
            if ln <= 0xFFFF or ln >> 63:
                _header(data, i, False, None, False)
        end = i + h + ln
        if end > n:
            break
        out.append((op, data[i + h:end]))
        i = end
    return out, data[i:]


def _decode(buf: _Buffer, pos: int, require_mask: bool | None, max_size: int | None,
            extensions_rsv1: bool) -> tuple[Frame, int]:
    """Decode the frame starting at ``buf[pos]``; offsets in errors count from ``pos``."""
    b0, opcode, length, header_len, mask_key = _header(buf, pos, require_mask, max_size,
                                                       extensions_rsv1)
    have = len(buf) - pos
    total = header_len + length
    if have < total:
        raise NeedMoreData(f"the frame is {total} bytes ({header_len} header + {length} "
                           f"payload); have {have}, need {total - have} more",
                           needed=total - have, frame_size=total)
    start = pos + header_len
    if isinstance(buf, bytes):
        payload = buf[start:start + length]
    else:
        with memoryview(buf) as view:
            payload = bytes(view[start:start + length])
    if mask_key is not None:
        payload = mask(payload, mask_key)
    if opcode == Opcode.CLOSE:
        _parse_close(payload, header_len)
    # The fields are checked above: fill the frozen Frame without re-validating them.
    frame = _new_frame(Frame)
    frame.__dict__.update(opcode=opcode, payload=payload, fin=b0 >= 0x80, rsv1=bool(b0 & 0x40),
                          rsv2=bool(b0 & 0x20), rsv3=bool(b0 & 0x10), mask_key=mask_key)
    return frame, total


def decode_frame(data: bytes, *, require_mask: bool | None = None, max_size: int | None = None,
                 extensions_rsv1: bool = False) -> tuple[Frame, int]:
    """Decode the first frame in ``data``; return ``(frame, bytes used)`` (RFC 6455 5.2).

    The frame's payload comes back unmasked, with its ``mask_key`` kept.  Any
    valid prefix of a frame raises :class:`NeedMoreData` (its ``needed``
    attribute says how many more bytes at least).  A broken rule raises
    :class:`ProtocolError` with the close code to answer, the byte ``offset`` and
    the ``bit`` where the frame went wrong:

    * 1002: RSV bits without an extension (RSV1 is allowed on the first frame of
      a data message when ``extensions_rsv1=True``, RFC 7692), reserved opcodes,
      control frames over 125 bytes or fragmented (5.5), a non-minimal length or
      a 64-bit length with its top bit set (5.2), an unmasked frame when
      ``require_mask=True`` or a masked one when ``require_mask=False`` (5.1), a
      1-byte close body or a close code not allowed on the wire (5.5.1, 7.4);
    * 1007: a close reason that is not UTF-8;
    * 1009: a payload longer than ``max_size``.
    """
    _check_options(require_mask, max_size)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data must be bytes, bytearray or memoryview, not {type(data).__name__}")
    if isinstance(data, memoryview):
        data = bytes(data)
    return _decode(data, 0, require_mask, max_size, extensions_rsv1)


class FrameParser:
    """Decode a byte stream split at any byte into frames (RFC 6455 section 5.2).

    ``feed(chunk)`` returns the frames completed so far.  Bytes are buffered
    once; a large payload is not re-parsed until enough bytes have arrived.
    After a :class:`ProtocolError` (whose ``frames`` attribute holds the frames
    completed before the bad one in that chunk) the parser refuses more data:
    the connection must be failed (RFC 6455 7.1.7).
    """

    def __init__(self, *, require_mask: bool | None = None, max_size: int | None = None,
                 extensions_rsv1: bool = False) -> None:
        _check_options(require_mask, max_size)
        self.require_mask = require_mask
        self.max_size = max_size
        self.extensions_rsv1 = bool(extensions_rsv1)
        self._buf = bytearray()
        self._wanted = 0  # bytes the current frame needs before parsing again
        self.error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[Frame]:
        """Add ``chunk`` and return every frame it completes, in order."""
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise ValueError(f"chunk must be bytes, bytearray or memoryview, not "
                             f"{type(chunk).__name__}")
        if self.error is not None:
            raise ProtocolError(f"the stream already broke a rule ({self.error}); "
                                "no more frames can be read", rule=self.error.rule,
                                rfc=self.error.rfc, close_code=self.error.close_code)
        buf = self._buf
        buf += chunk
        frames: list[Frame] = []
        pos = 0
        while len(buf) - pos >= max(self._wanted, 1):
            try:
                frame, used = _decode(buf, pos, self.require_mask, self.max_size,
                                      self.extensions_rsv1)
            except NeedMoreData as exc:
                have = len(buf) - pos
                self._wanted = exc.frame_size or have + (exc.needed or 1)
                break
            except ProtocolError as exc:
                del buf[:pos]
                exc.frames = frames  # the declared field: frames completed before the bad one
                self.error = exc
                raise
            frames.append(frame)
            pos += used
            self._wanted = 0
        if pos:
            del buf[:pos]
        return frames
