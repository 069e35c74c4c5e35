"""Python calls per echo in the in-kernel server, counted by cProfile (the peers benchmark).

:func:`calls_per_echo` profiles the lab loop thread (where the server runs, and
nothing else of the benchmark does) while the measuring client's process sends
pipelined 32-byte echoes, and divides the calls cProfile counted by the number
of echoes: the cost of one echo in Python function calls, from the socket read
to the socket write, events recorded as by default.  ``python -m bench.profile_echo``
prints it with the functions called most.
"""

from __future__ import annotations

import cProfile
import pstats
from typing import Any

from wslab.net import loop as lab

from .records import SMALL
from .targets import _Meter

__all__ = ["calls_per_echo"]


def calls_per_echo(url: str, *, n: int = 20_000, window: int = 100, top: int = 15,
                   timeout: float = 60.0) -> dict[str, Any]:
    """Profile the lab loop while ``n`` pipelined echoes go through ``url`` (a server on
    this process's lab loop); returns ``{"echoes", "calls", "calls_per_echo", "top"}``
    with ``top`` the functions called most, as ``(name, calls per echo)``."""
    if not isinstance(n, int) or n < 100:
        raise ValueError(f"n is an integer >= 100, got {n!r}")
    meter = _Meter(timeout)
    prof = cProfile.Profile()
    try:
        meter.ask("saturating", url, timeout + 20, n=min(n, 2000), window=window, size=SMALL)
        lab.call(prof.enable, what="start profiling the lab loop")
        try:
            got = meter.ask("saturating", url, timeout + 20, n=n, window=window, size=SMALL)
        finally:
            lab.call(prof.disable, what="stop profiling the lab loop")
    finally:
        meter.close()
    echoes = got["received"]
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][1])[:top]  # type: ignore[attr-defined]
    return {"echoes": echoes, "calls": stats.total_calls,  # type: ignore[attr-defined]
            "calls_per_echo": stats.total_calls / max(1, echoes),  # type: ignore[attr-defined]
            "top": [(f"{func[2]} ({func[0].rsplit('/', 1)[-1]}:{func[1]})",
                     round(st[1] / max(1, echoes), 2)) for func, st in rows]}
