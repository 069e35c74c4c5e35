"""Checks for 08_compression_and_subprotocols.ipynb (layer 4): subprotocol selection.

``check_select(select)`` runs the learner's ``select(offered)`` inside a real
server's opening handshake (:class:`wslab.labs.negotiation.SelectingServer`)
and connects real clients offering different lists; each client applies RFC
6455 section 4.1 and fails the connection if the server names a subprotocol it
never offered.  The server's rule (section 4.2.2): pick one of the offers, here
the first of ``SUPPORTED`` (the server's preference) the client offered, or
none (omit the header).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..labs.negotiation import SelectingServer, offer
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex08")

NAME = "Exercise 1 (subprotocol selection)"
SUPPORTED = ["chat.json.v1", "chat.bin.v1"]
CASES = [  # (what the client offers, what this server must choose)
    (["chat.json.v1"], "chat.json.v1"),
    (["chat.bin.v1"], "chat.bin.v1"),
    (["chat.bin.v1", "chat.json.v1"], "chat.json.v1"),
    (["mqtt", "chat.bin.v1"], "chat.bin.v1"),
    (["mqtt"], None),
    ([], None),
    (["chat.json.v2"], None),
]


def _header(name: str | None) -> str:
    return "no Sec-WebSocket-Protocol header" if name is None else f"Sec-WebSocket-Protocol: {name}"


def check_select(select: object) -> Result:
    """Run ``select(offered)`` in a live server's handshake; real clients offer lists."""
    try:
        takes(select, 1, what="select(offered)")
    except StudentError as exc:
        return hint(NAME, exc.hint)

    def guarded(offered: list[str]) -> object:
        return call(select, offered, what=f"select({offered!r})")

    server = SelectingServer(guarded)
    try:
        for offered, want in CASES:
            got = offer(server.url, offered)
            if server.errors:
                err = server.errors[0]
                return hint(NAME, err.hint if isinstance(err, StudentError) else
                            f"select({offered!r}) returned something the handshake cannot "
                            f"send: {err}")
            if got.failed:
                return hint(NAME, f"the client offered {offered}; your server answered with "
                                  f"{_header_from(got.response_head)} and the client failed the "
                                  f"connection: {got.failed} (RFC 6455 4.1). "
                                  f"Expected {_header(want)}")
            if got.chosen != want:
                why = ("the server's order of preference (SUPPORTED) decides, not the client's"
                       if want is not None and got.chosen in SUPPORTED else
                       "names match exactly" if want is None else "pick one the client offered")
                return hint(NAME, f"the client offered {offered}; your server answered with "
                                  f"{_header(got.chosen)}; expected {_header(want)}: {why}")
    finally:
        server.stop()
    return passed(NAME, f"{len(CASES)} real handshakes: the server's favourite among the offers, "
                        "and no header at all when nothing matches (RFC 6455 4.2.2); every "
                        "client accepted the answer (4.1)")


def _header_from(head: bytes) -> str:
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("sec-websocket-protocol:"):
            return line.strip()
    return "no Sec-WebSocket-Protocol header"


def no_gain(answer: object, records: Sequence) -> Result:
    """Question: which payload kind does not shrink with permessage-deflate?"""
    name = "Question (what compresses)"
    kinds = sorted({r.kind for r in records})
    if not isinstance(answer, str) or answer not in kinds:
        return hint(name, f"answer with one of {kinds}")
    worst = max((r for r in records if r.compressed), key=lambda r: r.ratio).kind
    if answer == worst:
        return passed(name, f"{worst}: random bytes have no repetition for DEFLATE to find; "
                            "they even grow by a few bytes")
    return hint(name, "compare the compressed ratio column per kind")
