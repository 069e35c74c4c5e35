"""Throttled widget refresh (layer 3): at most one redraw per interval, the last one always runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..net import loop as lab


class Throttle:
    """Call ``fn`` soon after :meth:`poke`, but not more often than every ``interval`` s.

    Pokes come from the lab loop (events) and from the kernel thread (twins);
    the redraw itself always runs on the lab loop, so widget updates never race.
    """

    def __init__(self, fn: Callable[[], None], interval: float = 0.1) -> None:
        self._fn = fn
        self._interval = interval
        self._pending = False
        self._last = 0.0
        self._lock = threading.Lock()

    def poke(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        lab.call_soon(self._schedule)

    def _schedule(self) -> None:
        delay = max(0.0, self._last + self._interval - time.monotonic())
        lab.get_loop().call_later(delay, self._run)

    def _run(self) -> None:
        with self._lock:
            self._pending = False
        self._last = time.monotonic()
        try:
            self._fn()
        except Exception:  # noqa: BLE001 - a redraw must never break the lab loop
            pass
