"""Layer 3 (labs): the thundering-herd experiment of notebook 06.

Many ReconnectingClients lose their server at once; the experiment restarts it
and records every reconnection attempt, so a plot can show what jitter does
(RFC 6455 section 7.2.3 asks clients to randomise the first reconnect delay).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..net.reconnect import JITTERS, ReconnectingClient
from ..net.server import serve
from ..protocol.state import State


@dataclass
class HerdResult:
    """Reconnection attempts of many clients after one server restart."""

    jitter: str
    clients: int
    # seconds from the stop to the server listening again, measured (the requested outage
    # plus however long stopping and starting took on this machine)
    restart_after: float
    attempts: list[float]  # seconds after the server went down, every client's every attempt
    all_back_after: float | None  # seconds until every client was connected again
    # when each attempt was due (the failure before it plus the backoff's delay), same clock;
    # a busy machine starts attempts late, and late timers bunch up whatever the backoff did
    due: list[float] = field(default_factory=list)
    max_late: float = 0.0  # the longest an attempt started after it was due: the loop's lag

    def peak(self, window: float = 0.02, *, since: float = 0.0, scheduled: bool = False) -> int:
        """The most attempts that fell within any ``window`` seconds at or after ``since``
        (e.g. ``restart_after``: the spike the restarted server has to absorb).

        ``scheduled=True`` counts when the attempts were due rather than when they ran:
        the spike the backoff itself makes, without the bunching of a lagging loop.
        """
        source = sorted(self.due) if scheduled else self.attempts
        times = [t for t in source if t >= since]
        best, lo = 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] > window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


def herd_experiment(*, clients: int = 50, jitter: str = "full", restart_after: float = 1.0,
                    initial_delay: float = 0.1, factor: float = 2.0, max_delay: float = 2.0,
                    seed: int = 0, timeout: float = 20.0,
                    backoff: Callable[[int, random.Random], float] | None = None,
                    label: str | None = None) -> HerdResult:
    """Stop a server under ``clients`` ReconnectingClients, restart it, record every attempt.

    Layer 2 (I/O).  Bounded: at most ``clients`` <= 200 clients and ``timeout`` seconds.
    ``backoff(attempt, rng) -> seconds`` replaces the built-in delay (``jitter`` is
    then only the result's label, unless ``label`` names it).
    """
    if not isinstance(clients, int) or not 1 <= clients <= 200:
        raise ValueError(f"clients is an integer 1-200, got {clients!r}")
    if jitter not in JITTERS:
        raise ValueError(f"jitter is one of {JITTERS}, got {jitter!r}")
    server = serve(name=f"herd-{jitter}")
    port = server.port
    rcs = [ReconnectingClient(server.ack_url, initial_delay=initial_delay, factor=factor,
                              max_delay=max_delay, jitter=jitter, seed=seed + i,
                              backoff=backoff)
           for i in range(clients)]
    try:
        _wait(lambda: all(rc.state is State.OPEN for rc in rcs), timeout)
        t0 = time.monotonic()
        server.stop()
        time.sleep(restart_after)  # the outage itself: nothing to wait for
        server = serve(name=f"herd-{jitter}", port=port)
        listening = time.monotonic() - t0
        back = _wait(lambda: all(rc.state is State.OPEN and rc.stats.connects >= 2 for rc in rcs),
                     timeout)
        pairs = [(a - t0, d - t0) for rc in rcs
                 for a, d in zip(rc.stats.attempts, rc.stats.due, strict=False) if a > t0]
        return HerdResult(label or jitter, clients, listening, sorted(a for a, _ in pairs),
                          (back - t0) if back is not None else None,
                          due=[d for _, d in pairs],
                          max_late=max((a - d for a, d in pairs), default=0.0))
    finally:
        for rc in rcs:
            rc.stop()
        server.stop()


def _wait(pred, timeout: float) -> float | None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        time.sleep(0.005)
    return None
