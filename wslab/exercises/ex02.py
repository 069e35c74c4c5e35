"""Checks for 02_frames.ipynb."""

from __future__ import annotations

from ..protocol import frames as fr
from ._result import Result, hint, passed


def hi_frame(answer: object) -> Result:
    """Exercise 1: the bytes of an unmasked, final text frame carrying 'Hi'."""
    name = "Exercise 1 (build 'Hi')"
    truth = b"\x81\x02Hi"
    if not isinstance(answer, (bytes, bytearray)):
        return hint(name, "answer with bytes, e.g. bytes([0x.., 0x..]) + b'Hi'")
    answer = bytes(answer)
    if answer == truth:
        return passed(name, "81 02 48 69: FIN=1, opcode 1 (text), MASK=0, length 2, then 'Hi'")
    if answer[:1] == b"\x01":
        return hint(name, "the FIN bit (0x80) is missing: this is a single, final frame")
    if len(answer) > 1 and answer[1] & 0x80:
        return hint(name, "a server's frame is not masked: the MASK bit must be 0")
    return hint(name, f"got {answer.hex(' ')}; the first byte is FIN|opcode, the second MASK|length")


def header_size(answer: object) -> Result:
    """Exercise 2: header bytes of a masked client frame with a 70,000-byte payload."""
    name = "Exercise 2 (header size)"
    truth = len(fr.encode_frame(fr.Frame(fr.Opcode.BINARY, b"\0" * 70_000,
                                         mask_key=b"\0\0\0\0"))) - 70_000
    if answer == truth:
        return passed(name, "2 bytes + 8 (64-bit length, since 70,000 > 65,535) + 4 (mask key) = 14")
    if answer == 8:
        return hint(name, "70,000 does not fit in 16 bits (max 65,535): which length form is that?")
    if answer == 10:
        return hint(name, "a client's frame also carries the 4-byte masking key")
    return hint(name, "add: the 2 fixed bytes, the extended length, and the masking key")


def unmask(answer: object, masked: bytes, key: bytes) -> Result:
    """Exercise 3: unmask a payload by hand."""
    name = "Exercise 3 (unmask)"
    truth = fr.mask(masked, key)
    if isinstance(answer, str):
        answer = answer.encode("utf-8")
    if answer == truth:
        return passed(name, f"{truth!r}: byte i XOR key[i % 4] (RFC 6455 section 5.3)")
    return hint(name, "XOR each byte with key[i % 4]: bytes(b ^ key[i % 4] for i, b in "
                      "enumerate(masked))")
