"""Experiments for notebook 05: how fast does a heartbeat notice a dead connection? (layer 2)

A client talks to the server through a :class:`~wslab.net.faults.FaultProxy`;
at a random moment the proxy starts *blackholing*: the TCP connection stays
open but nothing arrives any more, the half-open connection that TCP alone
does not notice for minutes.  The client's keepalive (a ping every
``interval``, a pong expected within ``timeout``) notices; the time from the
failure to that decision is the detection time.  With fixed-interval pings the
worst case is one interval (the failure just after a pong) plus the timeout.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from ..net.client import connect
from ..net.faults import FaultProxy
from ..net.server import serve

SLACK = 0.10  # the bound allows 10 % on top of interval + timeout


@dataclass(frozen=True)
class DetectionRecord:
    interval: float
    timeout: float
    trial: int
    detection_s: float | None  # None: not detected within the wait
    close_code: int | None
    close_reason: str

    @property
    def bound_s(self) -> float:
        return (self.interval + self.timeout) * (1 + SLACK)

    @property
    def within_bound(self) -> bool:
        return self.detection_s is not None and self.detection_s <= self.bound_s


def detection_experiment(settings: list[tuple[float, float]] = ((0.2, 0.2), (0.5, 0.2), (0.2, 0.5)),
                         *, trials: int = 3, seed: int = 0) -> list[DetectionRecord]:
    """For each (interval, timeout): blackhole at a random moment, time the detection.

    Bounded: at most 20 trials per setting, settings up to 10 s each.
    """
    if not isinstance(trials, int) or not 1 <= trials <= 20:
        raise ValueError(f"trials is an integer 1-20, got {trials!r}")
    for interval, timeout in settings:
        if not (0 < interval <= 10 and 0 < timeout <= 10):
            raise ValueError(f"interval and timeout are seconds in (0, 10], got {(interval, timeout)}")
    rng = random.Random(seed)
    records = []
    server = serve(name="heartbeat-lab")
    proxy = FaultProxy(server.url)
    try:
        for interval, timeout in settings:
            for trial in range(trials):
                client = connect(proxy.url, ping_interval=interval, ping_timeout=timeout)
                try:
                    time.sleep(rng.uniform(0.05, 0.05 + interval))  # fail at a random phase
                    proxy.set("blackhole")
                    t_fail = time.monotonic()
                    deadline = t_fail + 2 * (interval + timeout) + 2
                    while client.keepalive.timed_out_at is None and time.monotonic() < deadline:
                        time.sleep(0.002)
                    ka = client.keepalive
                    records.append(DetectionRecord(
                        interval, timeout, trial,
                        None if ka.timed_out_at is None else ka.timed_out_at - t_fail,
                        client.close_code, client.close_reason or ""))
                finally:
                    proxy.clear()
                    client.stop()
                    proxy.reset_all()
    finally:
        proxy.stop()
        server.stop()
    return records
