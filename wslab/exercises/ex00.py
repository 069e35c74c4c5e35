"""Checks for 00_welcome.ipynb."""

from __future__ import annotations

from collections.abc import Sequence

from ._result import Result, hint, passed


def cheapest(answer: object, results: Sequence) -> Result:
    """Exercise 1: which method spends the fewest extra bytes per message?"""
    name = "Exercise 1 (wire cost)"
    best = min(results, key=lambda r: r.overhead_per_message)
    names = [r.method for r in results]
    if answer not in names:
        return hint(name, f"answer with one of {names}")
    if answer != best.method:
        return hint(name, "compare the 'overhead bytes/message' column: each HTTP request "
                          "and response repeats a full set of headers")
    return passed(name, f"{best.method}: {best.overhead_per_message:.0f} bytes per message; "
                        "a frame header is 2-14 bytes (RFC 6455 section 5.2)")


def short_poll_wait(answer: object, poll_interval: float) -> Result:
    """Exercise 2: the typical delay of short polling, in milliseconds."""
    name = "Exercise 2 (polling delay)"
    if not isinstance(answer, (int, float)):
        return hint(name, "answer with a number of milliseconds")
    expected = poll_interval * 1e3 / 2
    if abs(answer - poll_interval * 1e3) < 1e-6:
        return hint(name, "that is the worst case; a message created at a random moment "
                          "waits on average for half of the interval")
    if not 0.8 * expected <= answer <= 1.2 * expected:
        return hint(name, f"a message waits between 0 and {poll_interval * 1e3:.0f} ms for "
                          "the next poll; what is the middle of that range?")
    return passed(name, f"about {expected:.0f} ms: half the polling interval, plus a round trip")
