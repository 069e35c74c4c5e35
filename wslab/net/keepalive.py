"""The heartbeat: ping frames on an interval, a dead peer detected (layer 2).

RFC 6455 section 5.5.2: a ping may be sent at any time after the handshake and
the peer must answer with a pong (5.5.3).  ``mode="fixed"`` is the design of
the ``websockets`` library: a ping every ``interval`` seconds whatever the
traffic; ``mode="idle"`` that of aiohttp: a ping only after ``interval``
seconds with nothing received (``last_received``).  Either way, a pong that
does not arrive within ``timeout`` seconds declares the peer dead: the
keepalive reports it (``on_timeout(reason)``) and fails the connection
(``abort(reason)``).

One loop serves both ends: :class:`Keepalive` knows nothing of a client or a
server, only callables.  The client's keepalive starts the closing handshake
with 1011 "keepalive timeout" (state CLOSING at once), waits at most
``close_timeout`` for an answer that a dead peer will never send, then drops
TCP: its final close code is 1006 (no Close frame received, RFC 6455 7.1.5)
with the reason naming the keepalive timeout.  The server's heartbeat
(``serve(ping_interval=...)``) records every ping and pong as an event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["MODES", "Keepalive", "PongSample"]

MODES = ("fixed", "idle")


@dataclass(frozen=True)
class PongSample:
    """One answered ping: when it was sent (monotonic s) and its round trip (s)."""

    t: float
    rtt: float


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} is a number of seconds > 0, got {value!r}")
    return float(value)


class Keepalive:
    """One connection's ping loop; runs on the lab loop.

    ``ping(payload, timeout)`` sends a ping and waits for its pong: its round
    trip in seconds, ``TimeoutError`` when none came in ``timeout``, None or any
    other exception when the connection went away (the loop then ends quietly).
    ``is_open()`` says whether to go on.  On a timeout ``on_timeout(reason)`` is
    called, then ``await abort(reason)`` fails the connection.  ``prefix`` starts
    every ping payload (``prefix`` + the ping's number).
    """

    def __init__(self, *, ping: Callable[[bytes, float], Awaitable[Any]],
                 is_open: Callable[[], bool], on_timeout: Callable[[str], None],
                 abort: Callable[[str], Awaitable[None]], interval: float, timeout: float,
                 mode: str = "fixed", prefix: str = "keepalive-") -> None:
        if mode not in MODES:
            raise ValueError(f"ping_mode is 'fixed' (a ping every interval, like websockets) "
                             f"or 'idle' (a ping after an interval without data, like "
                             f"aiohttp), got {mode!r}")
        self.interval = _seconds("ping_interval", interval)
        self.timeout = _seconds("ping_timeout", timeout)
        self.mode = mode
        self.prefix = prefix
        self.close_timeout = min(self.timeout, 1.0)
        self.last_received = time.monotonic()
        self.samples: list[PongSample] = []
        self.timed_out_at: float | None = None  # monotonic seconds of the decision
        self.unanswered_ping_at: float | None = None  # when the ping that got no pong left
        self.last_pong_at: float | None = None
        self.pings_sent = 0
        self._ping, self._is_open = ping, is_open
        self._on_timeout, self._abort = on_timeout, abort
        self._task: asyncio.Task[None] | None = None
        self._n = 0

    def start(self) -> None:
        """Start the loop on the running (lab) loop."""
        self._task = asyncio.ensure_future(self.run())

    def cancel(self) -> None:
        """Stop the loop (the connection closed)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def received(self) -> None:
        """Data arrived: in ``idle`` mode the clock restarts."""
        self.last_received = time.monotonic()

    async def _quiet(self) -> None:
        """Wait until ``interval`` seconds passed without data (aiohttp's rule)."""
        while time.monotonic() - self.last_received < self.interval:
            await asyncio.sleep(self.last_received + self.interval - time.monotonic())

    async def run(self) -> None:
        """Ping every interval until the connection closes or a pong is missed."""
        try:
            next_at = time.monotonic() + self.interval
            while self._is_open():
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                if self.mode == "idle":
                    await self._quiet()
                if not self._is_open():
                    return
                self._n += 1
                sent = time.monotonic()
                next_at = sent + self.interval
                try:
                    rtt = await self._ping(f"{self.prefix}{self._n}".encode(), self.timeout)
                except TimeoutError:
                    self.unanswered_ping_at = sent
                    await self._fail()
                    return
                except Exception:  # noqa: BLE001 - the connection closed under us
                    return
                if rtt is None:
                    return
                self.last_pong_at = self.last_received = time.monotonic()
                self.samples.append(PongSample(sent, float(rtt)))
                self.pings_sent += 1
        except asyncio.CancelledError:
            pass

    async def _fail(self) -> None:
        self.timed_out_at = time.monotonic()
        reason = f"keepalive timeout: no pong within {self.timeout:g} s"
        self._on_timeout(reason)
        await self._abort(reason)
