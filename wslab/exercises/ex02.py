"""Checks for 02_frames.ipynb (layer 4, exercises)."""

from __future__ import annotations

import os
import random

from ..protocol import frames as fr
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, first_difference, takes

solution = solution_function("ex02")

#: RFC 6455 section 5.7's examples: (what, frame bytes).
RFC_FRAMES = (
    ("5.7: unmasked text 'Hello'", bytes.fromhex("810548656c6c6f")),
    ("5.7: masked text 'Hello'", bytes.fromhex("818537fa213d7f9f4d5158")),
    ("5.7: first fragment 'Hel'", bytes.fromhex("010348656c")),
    ("5.7: last fragment 'lo'", bytes.fromhex("80026c6f")),
    ("5.7: unmasked ping 'Hello'", bytes.fromhex("890548656c6c6f")),
    ("5.7: masked pong 'Hello'", bytes.fromhex("8a8537fa213d7f9f4d5158")),
    ("5.7: 256 bytes binary, 16-bit length", bytes.fromhex("827e0100") + bytes(256)),
    ("5.7: 64 KiB binary, 64-bit length", bytes.fromhex("827f0000000000010000") + bytes(65536)),
)

FIELDS = ("fin", "rsv1", "rsv2", "rsv3", "opcode", "masked", "length", "mask_key",
          "header_size")


def expected_header(data: bytes) -> dict:
    """The header fields of ``data``'s first frame, as wslab.protocol.frames decodes them."""
    frame, used = fr.decode_frame(data, extensions_rsv1=True)
    return {"fin": frame.fin, "rsv1": frame.rsv1, "rsv2": frame.rsv2, "rsv3": frame.rsv3,
            "opcode": int(frame.opcode), "masked": frame.mask_key is not None,
            "length": len(frame.payload), "mask_key": frame.mask_key,
            "header_size": used - len(frame.payload)}


def random_frames(n: int, *, seed: int | None = None) -> list[tuple[str, bytes]]:
    """``n`` valid frames with random flags, opcodes, masks and all three length forms."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        opcode = rng.choice(list(fr.Opcode))
        if opcode.is_control:
            size = rng.randint(0, 125)
        else:
            size = rng.choice([rng.randint(0, 125), rng.randint(126, 65535),
                               rng.randint(65536, 70_000)])
        rsv1 = opcode in (fr.Opcode.TEXT, fr.Opcode.BINARY) and rng.random() < 0.3
        key = rng.randbytes(4) if rng.random() < 0.5 else None
        if opcode == fr.Opcode.CLOSE:
            frame = fr.Frame.close(rng.choice([1000, 1001, 1011, 4000]), "x" * (size // 2),
                                   mask_key=key)
        else:
            frame = fr.Frame(opcode, rng.randbytes(size), rsv1=rsv1, mask_key=key,
                             fin=opcode.is_control or rng.random() < 0.7)
        out.append((f"random frame {i + 1}", fr.encode_frame(frame)))
    return out


_FIELD_TEXT = {
    "fin": "FIN (bit 0 of byte 0, 0x80)",
    "rsv1": "RSV1 (bit 1 of byte 0, 0x40)",
    "rsv2": "RSV2 (bit 2 of byte 0, 0x20)",
    "rsv3": "RSV3 (bit 3 of byte 0, 0x10)",
    "opcode": "opcode (the low 4 bits of byte 0, 0x0F)",
    "masked": "MASK (bit 0 of byte 1, 0x80)",
    "mask_key": "masking key (the 4 bytes after the length)",
    "header_size": "header size (2, plus 2 or 8 for an extended length, plus 4 for a mask key)",
}


def _field_text(field: str, data: bytes) -> str:
    if field != "length":
        return _FIELD_TEXT[field]
    seven = data[1] & 0x7F
    if seven == 126:
        return "extended payload length (bytes 2-3, 16 bits big-endian, since Payload len = 126)"
    if seven == 127:
        return "extended payload length (bytes 2-9, 64 bits big-endian, since Payload len = 127)"
    return "Payload len (the low 7 bits of byte 1, 0x7F)"


def check_parse_header(fn: object) -> Result:
    """Exercise 2: ``fn(data)`` returns the header fields of the frame starting at ``data``."""
    name = "Exercise 2 (frame header parser)"
    cases = list(RFC_FRAMES) + random_frames(200)
    try:
        takes(fn, 1, what="parse_header")
        for what, data in cases:
            got = call(fn, data, what="parse_header")
            if not isinstance(got, dict):
                return hint(name, f"parse_header returned {type(got).__name__}; return a dict "
                                  f"with the keys {', '.join(FIELDS)}")
            missing = [f for f in FIELDS if f not in got]
            if missing:
                return hint(name, f"the dict lacks {', '.join(missing)}")
            want = expected_header(data)
            for field in FIELDS:
                mine = got[field]
                if field == "mask_key" and isinstance(mine, bytearray):
                    mine = bytes(mine)
                if mine != want[field]:
                    more = " ..." if len(data) > 14 else ""
                    return hint(name, f"{what}, frame {data[:14].hex(' ')}{more}: "
                                      f"{_field_text(field, data)} is {want[field]!r}, yours "
                                      f"{mine!r} (RFC 6455 5.2)")
    except StudentError as exc:
        return hint(name, exc.hint)
    return passed(name, f"{len(RFC_FRAMES)} frames of RFC 6455 5.7 and 200 random ones "
                        "(all three length forms, masked and not) match wslab.protocol.frames")


def check_mask(fn: object) -> Result:
    """Exercise 1: ``fn(data, key)`` masks (and unmasks) like RFC 6455 section 5.3."""
    name = "Exercise 1 (masking)"
    rng = random.Random()
    cases = [("5.7: 'Hello'", b"Hello", bytes.fromhex("37fa213d")),
             ("an empty payload", b"", os.urandom(4))]
    cases += [(f"a random {n}-byte payload", rng.randbytes(n), rng.randbytes(4))
              for n in (1, 3, 4, 5, 7, 64, 125, 1000, 5000)]
    try:
        takes(fn, 2, what="mask")
        for what, data, key in cases:
            got = call(fn, data, key, what="mask")
            want = fr.mask(data, key)
            if isinstance(got, bytearray):
                got = bytes(got)
            if not isinstance(got, bytes):
                return hint(name, f"mask returned {type(got).__name__}; return bytes, e.g. "
                                  "bytes(...) around a list of ints")
            if got != want:
                return hint(name, f"{what}, key {key.hex(' ')}: "
                                  f"{first_difference(got, want)}; byte i is XORed with "
                                  "key[i % 4] (RFC 6455 5.3)")
    except StudentError as exc:
        return hint(name, exc.hint)
    return passed(name, "7f 9f 4d 51 58 for the RFC's example, and random payloads from 0 to "
                        "5,000 bytes match wslab.protocol.frames.mask")
