"""Checks for 10_latency_lab.ipynb."""

from __future__ import annotations

from collections.abc import Sequence

from ..labs.stats import percentile
from ._result import Result, hint, passed


def p99(answer: object, samples: Sequence[float]) -> Result:
    """Exercise 1: the 99th percentile in milliseconds."""
    name = "Exercise 1 (p99)"
    truth = percentile(samples, 99) * 1e3
    if not isinstance(answer, (int, float)):
        return hint(name, "answer with a number of milliseconds")
    if abs(answer - truth) <= max(0.02 * truth, 1e-6):
        return passed(name, f"{truth:.3f} ms: 1 message in 100 is slower than this")
    if abs(answer - truth / 1e3) <= 0.02 * truth / 1e3:
        return hint(name, "that is seconds; multiply by 1000")
    return hint(name, "sort the samples and take the one 99 % of the way up "
                      "(plots.percentile(samples, 99))")


def injected(answer: object) -> Result:
    """Exercise 2: the round trip through 20 ms of added delay each way."""
    name = "Exercise 2 (delay)"
    if isinstance(answer, (int, float)) and 38 <= answer <= 42:
        return passed(name, "about 40 ms: the delay is paid there and back, plus the "
                            "sub-millisecond loopback round trip")
    if answer == 20:
        return hint(name, "20 ms is one way; a round trip goes there and back")
    return hint(name, "add the delay of each direction")


def gil_way_out(answer: object, records: Sequence) -> Result:
    """Exercise 3: which setup stays fast while a cell computes?"""
    name = "Exercise 3 (the GIL)"
    busy = {r.label: r.p50_ms for r in records if r.busy}
    best = min(busy, key=busy.get)
    want = "process" if "process" in best else "switch interval"
    if str(answer).lower() == want:
        return passed(name, f"{best}: {busy[best]:.3f} ms median while the cell computed")
    return hint(name, "compare the medians of the 'cell computing' rows")
