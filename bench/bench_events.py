"""What the event log costs an echo (issue 26): pipelined echo throughput of the in-kernel
server by ``events_level``, and with a live listener, in one interleaved run.

``python -m bench.bench_events [ROUNDS]`` (from the repository root) starts four servers on
this process's lab loop: ``events_level="all"`` (the default), ``"messages"``,
``"lifecycle"``, and ``"all"`` with a ServerPanel-style listener (``subscribe(fn,
batch=True)``), then has the measuring client's process (:mod:`bench.peers.meter`) run
the same saturating pipelined echo against each, round after round (A B C D A B C D ...).
Prints messages/s per server (median of the rounds, lowest-highest) and each one's ratio
to the default, the median of the per-round ratios with their spread.  Bounded: ROUNDS
rounds (default 5) of 20,000 echoes, the meter's per-step timeout.
"""

from __future__ import annotations

import statistics
import sys
from typing import Any

from wslab.net.server import serve

from .peers.meter import PipeRun
from .peers.records import SMALL
from .peers.targets import _Meter

N = 20_000
WINDOW = 100


def run(rounds: int = 5, timeout: float = 60.0) -> dict[str, list[float]]:
    servers = {
        "all (default)": serve(name="events-all"),
        "messages": serve(name="events-messages", events_level="messages"),
        "lifecycle": serve(name="events-lifecycle", events_level="lifecycle"),
        "all + listener": serve(name="events-listener"),
    }
    seen = [0]

    def listener(events: list[Any]) -> None:  # what a live panel does: note, redraw later
        seen[0] += len(events)

    servers["all + listener"].subscribe(listener, batch=True)
    rates: dict[str, list[float]] = {name: [] for name in servers}
    meter = _Meter(timeout)
    try:
        for server in servers.values():  # warm-up, not measured
            meter.ask("saturating", server.url, timeout + 20, n=2000, window=WINDOW, size=SMALL)
        for _ in range(rounds):
            for name, server in servers.items():
                got = PipeRun(**meter.ask("saturating", server.url, timeout + 20, n=N,
                                          window=WINDOW, size=SMALL))
                rates[name].append(got.rate or 0.0)
    finally:
        meter.close()
        for server in servers.values():
            server.stop()
    return rates


def report(rates: dict[str, list[float]]) -> str:
    base = rates["all (default)"]
    lines = [f"{'events':<16}{'msg/s (median, rounds)':>34}{'x default (rounds)':>26}"]
    for name, rs in rates.items():
        ratios = [a / b for a, b in zip(rs, base, strict=True)]
        lines.append(f"{name:<16}{statistics.median(rs):>12,.0f} ({min(rs):,.0f}-{max(rs):,.0f})"
                     f"{statistics.median(ratios):>14.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5)))
