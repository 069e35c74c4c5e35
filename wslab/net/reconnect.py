"""``wslab.ReconnectingClient``: reconnect with backoff, deliver exactly once (layer 2, I/O).

The WebSocket protocol never reconnects: a dropped connection is closed (1006)
and that is the end of it (RFC 6455 section 7).  Reconnection is the
application's job; this client does it the way production libraries do:

* exponential backoff ``min(max_delay, initial_delay * factor**attempt)``
  with *jitter* so that many clients do not retry in lock-step
  ("none", "full": uniform in [0, d], "equal": d/2 + uniform in [0, d/2]);
* an attempt limit, and no retrying at all when retrying cannot help: a
  handshake refused with 401/403/404, or a close with 1008 or 4000-4999;
* nothing lost: messages sent while disconnected wait in a bounded queue
  (overflow raises :class:`QueueFull`, nothing is dropped silently), every
  message carries a sequence number, and the server's ``/ack`` route
  acknowledges and de-duplicates them, so each is delivered exactly once and
  in order; broadcasts missed while away are replayed on reconnect.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..protocol.ack import RESET_REASON
from ..protocol.errors import WSLabError
from ..protocol.state import State
from . import loop as lab
from .client import Client
from .errors import ConnectionFailed, LabTimeout

JITTERS = ("none", "full", "equal")
FATAL_STATUS = (401, 403, 404)
ATTEMPTS_KEPT = 10_000  # per client: stats.attempts and stats.due keep the latest this many


class QueueFull(WSLabError):
    """The send queue of a ReconnectingClient is full; nothing was dropped."""


def backoff_delay(attempt: int, *, initial_delay: float, factor: float, max_delay: float,
                  jitter: str, rng: random.Random) -> float:
    """The wait before retry number ``attempt`` (0-based), in seconds (pure function)."""
    if jitter not in JITTERS:
        raise ValueError(f"jitter is one of {JITTERS}, got {jitter!r}")
    base = min(max_delay, initial_delay * factor ** attempt)
    if jitter == "full":
        return rng.uniform(0, base)
    if jitter == "equal":
        return base / 2 + rng.uniform(0, base / 2)
    return base


@dataclass(frozen=True)
class RcEvent:
    """A state change or attempt of a ReconnectingClient (monotonic seconds)."""

    t: float
    kind: str  # "connecting", "open", "closed", "reset", "waiting", "failed", "gave-up",
    #            "stopped"
    attempt: int = 0
    delay: float | None = None
    code: int | None = None
    detail: str = ""


@dataclass
class RcStats:
    connects: int = 0
    drops: int = 0
    resent: int = 0
    pruned: int = 0  # delivered before a drop whose ack was lost: not resent (welcome.next)
    acked: int = 0
    events_received: int = 0
    events_lost: int = 0
    duplicate_events: int = 0
    resets: int = 0  # the server's /ack state was reset (close 1012, RESET_REASON)
    messages_lost: int = 0  # unacknowledged at a reset: outcome unknown, not resent
    # monotonic time of each attempt (the latest ATTEMPTS_KEPT)
    attempts: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=ATTEMPTS_KEPT), repr=False)
    # monotonic time each attempt was due: the previous failure plus the backoff delay.
    # ``attempts[i] - due[i]`` is how late the event loop started it (a busy machine).
    due: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=ATTEMPTS_KEPT), repr=False)


def _is_fatal_close(code: int | None) -> bool:
    return code == 1008 or (code is not None and 4000 <= code <= 4999)


class ReconnectingClient:
    """A client of a LabServer's ``/ack`` route that survives drops (layer 2).  See module doc."""

    _stop_order = 0

    def __init__(self, url: str, *, initial_delay: float = 0.5, max_delay: float = 30.0,
                 factor: float = 2.0, jitter: str = "full", max_attempts: int | None = None,
                 queue_max: int = 10_000, ping_interval: float | None = None,
                 ping_timeout: float | None = None, connect_timeout: float = 5.0,
                 session: str | None = None, seed: int | None = None, start: bool = True,
                 backoff: Any = None) -> None:
        for name, value in (("initial_delay", initial_delay), ("max_delay", max_delay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} is a number of seconds >= 0, got {value!r}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor < 1:
            raise ValueError(f"factor is a number >= 1, got {factor!r}")
        if jitter not in JITTERS:
            raise ValueError(f"jitter is one of {JITTERS}, got {jitter!r}")
        if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
            raise ValueError(f"max_attempts is a positive integer or None, got {max_attempts!r}")
        if not isinstance(queue_max, int) or queue_max < 1:
            raise ValueError(f"queue_max is a positive integer, got {queue_max!r}")
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"a WebSocket URL starts with ws:// or wss://, got {url!r}")
        self.url = url
        self.initial_delay, self.max_delay, self.factor = initial_delay, max_delay, factor
        self.jitter, self.max_attempts, self.queue_max = jitter, max_attempts, queue_max
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.connect_timeout = connect_timeout
        if backoff is not None and not callable(backoff):
            raise ValueError("backoff is a function backoff(attempt, rng) -> seconds, or None")
        self.backoff = backoff  # replaces backoff_delay(...): the learner's own (notebook 06)
        self.session = session or uuid.uuid4().hex[:12]
        self.rng = random.Random(seed)
        # what the reconnect loop is doing: idle, connecting, open, waiting, gave-up, stopped
        self.phase = "idle"
        self.events: list[RcEvent] = []
        self.stats = RcStats()
        self.gave_up: str | None = None
        self.client: Client | None = None
        self._next_seq = 1
        self._unacked: collections.deque[tuple[int, Any]] = collections.deque()
        # what a reset of the server's /ack state left with an unknown outcome (newest kept)
        self.lost_messages: collections.deque[Any] = collections.deque(maxlen=queue_max)
        self._last_event = 0
        self._inbox: collections.deque[Any] = collections.deque()
        self._inbox_waiter: asyncio.Future | None = None
        self._drained: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._welcomed = False
        self._session_used = False  # a server welcomed this session (it holds state for it)
        if start:
            self.start()

    # --- life cycle ------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            lab.run(self._astart(), what="starting ReconnectingClient")
            lab.register(self)

    async def _astart(self) -> None:
        self._drained = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    def _event(self, kind: str, **kw: Any) -> None:
        self.events.append(RcEvent(time.monotonic(), kind, **kw))
        if kind in ("connecting", "open", "waiting", "gave-up", "stopped"):
            self.phase = kind

    @property
    def state(self) -> State:
        """The readyState, the same :class:`~wslab.protocol.state.State` as ``Client.state``.

        OPEN (or CLOSING) while a connection is up; CONNECTING while an attempt runs
        and while waiting to retry (the client will connect again); CLOSED before
        ``start()``, after giving up and after ``stop()``.  ``phase`` says which.
        """
        phase = self.phase
        if phase == "open":
            client = self.client
            return client.state if client is not None else State.CLOSED
        if phase in ("connecting", "waiting"):
            return State.CONNECTING
        return State.CLOSED

    async def _run(self) -> None:
        attempt = 0
        due = time.monotonic()
        try:
            while True:
                self._event("connecting", attempt=attempt)
                self.stats.attempts.append(time.monotonic())
                self.stats.due.append(due)
                client = Client(self.url, ping_interval=self.ping_interval,
                                ping_timeout=self.ping_timeout)
                try:
                    await client.aconnect(self.connect_timeout)
                except ConnectionFailed as exc:
                    self._event("failed", attempt=attempt, detail=exc.cause)
                    if exc.status in FATAL_STATUS:
                        self._give_up(f"the handshake was refused with HTTP {exc.status}: "
                                      "retrying cannot help")
                        return
                else:
                    self.client = client
                    attempt = 0
                    code = await self._session(client)
                    self.client = None
                    self.stats.drops += 1
                    self._event("closed", code=code, detail=client.close_reason or "")
                    if code == 1012 and client.close_reason == RESET_REASON:
                        self._reset()
                    if _is_fatal_close(code):
                        why = f"{code} {client.close_reason or ''}".strip()
                        self._give_up(f"the server closed with {why}: retrying cannot help")
                        return
                if self.max_attempts is not None and attempt + 1 >= self.max_attempts:
                    self._give_up(f"{attempt + 1} attempt(s) failed "
                                  f"(max_attempts={self.max_attempts})")
                    return
                delay = self._delay(attempt)
                self._event("waiting", attempt=attempt + 1, delay=delay)
                due = time.monotonic() + delay
                await asyncio.sleep(delay)
                attempt += 1
        except asyncio.CancelledError:
            if self.client is not None:
                await self.client.aclose(1000, "client stopping", timeout=2)
            self._event("stopped")

    def _delay(self, attempt: int) -> float:
        if self.backoff is None:
            return backoff_delay(attempt, initial_delay=self.initial_delay, factor=self.factor,
                                 max_delay=self.max_delay, jitter=self.jitter, rng=self.rng)
        try:
            delay = float(self.backoff(attempt, self.rng))
        except Exception as exc:  # noqa: BLE001 - a learner's function; recorded, then a safe wait
            self._event("failed", attempt=attempt,
                        detail=f"backoff raised {type(exc).__name__}: {exc}")
            return self.max_delay
        return min(max(delay, 0.0), 3600.0)

    def _reset(self) -> None:
        """The server lost this session: what it did not acknowledge may or may not have
        been delivered, so it is reported lost (``lost_messages``), never sent twice; the
        session starts over at seq 1."""
        lost = [data for _, data in self._unacked]
        self._unacked.clear()
        self.lost_messages.extend(lost)
        self.stats.messages_lost += len(lost)
        self.stats.resets += 1
        self._next_seq = 1
        self._session_used = False
        self._event("reset", detail=f"{len(lost)} unacknowledged message(s) lost")
        self._check_drained()

    def _give_up(self, why: str) -> None:
        self.gave_up = why
        self._event("gave-up", detail=why)
        self._wake_inbox()

    async def _session(self, client: Client) -> int | None:
        """One connection: hello, resend what is unacknowledged, then pump until closed."""
        self._welcomed = False
        hello = json.dumps({"op": "hello", "session": self.session, "last_seen": self._last_event})
        client.send_soon(hello)
        self.stats.connects += 1
        self._event("open")
        while True:
            try:
                text = await client.arecv(None)
            except WSLabError:
                break
            self._handle(client, text)
        return client.close_code

    def _handle(self, client: Client, text: str | bytes) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            return
        op = msg.get("op")
        if op == "welcome":
            if msg.get("new") is True and self._session_used:
                self._reset()  # the server no longer has this session (reset or expired)
            self._session_used = True
            nxt = int(msg.get("next", 1))
            while self._unacked and self._unacked[0][0] < nxt:
                self._unacked.popleft()  # delivered, but its ack was lost with the connection
                self.stats.acked += 1
                self.stats.pruned += 1
            self.stats.events_lost += int(msg.get("lost", 0))
            self._welcomed = True
            for seq, data in self._unacked:  # everything not yet acknowledged, in order
                self._write(client, seq, data)
                self.stats.resent += 1
            self._check_drained()
        elif op == "ack":
            seq = msg.get("seq", 0)
            while self._unacked and self._unacked[0][0] <= seq:
                self._unacked.popleft()
                self.stats.acked += 1
            self._check_drained()
        elif op == "event":
            seq = msg.get("seq", 0)
            if seq <= self._last_event:
                self.stats.duplicate_events += 1
                return
            self._last_event = seq
            self.stats.events_received += 1
            self._inbox.append(msg.get("data"))
            self._wake_inbox()

    def _write(self, client: Client, seq: int, data: Any) -> None:
        # not OPEN: resent after the reconnect
        client.send_soon(json.dumps({"op": "msg", "seq": seq, "data": data}))

    def _check_drained(self) -> None:
        if self._drained is not None:
            if self._unacked:
                self._drained.clear()
            else:
                self._drained.set()

    def _wake_inbox(self) -> None:
        w = self._inbox_waiter
        if w is not None and not w.done():
            w.set_result(None)

    # --- the facade -----------------------------------------------------------------------
    async def _asend(self, data: Any) -> int:
        if len(self._unacked) >= self.queue_max:
            raise QueueFull(f"{len(self._unacked)} messages are waiting for an acknowledgement "
                            f"(queue_max={self.queue_max}); nothing was dropped: wait with "
                            "flush() or raise queue_max")
        if self.gave_up:
            raise WSLabError(f"this client gave up: {self.gave_up}")
        seq = self._next_seq
        self._next_seq += 1
        self._unacked.append((seq, data))
        self._check_drained()
        if self.client is not None and self._welcomed:
            self._write(self.client, seq, data)
        return seq

    def send(self, data: Any) -> int:
        """Queue ``data`` (anything JSON can carry); returns its sequence number.

        Sent at once when connected, else after the next (re)connect.
        """
        json.dumps(data)  # a ValueError/TypeError here, in the caller, not later
        return lab.run(self._asend(data), what="ReconnectingClient.send")

    async def _aflush(self, timeout: float) -> None:
        if self._drained is not None:
            await asyncio.wait_for(self._drained.wait(), timeout)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the server acknowledged every message sent so far."""
        try:
            lab.run(self._aflush(timeout), timeout=timeout + 5, what="flush")
        except (asyncio.TimeoutError, TimeoutError):
            raise LabTimeout(f"{len(self._unacked)} message(s) still unacknowledged after "
                             f"{timeout} s (phase {self.phase})") from None

    async def _arecv(self, timeout: float | None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._inbox:
            if self.gave_up:
                raise WSLabError(f"this client gave up: {self.gave_up}")
            self._inbox_waiter = asyncio.get_running_loop().create_future()
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                await asyncio.wait_for(self._inbox_waiter, remaining)
            except asyncio.TimeoutError:
                raise LabTimeout(f"no event within {timeout} s (phase {self.phase})") from None
        return self._inbox.popleft()

    def recv(self, timeout: float | None = 5.0) -> Any:
        """The next server event (``server.ack_broadcast``), in order, each exactly once."""
        return lab.run(self._arecv(timeout), timeout=None if timeout is None else timeout + 5,
                       what="ReconnectingClient.recv")

    @property
    def pending(self) -> int:
        """Messages queued or sent but not yet acknowledged."""
        return len(self._unacked)

    async def _astop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        """Stop reconnecting and close the current connection (1000).  Safe twice."""
        if self._task is not None:
            lab.run(self._astop(), timeout=timeout, what="stopping ReconnectingClient")
        lab.unregister(self)

    def __repr__(self) -> str:
        return (f"<ReconnectingClient {self.url} {self.state.name} ({self.phase}) "
                f"session={self.session} "
                f"pending={self.pending} connects={self.stats.connects}>")
