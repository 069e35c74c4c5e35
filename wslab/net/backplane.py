"""The Redis backplane: one broadcast reaches every client of every server process (layer 2, I/O).

One server process knows only its own clients.  With several processes behind a
load balancer, a message sent on process A must also reach the clients of B.
The common answer (Socket.IO's Redis adapter, Django Channels, ActionCable) is a
pub/sub *backplane*, and this module is that answer built on Redis:

* every server subscribes to ONE Redis channel (``<namespace>:bus``);
* a broadcast, a ``/chat`` message or a ``/pubsub`` publication is delivered to
  the local clients at once and published ONCE on the bus, tagged with the
  sending server's node id; every other server delivers it to its own local
  clients; the sender ignores its own copy.  So each client gets it exactly once,
  and the local clients keep getting messages while Redis is away;
* while Redis is away, broadcasts reach the local clients only (the others are
  counted as ``dropped``, and ``/ack`` clients are sent to another server with
  1013); the server reconnects on its own;
* the ``/ack`` route's state lives in Redis (:mod:`wslab.net.redis_ack`, under the
  same bounds as one server's memory), so a ``ReconnectingClient`` may reconnect to
  ANY process; numbered events are published on the bus by the script that numbers
  them.  Each server delivers events in number order and fills any gap from the
  replay stream, so exactly-once holds through a process restart and through a
  lost subscription.

The backplane is the server's :class:`~wslab.net.relay.Relay` and reaches
the server only through its :class:`~wslab.net.relay.RelayHost`.

Everything runs on the lab loop with ``redis.asyncio`` (never a blocking call);
the ``redis`` package is imported only when a server is given a backplane.
State changes (``connected``, ``lost``, ``recovered``) are ``backplane`` events
in ``server.events``.  Memory is bounded by design: the outbox of messages on
their way to Redis has a cap, and the ``/ack`` state obeys
:class:`~wslab.protocol.ack.AckLimits`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aredis

from ..protocol.ack import AckLimits, AckStoreUnavailable, SessionView, event_message
from . import loop as lab
from .errors import ServerStartError
from .redis_ack import REDIS_ERRORS, RedisAckStore
from .relay import RelayHost

OUTBOX_MAX = 1000
TRACE_MAX = 2000
RETRY_MAX = 2.0
STOP_TIMEOUT = 2.0  # seconds astop waits for its tasks to end
_ERRORS = REDIS_ERRORS


class BackplaneUnavailable(AckStoreUnavailable, ConnectionError):
    """Redis cannot be reached for something only Redis can do (number an event)."""


def check_url(url: str) -> str:
    """``redis://host:port/db``; anything else is a ValueError saying so."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("backplane is a Redis URL such as 'redis://127.0.0.1:6379/0', "
                         f"got {url!r}")
    return url


@dataclass
class BackplaneStats:
    """Counters of one server's backplane (messages, not bytes)."""

    published: int = 0      # broadcasts and publications this server put on the bus
    received: int = 0       # bus messages from other servers, delivered locally
    own_skipped: int = 0    # our own messages coming back from the bus (ignored)
    events: int = 0         # numbered /ack events delivered to local clients' queue
    gap_filled: int = 0     # /ack events fetched from the stream after a gap
    dropped: int = 0        # not relayed: Redis was away (or the outbox overflowed)
    lost: int = 0           # times the connection to Redis was lost
    recovered: int = 0      # times it came back


#: a ``/ack`` session as Redis holds it (``backplane.session(sid)``)
Session = SessionView


class Backplane:
    """One server's link to Redis: the bus, the outbox, the /ack store (lab loop only)."""

    def __init__(self, host: RelayHost, url: str, *, namespace: str = "wslab",
                 limits: AckLimits | None = None, outbox_max: int = OUTBOX_MAX) -> None:
        self.host = host
        self.url = check_url(url)
        self.namespace = namespace
        self.node = f"{host.name}@{os.getpid()}.{uuid.uuid4().hex[:6]}"
        self.channel = f"{namespace}:bus"
        self.limits = limits if limits is not None else AckLimits()
        self.state = "connecting"
        self.stats = BackplaneStats()
        # (t_ns, "publish" | "receive", kind, bytes): the Redis hop, made visible
        self.trace: collections.deque[tuple[int, str, str, int]] = \
            collections.deque(maxlen=TRACE_MAX)
        self._outbox: collections.deque[str] = collections.deque()
        self.outbox_max = outbox_max
        self._wake = asyncio.Event()   # (bound to the lab loop when first awaited)
        self._cmd: aredis.Redis | None = None
        self._store: RedisAckStore | None = None
        self._tasks: list[asyncio.Task] = []
        self._lost_at: float | None = None
        self._ack_seen: int | None = None   # highest event number handed to local clients
        self._events_q: asyncio.Queue[tuple[int, str | None]] = asyncio.Queue()
        self._subscribed = asyncio.Event()

    def _client(self) -> aredis.Redis:
        return aredis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)

    # --- life cycle (lab loop) ------------------------------------------------------------
    async def astart(self, timeout: float = 5.0) -> None:
        """Connect and subscribe; a Redis that cannot be reached is a clear error here."""
        self._cmd = cmd = self._client()
        try:
            await asyncio.wait_for(cmd.ping(), timeout)
        except (*_ERRORS, asyncio.TimeoutError) as exc:
            await cmd.aclose()
            raise ServerStartError(
                f"cannot reach the Redis backplane at {self.url}: {exc or type(exc).__name__} "
                "(start one with wslab.net.services.redis(), or let wslab.cluster() do it)"
            ) from None
        self._store = RedisAckStore(cmd, namespace=self.namespace, channel=self.channel,
                                    limits=self.limits, node=self.node, on_lost=self._set_lost)
        self._tasks = [asyncio.ensure_future(self._subscriber()),
                       asyncio.ensure_future(self._publisher()),
                       asyncio.ensure_future(self._event_pump())]
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except asyncio.TimeoutError:
            await self.astop()
            raise ServerStartError(f"could not subscribe to {self.channel} on {self.url} "
                                   f"within {timeout} s") from None

    async def astop(self) -> None:
        self.state = "stopped"
        for t in self._tasks:
            t.cancel()
        if self._tasks:  # a task that swallows its cancellation must not hang the stop
            await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
        self._tasks = []
        if self._cmd is not None:
            try:
                await self._cmd.aclose()
            except _ERRORS:
                pass
        self.state = "stopped"

    def _record(self, what: str, **extra: Any) -> None:
        self.host.record(what, {"node": self.node, "url": self.url, **extra})

    def _set_lost(self, exc: BaseException) -> None:
        if self.state in ("lost", "stopped"):
            return
        self.state = "lost"
        self._lost_at = time.monotonic()
        self.stats.lost += 1
        self.stats.dropped += len(self._outbox)
        self._outbox.clear()
        self._record("lost", error=f"{type(exc).__name__}: {exc}",
                     effect="local clients are still served; other servers are out of reach")

    def _set_connected(self) -> None:
        if self.state == "lost":
            down = time.monotonic() - (self._lost_at or time.monotonic())
            self.state = "connected"
            self.stats.recovered += 1
            self._record("recovered", down_s=round(down, 3), outbox=len(self._outbox),
                         dropped=self.stats.dropped)
            self._wake.set()
        elif self.state == "connecting":
            self.state = "connected"
            self._record("connected", channel=self.channel)

    # --- the bus: receiving ------------------------------------------------------------------
    async def _subscriber(self) -> None:
        delay = 0.05
        while self.state != "stopped":
            client = self._client()
            ps = client.pubsub()
            try:
                await ps.subscribe(self.channel)
                # wait for Redis to confirm: from then on every publication reaches us
                while True:
                    msg = await ps.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "subscribe":
                        break
                current = await self.ack_store().current()
                await self._catch_up(current)
                self._set_connected()
                self._subscribed.set()
                delay = 0.05
                while True:
                    msg = await ps.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "message":
                        self._on_bus(msg["data"])
            except asyncio.CancelledError:
                raise
            except _ERRORS as exc:
                self._set_lost(exc)
            finally:
                await _close_quietly(ps, client)
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    async def _catch_up(self, current: int) -> None:
        """After (re)subscribing: queue the events numbered while we were not listening."""
        if self._ack_seen is None:
            self._ack_seen = current  # a new server starts at the present
            return
        if current > self._ack_seen:
            await self._events_q.put((current, None))  # a marker: fill up to ``current``

    def _on_bus(self, raw: bytes | str) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        kind = msg.get("k")
        size = len(raw)
        if kind == "e":
            self.trace.append((time.monotonic_ns(), "receive", "event", size))
            self._events_q.put_nowait((int(msg["s"]), json.dumps(msg.get("d"))))
            return
        if msg.get("n") == self.node:
            self.stats.own_skipped += 1
            return
        self.stats.received += 1
        self.trace.append((time.monotonic_ns(), "receive", kind or "?", size))
        if kind == "b":
            message: str | bytes = base64.b64decode(msg["b64"]) if "b64" in msg else msg["t"]
            self.host.broadcast(message, msg.get("path"))
        elif kind == "p":
            self.host.publish(msg["ch"], msg.get("d"), msg.get("from"))

    # --- the bus: sending ------------------------------------------------------------------------
    def _enqueue(self, envelope: dict[str, Any]) -> None:
        if self.state == "lost":
            # Pub/sub keeps nothing for a subscriber that is not there: a message held
            # back now could reach some servers and not others.  Counted, never silent.
            self.stats.dropped += 1
            return
        text = json.dumps(envelope, separators=(",", ":"))
        if len(self._outbox) >= self.outbox_max:
            self._outbox.popleft()
            self.stats.dropped += 1
        self._outbox.append(text)
        self.trace.append((time.monotonic_ns(), "publish", envelope["k"], len(text)))
        self._wake.set()

    # --- Relay ------------------------------------------------------------------------------
    def ack_store(self) -> RedisAckStore:
        if self._store is None:
            raise RuntimeError("the backplane has not been started")
        return self._store

    def broadcast(self, message: str | bytes, path: str | None) -> None:
        """A broadcast already delivered here: publish it once for the other servers."""
        env: dict[str, Any] = {"k": "b", "n": self.node, "path": path}
        if isinstance(message, bytes):
            env["b64"] = base64.b64encode(message).decode()
        else:
            env["t"] = message
        self._enqueue(env)

    def publish(self, channel: str, data: Any, sender: int | None) -> None:
        """A ``/pubsub`` publication already delivered here: publish it for the others."""
        self._enqueue({"k": "p", "n": self.node, "ch": channel, "d": data, "from": sender})

    async def _publisher(self) -> None:
        """Drain the outbox in order, many messages per round trip (a pipeline)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = list(self._outbox)[:500]
                try:
                    pipe = self.ack_store().redis.pipeline(transaction=False)
                    for text in batch:
                        pipe.publish(self.channel, text)
                    await pipe.execute()
                except _ERRORS as exc:
                    self._set_lost(exc)  # drops the outbox: see _enqueue
                    break
                for _ in batch:
                    if self._outbox:
                        self._outbox.popleft()
                self.stats.published += len(batch)

    # --- /ack: numbered events ------------------------------------------------------------
    def ack_broadcast(self, data: Any) -> int:
        """Number ``data``, store it for replay and publish it (from a cell); its number.

        Every server (this one too) delivers it from the bus, in number order.
        """
        return lab.run(self.ack_event(data), what="ack_broadcast")

    async def ack_event(self, data: Any) -> int:
        try:
            return await self.ack_store().add_event(json.dumps(data, separators=(",", ":")))
        except AckStoreUnavailable:
            raise BackplaneUnavailable(f"the backplane at {self.url} is unreachable; a "
                                       "numbered event needs it (its number comes from Redis)"
                                       ) from None

    async def _event_pump(self) -> None:
        """Hand events to local clients strictly in number order, filling gaps from the stream."""
        while True:
            seq, data = await self._events_q.get()
            try:
                if self._ack_seen is None:
                    self._ack_seen = seq - 1
                if seq <= self._ack_seen:
                    continue
                if seq > self._ack_seen + 1 or data is None:
                    for s, d in await self._range(self._ack_seen + 1, seq):
                        if s > self._ack_seen:
                            self.stats.gap_filled += 1
                            self._deliver_event(s, d)
                    self._ack_seen = max(self._ack_seen, seq if data is None else seq - 1)
                if data is not None and seq == self._ack_seen + 1:
                    self._deliver_event(seq, data)
            except AckStoreUnavailable:  # the subscriber will catch up
                pass
            except asyncio.CancelledError:
                raise

    async def _range(self, first: int, last: int) -> list[tuple[int, str]]:
        return await self.ack_store().events(first, last)

    def _deliver_event(self, seq: int, data_text: str) -> None:
        self._ack_seen = seq
        self.stats.events += 1
        self.host.ack_event(seq, event_message(seq, data_text))

    async def asession(self, sid: str) -> Session:
        session = await self.ack_store().session(sid)
        if session is None:
            raise ValueError(f"no /ack session {sid!r} in the backplane at {self.url}")
        return session

    def session(self, sid: str) -> Session:
        """A ``/ack`` session as Redis holds it: next expected seq, delivered data, counts."""
        return lab.run(self.asession(sid), what="reading a session from Redis")

    def snapshot(self) -> dict[str, Any]:
        """State and counters, JSON-friendly (a process server sends it to its parent)."""
        return {"state": self.state, "node": self.node, "url": self.url,
                "outbox": len(self._outbox), "ack_seen": self._ack_seen,
                **{k: getattr(self.stats, k) for k in self.stats.__dataclass_fields__}}

    def __repr__(self) -> str:
        return f"<Backplane {self.node} {self.state} {self.url}>"


async def _close_quietly(*clients: Any) -> None:
    """Close Redis clients whose connection may be gone (a cancellation still propagates)."""
    for client in clients:
        try:
            await client.aclose()
        except _ERRORS:
            pass
