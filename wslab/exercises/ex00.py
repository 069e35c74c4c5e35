"""Checks for 00_welcome.ipynb (layer 4, exercises)."""

from __future__ import annotations

from ..protocol import frames as fr
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex00")

#: Payload sizes at every boundary of the three length forms (RFC 6455 section 5.2).
SIZES = (0, 5, 125, 126, 127, 1000, 65535, 65536, 70_000, 1 << 20)


def real_header_bytes(payload_size: int, from_client: bool) -> int:
    """Header bytes of a frame as wslab's codec writes it: the frame minus its payload."""
    key = b"\x00\x00\x00\x00" if from_client else None
    data = fr.encode_frame(fr.Frame(fr.Opcode.BINARY, bytes(payload_size), mask_key=key))
    return len(data) - payload_size


def _why(size: int, from_client: bool) -> str:
    form = ("the 7-bit length field holds it (up to 125)" if size <= 125 else
            "the 7-bit field says 126 and 2 more bytes hold it (126-65,535)" if size <= 65535
            else "the 7-bit field says 127 and 8 more bytes hold it (above 65,535)")
    mask = "; a client frame adds the 4-byte masking key (5.3)" if from_client \
        else "; a server frame has no masking key"
    return f"{form}{mask} (RFC 6455 5.2)"


def check_header_bytes(fn: object) -> Result:
    """Exercise 1: ``fn(payload_size, from_client)`` returns the frame's header size."""
    name = "Exercise 1 (header bytes)"
    try:
        takes(fn, 2, what="header_bytes")
        for from_client in (False, True):
            for size in SIZES:
                got = call(fn, size, from_client, what="header_bytes")
                want = real_header_bytes(size, from_client)
                if isinstance(got, bool) or not isinstance(got, int):
                    return hint(name, f"header_bytes({size}, {from_client}) returned {got!r}; "
                                      "return a whole number of bytes")
                if got != want:
                    side = "client" if from_client else "server"
                    return hint(name, f"header_bytes({size}, {from_client}) returned {got}; a "
                                      f"{side} frame with a {size:,}-byte payload has {want} "
                                      f"header bytes: {_why(size, from_client)}")
    except StudentError as exc:
        return hint(name, exc.hint)
    return passed(name, f"all {2 * len(SIZES)} sizes match the codec: server frames have 2-10 "
                        "header bytes, client frames 6-14 (the 4-byte masking key)")


def short_poll_wait(answer: object, poll_interval: float) -> Result:
    """Exercise 2: the typical delay of short polling, in milliseconds."""
    name = "Exercise 2 (polling delay)"
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return hint(name, "answer with a number of milliseconds")
    expected = poll_interval * 1e3 / 2
    if abs(answer - poll_interval * 1e3) < 1e-6:
        return hint(name, "that is the worst case; a message created at a random moment "
                          "waits on average for half of the interval")
    if abs(answer - poll_interval) < 1e-9 or abs(answer - poll_interval / 2) < 1e-9:
        return hint(name, "that looks like seconds: answer in milliseconds")
    if not 0.8 * expected <= answer <= 1.2 * expected:
        return hint(name, f"a message waits between 0 and {poll_interval * 1e3:.0f} ms for "
                          "the next poll; what is the middle of that range?")
    return passed(name, f"about {expected:.0f} ms: half the polling interval (compare the "
                        "measured p50 of short polling above)")
