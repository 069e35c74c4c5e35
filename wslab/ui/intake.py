"""What the kernel keeps of the reports a browser page sends it (layer 4, presentation).

A page's reports arrive as fast as its peer makes them: a peer that sends 20,000
messages makes 20,000 reports.  :class:`Intake` admits them at a bounded rate
(events a second and bytes a second, each a token bucket with a burst of one
second's worth), keeps at most ``max_events`` of them and ``max_bytes`` of their
JSON in all (oldest dropped first), refuses any single report over
``max_event_bytes``, and counts everything it did not keep.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Intake"]


class Intake:
    """A bounded, rate-limited store of report dicts, oldest first.

    Reports whose ``type`` is in ``always`` (lifecycle reports such as open and
    close, a handful per connection) skip the rate limit but still count toward
    the size bounds.
    """

    def __init__(self, *, max_events: int, max_bytes: int, max_event_bytes: int,
                 events_per_s: float, bytes_per_s: float, always: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        for name, value in (("max_events", max_events), ("max_bytes", max_bytes),
                            ("max_event_bytes", max_event_bytes),
                            ("events_per_s", events_per_s), ("bytes_per_s", bytes_per_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} is a positive number, got {value!r}")
        self.max_events, self.max_bytes = int(max_events), int(max_bytes)
        self.max_event_bytes = int(max_event_bytes)
        self.events_per_s, self.bytes_per_s = float(events_per_s), float(bytes_per_s)
        self.always = frozenset(always)
        self._clock = clock
        self._items: deque[tuple[dict[str, Any], int]] = deque()
        self.kept_bytes = 0
        self.accepted = 0   # reports admitted (some may since have been pushed out)
        self.dropped = 0    # reports refused: over the rate, or one report too large
        self.evicted = 0    # admitted reports pushed out by newer ones
        self._event_tokens = self.events_per_s
        self._byte_tokens = self.bytes_per_s
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed, self._at = max(0.0, now - self._at), now
        self._event_tokens = min(self.events_per_s,
                                 self._event_tokens + elapsed * self.events_per_s)
        self._byte_tokens = min(self.bytes_per_s, self._byte_tokens + elapsed * self.bytes_per_s)

    def offer(self, report: dict[str, Any]) -> bool:
        """Keep ``report`` if the rate and size bounds allow; True when it was kept."""
        size = len(json.dumps(report, default=str))
        if size > self.max_event_bytes:
            self.dropped += 1
            return False
        if report.get("type") not in self.always:
            self._refill()
            if self._event_tokens < 1 or self._byte_tokens < size:
                self.dropped += 1
                return False
            self._event_tokens -= 1
            self._byte_tokens -= size
        self._items.append((report, size))
        self.kept_bytes += size
        self.accepted += 1
        while len(self._items) > self.max_events or self.kept_bytes > self.max_bytes:
            _, old = self._items.popleft()
            self.kept_bytes -= old
            self.evicted += 1
        return True

    def items(self) -> list[dict[str, Any]]:
        """The kept reports, oldest first."""
        return [report for report, _ in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        """Counts: ``accepted``, ``dropped`` (refused), ``evicted`` (pushed out),
        ``kept`` and ``kept_bytes``."""
        return {"accepted": self.accepted, "dropped": self.dropped, "evicted": self.evicted,
                "kept": len(self._items), "kept_bytes": self.kept_bytes}
