"""Checks for 08_compression_and_subprotocols.ipynb (layer 4): subprotocol selection.

``check_select(select)`` runs the learner's ``select(offered)`` inside a real
server's opening handshake (:class:`wslab.labs.negotiation.SelectingServer`)
and connects real clients offering different lists; each client applies RFC
6455 section 4.1 and fails the connection if the server names a subprotocol it
never offered.  The server's rule (section 4.2.2): pick one of the offers, here
the first of ``SUPPORTED`` (the server's preference) the client offered, or
none (omit the header).  Names match exactly: ``chat.json.v2`` and ``chat.json`` are
not ``chat.json.v1``.

The prediction (:func:`predict_no_gain`, :func:`no_gain`) is asked before
:func:`wslab.labs.compression.compression_experiment` runs and compared with its records.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..i18n import N_, _
from ..labs.compression import KINDS, CompressionRecord
from ..labs.negotiation import SelectingServer, offer
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex08")

NAME = N_("Exercise 1 (subprotocol selection)")
SUPPORTED = ["chat.json.v1", "chat.bin.v1"]
CASES = [  # (what the client offers, what this server must choose)
    (["chat.json.v1"], "chat.json.v1"),
    (["chat.bin.v1"], "chat.bin.v1"),
    (["chat.bin.v1", "chat.json.v1"], "chat.json.v1"),
    (["mqtt", "chat.bin.v1"], "chat.bin.v1"),
    (["mqtt"], None),
    ([], None),
    (["chat.json.v2"], None),
    (["chat.json"], None),
]


def _header(name: str | None) -> str:
    return _("no Sec-WebSocket-Protocol header") if name is None \
        else f"Sec-WebSocket-Protocol: {name}"


def _reversible(select: object) -> bool:
    """Whether ``select`` reads a global SUPPORTED list the check may reverse for a while."""
    code = getattr(select, "__code__", None)
    space = getattr(select, "__globals__", None)
    return (code is not None and isinstance(space, dict) and "SUPPORTED" in code.co_names
            and isinstance(space.get("SUPPORTED"), list))


def _expected(offered: list[str], supported: list[str]) -> str | None:
    return next((name for name in supported if name in offered), None)


def _round(server: SelectingServer, supported: list[str], note: str) -> str | None:
    """Every case against the server's preference ``supported``: what went wrong, or None."""
    for offered, _want in CASES:
        want = _expected(offered, supported)
        got = offer(server.url, offered)
        if server.errors:
            err = server.errors[0]
            return (err.hint if isinstance(err, StudentError) else
                    _("select({offered!r}) returned something the handshake cannot send: "
                      "{err}").format(offered=offered, err=err))
        if got.failed:
            return (_("{note}the client offered {offered}; your server answered with {value} and "
                      "the client failed the connection: {failed} (RFC 6455 4.1). Expected "
                      "{value2}").format(
                        note=note, offered=offered, value=_header_from(got.response_head),
                        failed=got.failed, value2=_header(want)))
        if got.chosen != want:
            if want is not None and got.chosen in supported:
                why = (_("the server's order of preference (SUPPORTED) decides, not the client's "
                         "order, nor any other"))
            elif got.chosen is not None and got.chosen not in supported:
                why = _("answer only with a subprotocol this server speaks (SUPPORTED)")
            elif want is None:
                why = _("names match exactly")
            else:
                why = _("pick one the client offered")
            return (_("{note}the client offered {offered}; your server answered with {value}; "
                      "expected {value2}: {why}").format(
                        note=note, offered=offered, value=_header(got.chosen),
                        value2=_header(want), why=why))
    return None


def check_select(select: object) -> Result:
    """Run ``select(offered)`` in a live server's handshake; real clients offer lists.

    When ``select`` reads the notebook's global ``SUPPORTED``, every case runs a second
    time with that list reversed (and then restored): the answer must follow the
    server's preference, so an answer that only happened to come out right (a set's
    order, the client's order) is caught.
    """
    try:
        takes(select, 1, what="select(offered)")
    except StudentError as exc:
        return hint(NAME, exc.hint)

    def guarded(offered: list[str]) -> object:
        return call(select, offered, what=f"select({offered!r})")

    server = SelectingServer(guarded)
    rounds = [(SUPPORTED, "")]
    if _reversible(select):
        rounds.append((SUPPORTED[::-1], f"with SUPPORTED reversed to {SUPPORTED[::-1]} (the "
                                        "check swaps your list to see that its order decides), "))
    space = select.__globals__ if len(rounds) == 2 else {}  # type: ignore[attr-defined]
    saved = space.get("SUPPORTED")
    try:
        for supported, note in rounds:
            if note:
                space["SUPPORTED"] = list(supported)
            wrong = _round(server, supported, note)
            if wrong:
                return hint(NAME, wrong)
    finally:
        if len(rounds) == 2:
            space["SUPPORTED"] = saved
        server.stop()
    runs = len(CASES) * len(rounds)
    return passed(NAME, _("{runs} real handshakes: the server's favourite among the "
                          "offers{value}, exact names only, and no header at all when nothing "
                          "matches (RFC 6455 4.2.2); every client accepted the answer "
                          "(4.1)").format(
                            runs=runs,
                            value=' (for both orders of SUPPORTED)' if len(rounds) == 2 else ''))


def _header_from(head: bytes) -> str:
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("sec-websocket-protocol:"):
            return line.strip()
    return _("no Sec-WebSocket-Protocol header")


# --- predict, then observe: what compresses ----------------------------------------------------

NO_GAIN = N_("Prediction (what compresses)")


def predict_no_gain(answer: object) -> Result:
    """Keep the guess: which payload kind will gain nothing from permessage-deflate?"""
    return _predict.record(NO_GAIN, answer, choices=KINDS)


def no_gain(records: Sequence[CompressionRecord]) -> Result:
    """Compare the guess with :func:`compression_experiment`'s records: the kind whose
    compressed messages took the most bytes on the wire per payload byte."""
    on = [r for r in records if isinstance(r, CompressionRecord) and r.compressed]
    if not on:
        return hint(NO_GAIN, _("pass the records of compression_experiment(...) (run the "
                               "experiment cell first)"))
    biggest = max(r.size for r in on)
    at = {r.kind: r for r in on if r.size == biggest}
    off = {r.kind: r for r in records if not r.compressed and r.size == biggest}
    worst = max(at.values(), key=lambda r: r.ratio)

    def judge(value: float | str) -> tuple[bool, str]:
        sizes = "; ".join(
            f"{k} {off[k].wire_bytes_up:,} -> {r.wire_bytes_up:,} bytes"
            if k in off else f"{k} ratio {r.ratio:.3f}" for k, r in sorted(at.items()))
        text = (_("measured, {biggest:,}-byte messages from the client, bytes on the wire "
                  "without -> with compression: {sizes}; you said {value!r}").format(
                    biggest=biggest, sizes=sizes, value=value))
        if worst.kind == "random":
            text += (". Random bytes have no repetition for DEFLATE to find (nor have images, "
                     "video or zip files: they are compressed already)")
        return value == worst.kind, text

    return _predict.compare(NO_GAIN, measured_at=min(r.measured_at for r in on), judge=judge)
