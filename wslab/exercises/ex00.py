"""Checks for 00_welcome.ipynb (layer 4, exercises)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..i18n import N_, _
from ..protocol import frames as fr
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex00")

#: Payload sizes at every boundary of the three length forms (RFC 6455 section 5.2).
SIZES = (0, 5, 125, 126, 127, 1000, 65535, 65536, 70_000, 1 << 20)
POLL_DELAY = N_("Exercise 1 (polling delay)")


def real_header_bytes(payload_size: int, from_client: bool) -> int:
    """Header bytes of a frame as wslab's codec writes it: the frame minus its payload."""
    key = b"\x00\x00\x00\x00" if from_client else None
    data = fr.encode_frame(fr.Frame(fr.Opcode.BINARY, bytes(payload_size), mask_key=key))
    return len(data) - payload_size


def _why(size: int, from_client: bool) -> str:
    form = (_("the 7-bit length field holds it (up to 125)") if size <= 125 else
            _("the 7-bit field says 126 and 2 more bytes hold it (126-65,535)") if size <= 65535
            else _("the 7-bit field says 127 and 8 more bytes hold it (above 65,535)"))
    mask = _("; a client frame adds the 4-byte masking key (5.3)") if from_client \
        else _("; a server frame has no masking key")
    return _("{form}{mask} (RFC 6455 5.2)").format(form=form, mask=mask)


def _diagnosis(got: int, size: int, from_client: bool, want: int) -> str:
    """A likely cause of a wrong header size, when one fits (else "")."""
    plain = real_header_bytes(size, False)
    if from_client and got == plain:
        return _(" Your count leaves out the masking key of client frames.")
    if not from_client and got == plain + 4:
        return _(" You added a masking key to a server frame: only clients mask (5.1).")
    if from_client and got == plain + 32:
        return _(" The masking key is 4 bytes (32 bits): count bytes, not bits.")
    if size > 65535 and got == want - 4:
        return _(" The 64-bit extended length is 8 bytes, not 4.")
    if got - want in (14, 56):  # 16 or 64 added where 2 or 8 belong
        return _(" Count the extended length in bytes (2 or 8), not in bits (16 or 64).")
    return ""


def check_header_bytes(fn: object) -> Result:
    """Exercise 2: ``fn(payload_size, from_client)`` returns the frame's header size."""
    name = N_("Exercise 2 (header bytes)")
    try:
        takes(fn, 2, what="header_bytes")
        for from_client in (False, True):
            for size in SIZES:
                got = call(fn, size, from_client, what="header_bytes")
                want = real_header_bytes(size, from_client)
                if isinstance(got, bool) or not isinstance(got, int):
                    return hint(name, _("header_bytes({size}, {from_client}) returned "
                                        "{got!r}; return a whole number of bytes").format(
                        size=size, from_client=from_client, got=got))
                if got != want:
                    frame = (_("a client frame with a {size:,}-byte payload") if from_client
                             else _("a server frame with a {size:,}-byte payload"))
                    return hint(name, _("header_bytes({size}, {from_client}) returned {got}; "
                                        "{frame} has {want} header bytes: {why}.{diagnosis}"
                                        ).format(
                        size=size, from_client=from_client, got=got,
                        frame=frame.format(size=size), want=want, why=_why(size, from_client),
                        diagnosis=_diagnosis(got, size, from_client, want)))
    except StudentError as exc:
        return hint(name, exc.hint)
    return passed(name, _("all {n} sizes match the codec: server frames have 2-10 header "
                          "bytes, client frames 6-14 (the 4-byte masking key)").format(
        n=2 * len(SIZES)))


# -- Exercise 2: predict the delay of short polling, then measure it ----------------------

def predict_polling_delay(answer: object) -> Result:
    """Keep the learner's guess of short polling's median delay (ms), before the demo."""
    return _predict.record(POLL_DELAY, answer, unit="ms")


def _short_polling(results: Sequence[object]) -> object | None:
    for r in results:
        if getattr(r, "method", None) == "short polling":
            return r
    return None


def _judge_polling(p50: float, interval_ms: float) -> Callable[[float | str], tuple[bool, str]]:
    def judge(value: float | str) -> tuple[bool, str]:
        g = float(value)
        measured = _("Short polling's measured median delay: {p50:.0f} ms; you predicted "
                     "{guess:g} ms.").format(p50=p50, guess=g)
        if abs(g - p50) <= max(0.35 * p50, 25.0):
            return True, _("{measured} A message made at a random moment waits between 0 and "
                           "{interval:.0f} ms for the next poll; the median message waited "
                           "{share:.0%} of the interval").format(
                measured=measured, interval=interval_ms, share=p50 / interval_ms)
        if 0 < g < 5 and abs(g * 1e3 - p50) <= max(0.35 * p50, 25.0):
            return False, _("{measured} That looks like seconds: the question asked for "
                            "ms.").format(measured=measured)
        if abs(g - interval_ms) <= 0.1 * interval_ms:
            return False, _("{measured} {interval:.0f} ms is the longest wait (a message "
                            "made just after a poll); the median message waits less").format(
                measured=measured, interval=interval_ms)
        waited = (_("{measured} Messages waited less than you thought: each waits from its "
                    "creation to the next poll, between 0 and {interval:.0f} ms") if g > p50
                  else _("{measured} Messages waited more than you thought: each waits from "
                         "its creation to the next poll, between 0 and {interval:.0f} ms"))
        return False, waited.format(measured=measured, interval=interval_ms)
    return judge


def compare_polling_delay(results: Sequence[object], *, measured_at: float,
                          poll_interval: float) -> Result:
    """Set the recorded guess against short polling's measured median delay."""
    r = _short_polling(results)
    p50 = getattr(r, "p50_ms", None)
    if not isinstance(p50, float) or p50 != p50:
        return hint(POLL_DELAY, _("no short-polling delay was measured: run the comparison "
                                  "cell (compare_push) again"))
    return _predict.compare(POLL_DELAY, measured_at=measured_at,
                            judge=_judge_polling(p50, poll_interval * 1e3))
