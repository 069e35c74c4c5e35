"""Explain a frame bit by bit (layer 1 (protocol)): the picture of RFC 6455 section 5.2.

:func:`explain` takes raw bytes (a whole frame, a prefix of one, or a broken
one) and returns an :class:`Explanation`: the list of :class:`Field` s with
their bit ranges, raw bits, values and meanings, a plain-text table
(``str()``) and a colour-coded bit grid for notebooks (``_repr_html_``, 32
bits per row like the RFC's diagram).  The rules are not re-implemented here:
:func:`wslab.protocol.frames.decode_frame` judges the bytes, and the field that
holds the first wrong bit it reports is marked red.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from .errors import NeedMoreData, ProtocolError
from .frames import (
    CloseCode,
    Frame,
    Opcode,
    decode_frame,
    describe_close_code,
    describe_opcode,
    encode_frame,
    header_size,
    mask,
)

__all__ = ["Explanation", "Field", "explain"]

_PAYLOAD_SHOWN = 64  # payload bytes shown under the HTML grid


@dataclass(frozen=True)
class Field:
    """One field of a frame: bits ``bit_start <= bit < bit_end`` (bit 0 = FIN).

    ``raw_bits`` is the field as '0'/'1' characters (long payloads are cut with
    '...'), ``value`` the decoded value, ``meaning`` one line for a learner and
    ``ok`` False on the field holding the first broken rule.  ``complete`` is
    False when only part of the field has arrived.
    """

    name: str
    bit_start: int
    bit_end: int
    raw_bits: str
    value: object
    meaning: str
    ok: bool = True
    complete: bool = True

    @property
    def bits(self) -> str:
        """The bit range as the RFC writes it, e.g. ``'4-7'`` or ``'0'``."""
        last = self.bit_end - 1
        return str(self.bit_start) if last <= self.bit_start else f"{self.bit_start}-{last}"


def _bits_of(data: bytes, start_bit: int, end_bit: int) -> str:
    """The bits ``start_bit .. end_bit-1`` of ``data`` as a '0'/'1' string."""
    out = []
    for bit in range(start_bit, end_bit):
        byte = data[bit // 8]
        out.append("1" if byte & (0x80 >> (bit % 8)) else "0")
    return "".join(out)


def _text_preview(payload: bytes, limit: int = 60) -> str:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A fragment may stop inside a character: show what decodes.
        if exc.reason == "unexpected end of data":
            return repr(payload[:exc.start].decode("utf-8")[:limit]) + " + an incomplete character"
        return f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
    shown = text if len(text) <= limit else text[:limit - 3] + "..."
    return repr(shown)


class Explanation:
    """The fields of one frame, with a verdict: valid, incomplete or invalid.

    Attributes: ``data`` (the bytes explained), ``fields``, ``frame`` (the
    decoded :class:`Frame` when valid), ``used`` (bytes of the frame when
    valid), ``needed`` (at least this many more bytes, when incomplete),
    ``error`` (the :class:`ProtocolError`, when invalid) and ``rest`` (bytes
    after the frame: the next frame).
    """

    def __init__(self, data: bytes, fields: list[Field], *, frame: Frame | None,
                 used: int | None, needed: int | None, error: ProtocolError | None) -> None:
        self.data = data
        self.fields = fields
        self.frame = frame
        self.used = used
        self.needed = needed
        self.error = error

    @property
    def complete(self) -> bool:
        """True if the bytes hold a whole, valid frame."""
        return self.frame is not None

    @property
    def valid(self) -> bool:
        """True unless a rule is broken (an incomplete prefix is still valid)."""
        return self.error is None

    @property
    def rest(self) -> bytes:
        """Bytes after the frame (the start of the next one), when complete."""
        return self.data[self.used:] if self.used is not None else b""

    @property
    def verdict(self) -> str:
        """One line: what the bytes are, or what is missing, or which rule broke."""
        if self.error is not None:
            where = f" at bit {self.error.bit}" if self.error.bit is not None else ""
            return (f"INVALID{where}: {self.error} -> the receiver fails the connection with "
                    f"close code {self.error.close_code}")
        if self.frame is None:
            return (f"INCOMPLETE: {len(self.data)} bytes so far, need at least {self.needed} "
                    "more (a valid prefix)")
        used = self.used or 0  # set whenever frame is
        header = used - len(self.frame.payload)
        line = (f"VALID: {self.frame} = {used} bytes ({header} header + "
                f"{len(self.frame.payload)} payload)")
        if self.rest:
            line += f"; {len(self.rest)} more bytes follow (the next frame)"
        return line

    def __repr__(self) -> str:
        return f"<Explanation {self.verdict}>"

    def __str__(self) -> str:
        rows = [("", "bits", "field", "raw bits", "value", "meaning")]
        for f in self.fields:
            raw = f.raw_bits if len(f.raw_bits) <= 34 else f.raw_bits[:31] + "..."
            value = f.value
            if isinstance(value, bytes):
                value = value[:8].hex(" ") + (" ..." if len(value) > 8 else "")
            rows.append(("X" if not f.ok else "", f.bits, f.name, raw, str(value), f.meaning))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
                 for r in rows]
        lines.append(self.verdict)
        return "\n".join(line.rstrip() for line in lines)

    # -- HTML ------------------------------------------------------------------
    def _repr_html_(self) -> str:
        return _render_html(self)


# ---------------------------------------------------------------------------
# Building the fields


def explain(data: bytes | Frame, *, require_mask: bool | None = None,
            extensions_rsv1: bool = False) -> Explanation:
    """Explain the first frame in ``data`` field by field (RFC 6455 section 5.2).

    ``data`` may be a prefix of a frame (the fields so far, and how many more
    bytes are needed), a frame that breaks a rule (the field holding the first
    wrong bit is marked, with the rule and its RFC section), or a :class:`Frame`
    (encoded first, without refusing invalid ones).  ``require_mask`` has the
    meaning of :func:`decode_frame`: True for bytes a server received, False for
    bytes a client received.  ``extensions_rsv1=True`` says an extension using
    RSV1 was negotiated (permessage-deflate, RFC 7692), so RSV1 is allowed.
    """
    if isinstance(data, Frame):
        data = encode_frame(data, strict=False)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"explain() needs bytes or a Frame, not {type(data).__name__}")
    data = bytes(data)
    frame = used = needed = error = None
    try:
        frame, used = decode_frame(data, require_mask=require_mask,
                                   extensions_rsv1=extensions_rsv1)
    except NeedMoreData as exc:
        needed = exc.needed
    except ProtocolError as exc:
        error = exc
    fields = _fields(data, header_only=error is not None and not _in_payload(data, error))
    if error is not None and error.bit is not None:
        fields = [_mark(f, error) if f.bit_start <= error.bit < f.bit_end else f for f in fields]
    return Explanation(data, fields, frame=frame, used=used, needed=needed, error=error)


def _in_payload(data: bytes, error: ProtocolError) -> bool:
    return error.bit is not None and error.bit >= _header_len(data) * 8


def _header_len(data: bytes) -> int:
    return header_size(data[1]) if len(data) >= 2 else 2


def _mark(f: Field, error: ProtocolError) -> Field:
    return Field(f.name, f.bit_start, f.bit_end, f.raw_bits, f.value,
                 f"WRONG: {error}", ok=False, complete=f.complete)


def _flag(data: bytes, bit: int, name: str, one: str, zero: str) -> Field:
    v = (data[0] >> (7 - bit)) & 1
    return Field(name, bit, bit + 1, str(v), v, one if v else zero)


def _fields(data: bytes, *, header_only: bool) -> list[Field]:
    fields: list[Field] = []
    if not data:
        return fields
    b0 = data[0]
    fields.append(_flag(data, 0, "FIN", "1: the final fragment of its message (RFC 6455 5.2)",
                        "0: more fragments of this message follow (RFC 6455 5.4)"))
    fields.append(_flag(data, 1, "RSV1",
                        "1: set; only an extension may use it (permessage-deflate: "
                        "compressed, RFC 7692 6)",
                        "0: reserved, no extension uses it (RFC 6455 5.2)"))
    for i in (2, 3):
        fields.append(_flag(data, i, f"RSV{i}", "1: set; only a negotiated extension may use it "
                            "(RFC 6455 5.2)", "0: reserved, no extension uses it (RFC 6455 5.2)"))
    op = b0 & 0x0F
    value = f"{Opcode(op).name} ({op:#x})" if op in {int(o) for o in Opcode} else f"{op:#x}"
    fields.append(Field("opcode", 4, 8, _bits_of(data, 4, 8), value, describe_opcode(op)))
    if len(data) < 2:
        return fields
    b1 = data[1]
    masked = bool(b1 & 0x80)
    fields.append(Field("MASK", 8, 9, "1" if masked else "0", int(masked),
                        "1: the payload is masked with the key below (client to server, "
                        "RFC 6455 5.3)" if masked else
                        "0: the payload is not masked (server to client, RFC 6455 5.1)"))
    len7 = b1 & 0x7F
    meaning = {126: "126: the real length is the 16-bit number that follows (RFC 6455 5.2)",
               127: "127: the real length is the 64-bit number that follows (RFC 6455 5.2)"}
    fields.append(Field("Payload len", 9, 16, _bits_of(data, 9, 16), len7,
                        meaning.get(len7, f"{len7}: the payload is {len7} bytes (RFC 6455 5.2)")))
    pos = 2
    length: int | None = len7
    if len7 in (126, 127):
        size = 2 if len7 == 126 else 8
        avail = min(size, len(data) - pos)
        raw = _bits_of(data, pos * 8, (pos + avail) * 8)
        if avail == size:
            length = int.from_bytes(data[pos:pos + size], "big")
            text = f"the payload is {length} bytes ({size * 8}-bit network byte order)"
        else:
            length = None
            text = f"{avail} of {size} bytes so far"
        fields.append(Field("Extended payload length", pos * 8, (pos + size) * 8, raw, length,
                            text, complete=avail == size))
        pos += size
    key = None
    if masked:
        avail = max(0, min(4, len(data) - pos))
        if avail or len(data) >= pos:
            key = data[pos:pos + 4] if avail == 4 else None
            fields.append(Field("Masking-key", pos * 8, (pos + 4) * 8,
                                _bits_of(data, pos * 8, (pos + avail) * 8),
                                data[pos:pos + avail],
                                f"key {key.hex(' ')}: payload[i] ^= key[i % 4] (RFC 6455 5.3)"
                                if key else f"{avail} of 4 bytes so far", complete=avail == 4))
        pos += 4
    if header_only or length is None or len(data) < pos or (masked and key is None):
        return fields
    raw_payload = data[pos:pos + length]
    payload = mask(raw_payload, key) if key else raw_payload
    have = len(raw_payload)
    complete = have == length
    fields.extend(_payload_fields(b0 & 0x0F, pos, payload, raw_payload, length, complete))
    return fields


def _payload_fields(op: int, pos: int, payload: bytes, raw: bytes, length: int,
                    complete: bool) -> list[Field]:
    have = len(payload)
    cut = "" if complete else f" ({have} of {length} bytes so far)"
    start = pos * 8
    if op == Opcode.CLOSE and have >= 2:
        code = int.from_bytes(payload[:2], "big")
        fields = [Field("Close code", start, start + 16, _short_bits(raw[:2]),
                        CloseCode(code) if 1000 <= code <= 1015 else code,
                        describe_close_code(code) + " (RFC 6455 5.5.1, 7.4)")]
        reason = payload[2:]
        if reason or not complete:
            fields.append(Field("Close reason", start + 16, start + 8 * length,
                                _short_bits(raw[2:]), reason,
                                f"UTF-8 reason: {_text_preview(reason)}{cut}", complete=complete))
        return fields
    if op in (Opcode.TEXT, Opcode.CLOSE):
        what = f"text: {_text_preview(payload)}"
    elif op == Opcode.BINARY:
        what = f"binary: {payload[:16].hex(' ')}{' ...' if have > 16 else ''}"
    else:
        what = f"data: {_text_preview(payload)}" if payload else "no data"
    masked = " (shown unmasked)" if raw != payload else ""
    return [Field("Payload data", start, start + 8 * length, _short_bits(raw), payload,
                  f"{length} bytes of {what}{masked}{cut}", complete=complete)]


def _short_bits(data: bytes, limit: int = 8) -> str:
    bits = "".join(format(b, "08b") for b in data[:limit])
    return bits + ("..." if len(data) > limit else "")


# ---------------------------------------------------------------------------
# HTML: a bit grid, 32 bits per row, like the picture of RFC 6455 section 5.2

_COLOURS = {
    "FIN": "#ffd8a8", "RSV1": "#e9ecef", "RSV2": "#e9ecef", "RSV3": "#e9ecef",
    "opcode": "#a5d8ff", "MASK": "#d0bfff", "Payload len": "#b2f2bb",
    "Extended payload length": "#d3f9d8", "Masking-key": "#eebefa",
    "Payload data": "#fff3bf", "Close code": "#ffec99", "Close reason": "#fff3bf",
}
_WRONG = "#ff8787"
_MISSING = "#f8f9fa"


def _cell(colspan: int, colour: str, title: str, body: str, *, dashed: bool = False) -> str:
    # No overflow:hidden: a label that does not fit wraps (bits are space-separated) instead
    # of being cut off, so nothing is clipped on a narrow screen (a projector at 1024 x 768).
    border = "1px dashed #adb5bd" if dashed else "1px solid #495057"
    return (f'<td colspan="{colspan}" title="{html.escape(title)}" style="background:{colour};'
            f'border:{border};padding:2px 1px;text-align:center;vertical-align:top;'
            f'font-family:monospace;font-size:11px;line-height:1.25;overflow-wrap:anywhere;">'
            f"{body}</td>")


def _label(name: str, span: int) -> str:
    """A field's name; in a one-bit cell (FIN, RSV1-3, MASK) written upwards so it fits."""
    if span == 1:
        return ('<b style="writing-mode:vertical-rl;transform:rotate(180deg);'
                f'display:inline-block;white-space:nowrap">{name}</b>')
    return f"<b>{name}</b>"


def _render_html(ex: Explanation) -> str:
    header_fields = [f for f in ex.fields if f.name not in ("Payload data", "Close reason")]
    payload_fields = [f for f in ex.fields if f not in header_fields]
    rows: list[list[str]] = []
    col = 0
    current: list[str] = []

    def emit(colspan: int, colour: str, title: str, body: str, dashed: bool = False) -> None:
        nonlocal col, current
        current.append(_cell(colspan, colour, title, body, dashed=dashed))
        col += colspan
        if col == 32:
            rows.append(current)
            current, col = [], 0

    for f in header_fields:
        colour = _COLOURS.get(f.name, "#ffffff") if f.ok else _WRONG
        title = f"{f.name} (bits {f.bits}): {f.value} - {f.meaning}"
        remaining = f.raw_bits
        start = f.bit_start
        while start < f.bit_end:
            span = min(f.bit_end - start, 32 - col)
            chunk, remaining = remaining[:span], remaining[span:]
            label = html.escape(f.name) if start == f.bit_start else "&hellip;"
            body = f"{_label(label, span)}<br>{' '.join(chunk) or '&nbsp;'}"
            if len(chunk) < span:
                body += " " + " ".join("?" * (span - len(chunk)))
            emit(span, colour if chunk else _MISSING, title, body, dashed=len(chunk) < span)
            start += span
    for f in payload_fields:
        colour = _COLOURS.get(f.name, "#ffffff") if f.ok else _WRONG
        span = 32 - col if col else 32
        emit(span, colour, f"{f.name}: {f.meaning}",
             f"<b>{html.escape(f.name)}</b> ({(f.bit_end - f.bit_start) // 8} bytes, see below)")
        break
    if ex.needed:
        emit(32 - col, _MISSING, "not received yet",
             f"&hellip; {ex.needed} more byte(s) needed", dashed=True)
    if current:
        rows.append(current)

    ruler = "".join(f'<th style="font:11px monospace;color:#6c757d;padding:0;text-align:center">'
                    f'{i % 10}</th>' for i in range(32))
    tens = "".join(f'<th colspan="10" style="font:11px monospace;color:#6c757d;text-align:left">'
                   f"{i}</th>" for i in range(3)) + '<th colspan="2" style="font:11px monospace;' \
        'color:#6c757d;text-align:left">3</th>'
    # 32 equal columns, one per bit, as in the RFC's picture: the ruler lines up with the bits.
    # The grid takes the width it is given (at most 800 px) and never more: on a projector
    # at 1024 x 768 a JupyterLab output is about 590 px (side bar open) to 840 px wide.
    cols = '<colgroup>' + '<col style="width:3.125%">' * 32 + '</colgroup>'
    grid = (f'<table class="wslab-bits" style="border-collapse:collapse;margin:4px 0;'
            f'table-layout:fixed;width:100%;max-width:800px;">{cols}<tr>{tens}</tr><tr>{ruler}'
            "</tr>" + "".join(f"<tr>{''.join(r)}</tr>" for r in rows) + "</table>")
    colour = "#2b8a3e" if ex.complete else ("#c92a2a" if ex.error else "#e67700")
    verdict = (f'<div style="font-family:monospace;font-weight:bold;color:{colour};'
               f'overflow-wrap:anywhere">{html.escape(ex.verdict)}</div>')
    return ('<div class="wslab-explain" style="max-width:100%;overflow-wrap:anywhere">'
            + verdict + grid + _payload_html(ex, payload_fields) + "</div>")


def _payload_html(ex: Explanation, payload_fields: list[Field]) -> str:
    if not any(f.name in ("Payload data", "Close code") for f in ex.fields):
        return ""
    start = _header_len(ex.data)
    raw = ex.data[start:]
    length = next((f.bit_end // 8 - start for f in ex.fields if f.name == "Payload data"), None)
    if length is None:  # a close frame: code and reason
        length = max(f.bit_end for f in ex.fields) // 8 - start
    raw = raw[:length]
    payload = mask(raw, ex.data[start - 4:start]) if _masked(ex) else raw
    more = " ..." if len(raw) > _PAYLOAD_SHOWN else ""
    parts = ['<div style="font-family:monospace;font-size:12px;">']
    for f in payload_fields:
        style = f"color:{'#c92a2a' if not f.ok else 'inherit'}"
        parts.append(f'<div style="{style}"><b>{html.escape(f.name)}</b>: '
                     f"{html.escape(f.meaning)}</div>")
    if _masked(ex):
        parts.append(f"<div>on the wire (masked): "
                     f"{html.escape(raw[:_PAYLOAD_SHOWN].hex(' '))}{more}</div>")
    parts.append(f"<div>payload hex: {html.escape(payload[:_PAYLOAD_SHOWN].hex(' '))}{more}</div>")
    is_close = any(f.name == "Close code" for f in ex.fields)
    if any(f.name == "opcode" and str(f.value).startswith("BINARY") for f in ex.fields):
        return "".join(parts) + "</div>"  # binary data has no text to show
    text = payload[2 if is_close else 0:_PAYLOAD_SHOWN].decode("utf-8", errors="replace")
    label = "reason as text" if is_close else "as text"
    parts.append(f"<div>{label}: {html.escape(repr(text))}{more}</div></div>")
    return "".join(parts)


def _masked(ex: Explanation) -> bool:
    return len(ex.data) >= 2 and bool(ex.data[1] & 0x80)
