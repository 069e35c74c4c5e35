"""Checks for 02_frames.ipynb (layer 4, exercises)."""

from __future__ import annotations

import os
import random

from ..i18n import N_, _, translate
from ..protocol import frames as fr
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, first_difference, takes

solution = solution_function("ex02")

#: RFC 6455 section 5.7's examples: (what, frame bytes).
RFC_FRAMES = (
    (N_("5.7: unmasked text 'Hello'"), bytes.fromhex("810548656c6c6f")),
    (N_("5.7: masked text 'Hello'"), bytes.fromhex("818537fa213d7f9f4d5158")),
    (N_("5.7: first fragment 'Hel'"), bytes.fromhex("010348656c")),
    (N_("5.7: last fragment 'lo'"), bytes.fromhex("80026c6f")),
    (N_("5.7: unmasked ping 'Hello'"), bytes.fromhex("890548656c6c6f")),
    (N_("5.7: masked pong 'Hello'"), bytes.fromhex("8a8537fa213d7f9f4d5158")),
    (N_("5.7: 256 bytes binary, 16-bit length"), bytes.fromhex("827e0100") + bytes(256)),
    (N_("5.7: 64 KiB binary, 64-bit length"), bytes.fromhex("827f0000000000010000") + bytes(65536)),
)

FIELDS = ("fin", "rsv1", "rsv2", "rsv3", "opcode", "masked", "length", "mask_key",
          "header_size")


def header_fields(frame: fr.Frame) -> dict:
    """The header fields of ``frame`` as the exercise asks for them (from the Frame itself,
    so frames with RSV2 or RSV3 set, which a receiver must refuse, can be checked too)."""
    return {"fin": frame.fin, "rsv1": frame.rsv1, "rsv2": frame.rsv2, "rsv3": frame.rsv3,
            "opcode": int(frame.opcode), "masked": frame.mask_key is not None,
            "length": len(frame.payload), "mask_key": frame.mask_key,
            "header_size": len(fr.frame_header(frame))}


def expected_header(data: bytes) -> dict:
    """The header fields of ``data``'s first frame, as wslab.protocol.frames decodes them."""
    frame, used = fr.decode_frame(data, extensions_rsv1=True)
    return header_fields(frame)


Case = tuple[str, bytes, dict]


def _case(what: str, frame: fr.Frame) -> Case:
    return what, fr.encode_frame(frame, strict=False), header_fields(frame)


def flag_frames(rng: random.Random) -> list[Case]:
    """Each reserved bit alone, then FIN/RSV patterns a swapped or skipped bit cannot pass."""
    key = rng.randbytes(4)
    cases = [
        _case(_("RSV2 alone set, masked text"), fr.Frame(fr.Opcode.TEXT, b"rsv2", rsv2=True,
                                                         mask_key=key)),
        _case(_("RSV3 alone set, binary"), fr.Frame(fr.Opcode.BINARY, b"rsv3", rsv3=True)),
        _case(_("RSV1 alone set, text"), fr.Frame(fr.Opcode.TEXT, b"rsv1", rsv1=True)),
        _case(_("FIN clear, RSV2 and RSV3 set, continuation"),
              fr.Frame(fr.Opcode.CONTINUATION, b"...", fin=False, rsv2=True, rsv3=True)),
    ]
    for i in range(16):  # every combination of FIN, RSV1, RSV2, RSV3
        bits = [bool(i & m) for m in (8, 4, 2, 1)]
        frame = fr.Frame(fr.Opcode.BINARY, rng.randbytes(rng.randint(0, 9)), fin=bits[0],
                         rsv1=bits[1], rsv2=bits[2], rsv3=bits[3],
                         mask_key=rng.randbytes(4) if i % 3 else None)
        cases.append(_case(f"flags FIN={bits[0]:d} RSV1={bits[1]:d} RSV2={bits[2]:d} "
                           f"RSV3={bits[3]:d}", frame))
    return cases


def boundary_frames(rng: random.Random) -> list[Case]:
    """Payloads of 125, 126, 65535 and 65536 bytes, masked and not: every length form's edge."""
    cases = []
    for size in (0, 125, 126, 127, 65535, 65536):
        for key in (None, rng.randbytes(4)):
            frame = fr.Frame(fr.Opcode.BINARY, bytes(size), mask_key=key)
            cases.append(_case((_("a {size:,}-byte payload, masked") if key else
                                _("a {size:,}-byte payload, unmasked")).format(size=size), frame))
    return cases


def random_frames(n: int, *, seed: int | None = None) -> list[Case]:
    """``n`` frames with random flags (all four bits), opcodes, masks and length forms."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        opcode = rng.choice(list(fr.Opcode))
        if opcode.is_control:
            size = rng.randint(0, 125)
        else:
            size = rng.choice([rng.randint(0, 125), rng.randint(126, 65535),
                               rng.randint(65536, 70_000)])
        key = rng.randbytes(4) if rng.random() < 0.5 else None
        flags = {f: rng.random() < 0.3 for f in ("rsv1", "rsv2", "rsv3")}
        if opcode == fr.Opcode.CLOSE:
            frame = fr.Frame.close(rng.choice([1000, 1001, 1011, 4000]), "x" * (size // 2),
                                   mask_key=key)
        else:
            frame = fr.Frame(opcode, rng.randbytes(size), mask_key=key,
                             fin=opcode.is_control or rng.random() < 0.7, **flags)
        out.append(_case(_("random frame {n}").format(n=i + 1), frame))
    return out


_FIELD_TEXT = {
    "fin": N_("FIN (bit 0 of byte 0, 0x80)"),
    "rsv1": N_("RSV1 (bit 1 of byte 0, 0x40)"),
    "rsv2": N_("RSV2 (bit 2 of byte 0, 0x20)"),
    "rsv3": N_("RSV3 (bit 3 of byte 0, 0x10)"),
    "opcode": N_("opcode (the low 4 bits of byte 0, 0x0F)"),
    "masked": N_("MASK (bit 0 of byte 1, 0x80)"),
    "mask_key": N_("masking key (the 4 bytes after the length)"),
    "header_size": N_("header size (2, plus 2 or 8 for an extended length, plus 4 for a mask "
                      "key)"),
}


def _field_text(field: str, data: bytes) -> str:
    if field != "length":
        return translate(_FIELD_TEXT[field])
    seven = data[1] & 0x7F
    if seven == 126:
        return _("extended payload length (bytes 2-3, 16 bits big-endian, since Payload len = "
                 "126)")
    if seven == 127:
        return _("extended payload length (bytes 2-9, 64 bits big-endian, since Payload len = "
                 "127)")
    return _("Payload len (the low 7 bits of byte 1, 0x7F)")


def _compare(got: object, what: str, data: bytes, want: dict) -> str:
    """The first field of ``got`` that differs from ``want``, as a hint ("" if none)."""
    if not isinstance(got, dict):
        return _("parse_header returned {type}; return a dict with the keys {keys}").format(
            type=type(got).__name__, keys=", ".join(FIELDS))
    missing = [f for f in FIELDS if f not in got]
    if missing:
        return _("the dict lacks {keys}").format(keys=", ".join(missing))
    for field in FIELDS:
        mine = got[field]
        if field == "mask_key" and isinstance(mine, bytearray):
            mine = bytes(mine)
        kind = _wrong_type(field, mine)
        if mine != want[field] or kind:
            more = " ..." if len(data) > 14 else ""
            return _("{case}, frame {frame}{more}: {field} is {want!r}, yours {got!r}{kind}"
                     "{swap} (RFC 6455 5.2)").format(
                case=what, frame=data[:14].hex(" "), more=more, field=_field_text(field, data),
                want=want[field], got=mine, kind=kind, swap=_swap(field, got, want))
    return ""


_BOOLS = ("fin", "rsv1", "rsv2", "rsv3", "masked")


def _wrong_type(field: str, value: object) -> str:
    """A note when ``value`` has the wrong type for ``field`` ("" when the type is right)."""
    kind = type(value).__name__
    a_kind = (_("an {kind}") if kind[0] in "aeiou" else _("a {kind}")).format(kind=kind)
    if field in _BOOLS and not isinstance(value, bool):
        return _(" ({a_kind}; return True or False, e.g. bool(byte & mask))").format(
            a_kind=a_kind)
    if field in ("opcode", "length", "header_size") and (
            isinstance(value, bool) or not isinstance(value, int)):
        return _(" ({a_kind}; return an int)").format(a_kind=a_kind)
    if field == "mask_key" and value is not None and not isinstance(value, bytes):
        return _(" ({a_kind}; return the 4 bytes, or None)").format(a_kind=a_kind)
    return ""


def _swap(field: str, got: dict, want: dict) -> str:
    """A note when the wrong value is exactly another reserved bit's."""
    others = [f for f in ("rsv1", "rsv2", "rsv3") if f != field]
    if field in ("rsv1", "rsv2", "rsv3") and any(got[field] == want[o] != want[field]
                                                 for o in others):
        return _("; bits of byte 0 from the left: FIN 0x80, RSV1 0x40, RSV2 0x20, RSV3 0x10")
    return ""


def check_parse_header(fn: object) -> Result:
    """Exercise 2: ``fn(data)`` returns the header fields of the frame starting at ``data``."""
    name = N_("Exercise 2 (frame header parser)")
    rng = random.Random()
    cases = ([(translate(what), data, expected_header(data)) for what, data in RFC_FRAMES]
             + flag_frames(rng) + boundary_frames(rng) + random_frames(200))
    try:
        takes(fn, 1, what="parse_header")
        for what, data, want in cases:
            got = call(fn, data, what="parse_header")
            problem = _compare(got, what, data, want)
            if problem:
                return hint(name, problem)
    except StudentError as exc:
        return hint(name, exc.hint)
    return passed(name, _("the {n} frames of RFC 6455 5.7, every FIN/RSV1/RSV2/RSV3 "
                          "combination, payloads of 125, 126, 65,535 and 65,536 bytes and 200 "
                          "random frames match").format(n=len(RFC_FRAMES)))


def _mask_mistake(data: bytes, key: bytes, got: bytes, want: bytes) -> str:
    """Where the learner's masking first goes wrong, and which key byte it used there."""
    if len(got) != len(want):
        where = first_difference(got, want)
        if len(got) < len(want):
            return _("{where}: every payload byte is masked, the key repeating every 4 bytes "
                     "(zip() stops at the shorter of its inputs)").format(where=where)
        return _("{where}: the result has exactly as many bytes as the payload").format(
            where=where)
    i = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
    used = got[i] ^ data[i]
    which = [j for j in range(4) if key[j] == used]
    told = (_("yours XORs it with 0x{used:02x}, key[{j}]").format(used=used, j=which[0])
            if which
            else _("yours is data[{i}] unchanged").format(i=i) if used == 0
            else _("yours is not data[{i}] XOR any key byte").format(i=i))
    return _("{difference}. Byte {i} is XORed with key[{i} % 4] = key[{j}] = 0x{k:02x}; "
             "{told}").format(difference=first_difference(got, want), i=i, j=i % 4,
                              k=key[i % 4], told=told)


def check_mask(fn: object) -> Result:
    """Exercise 1: ``fn(data, key)`` masks (and unmasks) like RFC 6455 section 5.3."""
    name = N_("Exercise 1 (masking)")
    rng = random.Random()
    cases = [(_("5.7: 'Hello'"), b"Hello", bytes.fromhex("37fa213d")),
             (_("an empty payload"), b"", os.urandom(4))]
    distinct = bytes(rng.sample(range(256), 4))  # four different key bytes
    cases += [(_("a random {n}-byte payload").format(n=n), rng.randbytes(n), distinct if n == 9 else
               rng.randbytes(4)) for n in (1, 3, 4, 5, 7, 9, 64, 125, 1000, 5000)]
    try:
        takes(fn, 2, what="mask")
        for what, data, key in cases:
            got = call(fn, data, key, what="mask")
            want = fr.mask(data, key)
            if isinstance(got, bytearray):
                got = bytes(got)
            if not isinstance(got, bytes):
                return hint(name, _("mask returned {type}; return bytes, e.g. bytes(...) "
                                    "around a list of ints").format(type=type(got).__name__))
            if got != want:
                return hint(name, _("{case}, key {key}: {mistake} (RFC 6455 5.3)").format(
                    case=what, key=key.hex(" "), mistake=_mask_mistake(data, key, got, want)))
    except StudentError as exc:
        return hint(name, exc.hint)
    return passed(name, _("7f 9f 4d 51 58 for the RFC's example, and random payloads from 0 "
                          "to 5,000 bytes match wslab.protocol.frames.mask"))
