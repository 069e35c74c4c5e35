"""Checks for 08_compression_and_subprotocols.ipynb."""

from __future__ import annotations

from collections.abc import Sequence

from ._result import Result, hint, passed


def chosen(answer: object) -> Result:
    """Exercise 1: server prefers json then bin; client offers bin then json."""
    name = "Exercise 3 (who chooses)"
    if answer == "chat.json.v1":
        return passed(name, "the server picks, here in its own order of preference (RFC 6455 4.2.2)")
    if answer == "chat.bin.v1":
        return hint(name, "the client's order is only a wish; which side decides?")
    return hint(name, "answer with a subprotocol name")


def no_gain(answer: object, records: Sequence) -> Result:
    """Exercise 2: which payload kind does not shrink with permessage-deflate?"""
    name = "Exercise 2 (what compresses)"
    worst = max((r for r in records if r.compressed), key=lambda r: r.ratio).kind
    if answer == worst:
        return passed(name, f"{worst}: random bytes have no repetition for DEFLATE to find; "
                            "they even grow by a few bytes")
    return hint(name, "compare the compressed ratio column per kind")


def marker_bit(answer: object) -> Result:
    """Exercise 3: which header bit marks a compressed message?"""
    name = "Exercise 1 (the marker)"
    if str(answer).upper() == "RSV1":
        return passed(name, "RSV1 on the first frame of a message (RFC 7692 section 6)")
    return hint(name, "look at the bit diagram of a compressed frame: which reserved bit is set?")
