"""Client-side heartbeat: ping frames on a fixed interval, a dead peer detected (layer 2).

RFC 6455 section 5.5.2: a ping may be sent at any time after the handshake and
the peer must answer with a pong (5.5.3).  This is the *fixed-interval* design
of the ``websockets`` library: a ping every ``interval`` seconds whatever the
traffic; if its pong does not arrive within ``timeout`` seconds the connection
is declared dead.  (aiohttp instead pings only when nothing was received for an
interval; notebook 05 compares both.)

On timeout the client starts the closing handshake with 1011 and reason
"keepalive timeout" (state CLOSING at once), waits at most ``close_timeout``
for an answer that a dead peer will never send, then drops TCP: the final
close code is 1006 (no Close frame received, RFC 6455 7.1.5) with the reason
naming the keepalive timeout.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..protocol.state import State

if TYPE_CHECKING:
    from .client import Client


@dataclass(frozen=True)
class PongSample:
    """One answered ping: when it was sent (monotonic s) and its round trip (s)."""

    t: float
    rtt: float


class Keepalive:
    """The ping loop of one client; runs on the lab loop."""

    def __init__(self, client: Client, interval: float, timeout: float, mode: str = "fixed") -> None:
        if mode not in ("fixed", "idle"):
            raise ValueError(f"ping_mode is 'fixed' (a ping every interval, like websockets) or "
                             f"'idle' (a ping after an interval without data, like aiohttp), got {mode!r}")
        self.mode = mode
        self.last_received = time.monotonic()
        for name, value in (("ping_interval", interval), ("ping_timeout", timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} is a number of seconds > 0, got {value!r}")
        self.client = client
        self.interval = float(interval)
        self.timeout = float(timeout)
        self.close_timeout = min(self.timeout, 1.0)
        self.samples: list[PongSample] = []
        self.timed_out_at: float | None = None  # monotonic seconds of the decision
        self.unanswered_ping_at: float | None = None  # when the ping that got no pong left
        self.last_pong_at: float | None = None
        self._task: asyncio.Task | None = None
        self._n = 0
        self.pings_sent = 0

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        c = self.client
        try:
            while c.state == State.OPEN:
                await asyncio.sleep(self.interval)
                if self.mode == "idle":
                    # aiohttp-style: any data received restarts the clock; ping only when quiet
                    while time.monotonic() - self.last_received < self.interval:
                        await asyncio.sleep(self.last_received + self.interval - time.monotonic())
                if c.state != State.OPEN:
                    return
                self._n += 1
                sent = time.monotonic()
                try:
                    rtt = await c._aping(f"keepalive-{self._n}".encode(), self.timeout)
                except TimeoutError:
                    self.unanswered_ping_at = sent
                    await self._fail()
                    return
                except Exception:  # noqa: BLE001 - the connection closed under us
                    return
                self.last_pong_at = self.last_received = time.monotonic()
                self.samples.append(PongSample(sent, rtt))
                self.pings_sent += 1
        except asyncio.CancelledError:
            pass

    async def _fail(self) -> None:
        c = self.client
        self.timed_out_at = time.monotonic()
        reason = f"keepalive timeout: no pong within {self.timeout:g} s"
        c._note_keepalive_timeout(reason)
        await c._aabort_after_close(1011, "keepalive timeout", self.close_timeout, reason)
