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
  lost subscription; an event gone from the stream is reported lost to the clients
  waiting for it, never skipped.

The backplane is the server's :class:`~wslab.net.relay.Relay` and reaches
the server only through its :class:`~wslab.net.relay.RelayHost`.

Everything runs on the lab loop with ``redis.asyncio`` (never a blocking call);
the ``redis`` package is imported only when a server is given a backplane.
State changes (``connected``, ``lost``, ``recovered``, ``task_ended``), events gone
from the stream before they were read (``missed``) and dropped
bus messages (``rejected``, one per kind per :data:`REPORT_INTERVAL`) are
``backplane`` events in ``server.events``.  The bus is a trust boundary: every
message is checked by :func:`wslab.protocol.bus.open_envelope` (a schema, and an
HMAC-SHA256 with the cluster's key) before anything reads it.  Memory is bounded
by design: the outbox of messages on their way to Redis has a cap, and the
``/ack`` state obeys :class:`~wslab.protocol.ack.AckLimits`.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis.asyncio as aredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff

from ..protocol import bus
from ..protocol.ack import AckLimits, AckStoreUnavailable, SessionView, event_message
from . import loop as lab
from .errors import ServerStartError
from .redis_ack import REDIS_ERRORS, RedisAckStore
from .relay import RelayHost
from .urls import redact_url

OUTBOX_MAX = 1000
TRACE_MAX = 2000
RETRY_MAX = 2.0
STOP_TIMEOUT = 2.0  # seconds astop waits for its tasks to end
REPORT_INTERVAL = 5.0  # at most one ``rejected`` event per kind of bad envelope this often
PROBE_INTERVAL = 0.5   # while lost: how often Redis is asked whether it is back
_ERRORS = REDIS_ERRORS


class BackplaneUnavailable(AckStoreUnavailable, ConnectionError):
    """Redis cannot be reached for something only Redis can do (number an event)."""


def check_url(url: str) -> str:
    """``redis://host:port/db``; anything else is a ValueError saying so."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("backplane is a Redis URL such as 'redis://127.0.0.1:6379/0', "
                         f"got {url!r}")
    return url


def split_url(url: str) -> tuple[str, bytes]:
    """The URL Redis is given (no fragment) and the bus key.

    The key is the fragment's ``key=<hex>`` (what :func:`wslab.net.services.redis`
    puts there, one per Redis); without one it is derived from the URL's
    password; a URL with neither gets a key anyone can derive, so envelopes are
    still checked but not authenticated.
    """
    parts = urlsplit(check_url(url))
    keys = parse_qs(parts.fragment).get("key", [])
    if keys:
        try:
            key = bytes.fromhex(keys[0])
        except ValueError:
            raise ValueError("the backplane URL's #key= is hex digits") from None
    else:
        key = hashlib.sha256(b"wslab bus key\0" + (parts.password or "").encode()).digest()
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, "")), bus.check_key(key)


@dataclass
class BackplaneStats:
    """Counters of one server's backplane (messages, not bytes)."""

    published: int = 0      # broadcasts and publications this server put on the bus
    received: int = 0       # bus messages from other servers, delivered locally
    own_skipped: int = 0    # our own messages coming back from the bus (ignored)
    events: int = 0         # numbered /ack events delivered to local clients' queue
    gap_filled: int = 0     # /ack events fetched from the stream after a gap
    missed: int = 0         # /ack events gone from the stream before this server read them
    dropped: int = 0        # not relayed: Redis was away (or the outbox overflowed)
    lost: int = 0           # times the connection to Redis was lost
    recovered: int = 0      # times it came back
    rejected: int = 0       # bus messages that were not valid envelopes (dropped)
    rejected_by: dict[str, int] = field(default_factory=dict)  # the same, by kind
    restarts: int = 0       # times the subscriber, publisher or event pump was restarted


#: a ``/ack`` session as Redis holds it (``backplane.session(sid)``)
Session = SessionView


class Backplane:
    """One server's link to Redis: the bus, the outbox, the /ack store (lab loop only)."""

    def __init__(self, host: RelayHost, url: str, *, namespace: str = "wslab",
                 limits: AckLimits | None = None, outbox_max: int = OUTBOX_MAX) -> None:
        self.host = host
        self._redis_url, self._key = split_url(url)
        self.url = redact_url(url)
        self.namespace = namespace
        self.node = f"{host.name}@{os.getpid()}.{uuid.uuid4().hex[:6]}"
        self.channel = f"{namespace}:bus"
        self.limits = limits if limits is not None else AckLimits()
        self.state = "connecting"
        self.stats = BackplaneStats()
        # (t_ns, "publish" | "receive", kind, bytes): the Redis hop, made visible
        self.trace: collections.deque[tuple[int, str, str, int]] = \
            collections.deque(maxlen=TRACE_MAX)
        self._outbox: collections.deque[bytes] = collections.deque()
        self.outbox_max = outbox_max
        self._wake = asyncio.Event()   # (bound to the lab loop when first awaited)
        self._cmd: aredis.Redis | None = None
        self._store: RedisAckStore | None = None
        self._tasks: list[asyncio.Task] = []
        self._lost_at: float | None = None
        self._ack_seen: int | None = None   # highest event number handed to local clients
        self._handled_high = 0  # highest number delivered or reported missed, never lowered
        self._events_q: asyncio.Queue[int] = asyncio.Queue()  # event numbers known to exist
        self._subscribed = asyncio.Event()
        self._reported: dict[str, tuple[float, int]] = {}  # kind -> (last report, unreported)

    def _client(self, *, retry: bool) -> aredis.Redis:
        """A Redis client; with ``retry``, a command is sent once more, and only after its
        connection broke.

        The retry is fixed here rather than left to redis-py, whose default changed (none
        in 5.0; in 8.2 three, on errors and timeouts alike).  The command client retries: after a
        Redis restart the first command of each pooled connection meets a closed socket
        and goes again on a fresh one.  A timeout is never retried: during a stall the
        command may run later, and running a numbering script twice would deliver an event
        twice.  The subscriber's client never retries: a subscription redis-py renewed on
        its own would hide the gap in which publications were missed, which only
        :meth:`_recover` fills.
        """
        if retry:
            policy = Retry(ExponentialBackoff(cap=0.2, base=0.02), 1,
                           supported_errors=(rexc.ConnectionError,))
        else:
            policy = Retry(NoBackoff(), 0)
        return aredis.Redis.from_url(self._redis_url, socket_connect_timeout=2,
                                     socket_timeout=5, retry=policy,
                                     retry_on_error=[rexc.ConnectionError] if retry else [])

    # --- life cycle (lab loop) ------------------------------------------------------------
    async def astart(self, timeout: float = 5.0) -> None:
        """Connect and subscribe; a Redis that cannot be reached is a clear error here."""
        self._cmd = cmd = self._client(retry=True)
        try:
            await asyncio.wait_for(cmd.ping(), timeout)
        except (*_ERRORS, asyncio.TimeoutError) as exc:
            await cmd.aclose()
            raise ServerStartError(
                f"cannot reach the Redis backplane at {self.url}: {exc or type(exc).__name__} "
                "(start one with wslab.net.services.redis(), or let wslab.cluster() do it)"
            ) from None
        self._store = RedisAckStore(cmd, namespace=self.namespace, channel=self.channel,
                                    limits=self.limits, node=self.node, on_lost=self._set_lost,
                                    on_ok=self._set_connected)
        self._tasks = [asyncio.ensure_future(self._supervise("subscriber", self._subscriber)),
                       asyncio.ensure_future(self._supervise("publisher", self._publisher)),
                       asyncio.ensure_future(self._supervise("event pump", self._event_pump))]
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except asyncio.TimeoutError:
            await self.astop()
            raise ServerStartError(f"could not subscribe to {self.channel} on {self.url} "
                                   f"within {timeout} s") from None

    async def astop(self) -> None:
        """Stop the tasks (within :data:`STOP_TIMEOUT`) and close the Redis client.

        Each task's loop ends once the state is ``stopped``, and a task is cancelled again
        until it has ended: redis-py reads under a timeout, and a cancellation that
        arrives as that timeout fires can be taken for the timeout and lost.
        """
        self.state = "stopped"
        self._wake.set()
        self._events_q.put_nowait(0)
        pending = set(self._tasks)
        deadline = time.monotonic() + STOP_TIMEOUT
        while pending and (left := deadline - time.monotonic()) > 0:
            for t in pending:
                t.cancel()
            _, pending = await asyncio.wait(pending, timeout=min(0.1, left))
        if pending:  # a task that ignores every cancellation must not hang the stop
            self._record("task_ended", task="stop", error=f"{len(pending)} task(s) still "
                         f"running after {STOP_TIMEOUT} s")
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

    # --- supervision ----------------------------------------------------------------------
    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run`` until the backplane stops; whenever it ends, say so and restart it."""
        delay = 0.05
        while self.state != "stopped":
            started = time.monotonic()
            try:
                await run()
                reason = "it returned"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 -- any end is reported, then restarted
                reason = f"{type(exc).__name__}: {exc}"
            if self.state == "stopped":
                return
            self.stats.restarts += 1
            self._set_lost(RuntimeError(f"the backplane's {name} ended ({reason})"))
            self._record("task_ended", task=name, error=reason[:300], restart_in_s=delay)
            await asyncio.sleep(delay)
            delay = 0.05 if time.monotonic() - started > 30 else min(RETRY_MAX, delay * 2)

    # --- the bus: receiving ------------------------------------------------------------------
    async def _subscriber(self) -> None:
        delay = 0.05
        while self.state != "stopped":
            client = self._client(retry=False)
            ps = client.pubsub()
            try:
                await ps.subscribe(self.channel)
                # wait for Redis to confirm: from then on every publication reaches us
                while self.state != "stopped":
                    msg = await ps.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "subscribe":
                        break
                if self.state == "stopped":
                    return
                await self._recover()
                self._subscribed.set()
                delay = 0.05
                await self._listen(ps)
            except asyncio.CancelledError:
                raise
            except _ERRORS as exc:
                self._set_lost(exc)
            finally:
                await _close_quietly(ps, client)
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    async def _listen(self, ps: Any) -> None:
        """Hand every bus message to :meth:`_on_bus`; while lost, ask Redis if it is back."""
        probed = time.monotonic()
        while self.state != "stopped":
            msg = await ps.get_message(timeout=PROBE_INTERVAL)
            if msg is not None and msg["type"] == "message":
                self._on_bus(msg["data"])
            if self.state == "lost" and time.monotonic() - probed >= PROBE_INTERVAL:
                probed = time.monotonic()
                await self._probe()

    async def _probe(self) -> None:
        """One command to Redis; if it answers, the backplane has recovered."""
        try:
            await asyncio.wait_for(self.ack_store().redis.ping(), 2.0)
            await self._recover()
        except (*_ERRORS, asyncio.TimeoutError):
            pass  # still lost; the next probe asks again

    async def _recover(self) -> None:
        current = await asyncio.wait_for(self.ack_store().current(), 5.0)
        await self._catch_up(current)
        self._set_connected()

    async def _catch_up(self, current: int) -> None:
        """After (re)subscribing: queue the events numbered while we were not listening."""
        if self._ack_seen is None or current < self._ack_seen:
            # a new server starts at the present; a counter that went back (Redis reset)
            # too: the /ack store reports the reset to the clients
            self._ack_seen = current
            return
        if current > self._ack_seen:
            await self._events_q.put(current)

    def _on_bus(self, raw: bytes | str) -> None:
        """One bus message: checked by :func:`wslab.protocol.bus.open_envelope`, then used."""
        try:
            env = bus.open_envelope(raw, self._key)
        except bus.EnvelopeError as exc:
            self._reject(exc.kind, str(exc), len(raw))
            return
        if isinstance(env, bus.EventHint):
            self.trace.append((time.monotonic_ns(), "receive", "event", len(raw)))
            self._heard_of(env.seq)
            self._events_q.put_nowait(env.seq)
            return
        if env.node == self.node:
            self.stats.own_skipped += 1
            return
        self.stats.received += 1
        kind = "b" if isinstance(env, bus.Broadcast) else "p"
        self.trace.append((time.monotonic_ns(), "receive", kind, len(raw)))
        try:
            if isinstance(env, bus.Broadcast):
                self.host.broadcast(env.message, env.path)
            else:
                self.host.publish(env.channel, env.data, env.sender)
        except Exception as exc:  # noqa: BLE001 -- one bad message must not end the subscriber
            self._reject("undeliverable", f"{type(exc).__name__}: {exc}", len(raw))

    def _reject(self, kind: str, error: str, size: int) -> None:
        """Count a dropped bus message; at most one event per kind per REPORT_INTERVAL."""
        self.stats.rejected += 1
        self.stats.rejected_by[kind] = self.stats.rejected_by.get(kind, 0) + 1
        now = time.monotonic()
        last, unreported = self._reported.get(kind, (float("-inf"), 0))
        if now - last < REPORT_INTERVAL:
            self._reported[kind] = (last, unreported + 1)
            return
        self._reported[kind] = (now, 0)
        self._record("rejected", kind=kind, count=unreported + 1,
                     total=self.stats.rejected_by[kind], error=error[:200], bytes=size)

    # --- the bus: sending ------------------------------------------------------------------------
    def _enqueue(self, envelope: bus.Broadcast | bus.Publication) -> None:
        if self.state == "lost":
            # Pub/sub keeps nothing for a subscriber that is not there: a message held
            # back now could reach some servers and not others.  Counted, never silent.
            self.stats.dropped += 1
            return
        data = bus.seal(envelope, self._key)
        if len(self._outbox) >= self.outbox_max:
            self._outbox.popleft()
            self.stats.dropped += 1
        self._outbox.append(data)
        kind = "b" if isinstance(envelope, bus.Broadcast) else "p"
        self.trace.append((time.monotonic_ns(), "publish", kind, len(data)))
        self._wake.set()

    # --- Relay ------------------------------------------------------------------------------
    def ack_store(self) -> RedisAckStore:
        if self._store is None:
            raise RuntimeError("the backplane has not been started")
        return self._store

    def broadcast(self, message: str | bytes, path: str | None) -> None:
        """A broadcast already delivered here: publish it once for the other servers."""
        self._enqueue(bus.Broadcast(self.node, path, message))

    def publish(self, channel: str, data: Any, sender: int | None) -> None:
        """A ``/pubsub`` publication already delivered here: publish it for the others."""
        self._enqueue(bus.Publication(self.node, channel, data, sender))

    async def _publisher(self) -> None:
        """Drain the outbox in order, many messages per round trip (a pipeline)."""
        while self.state != "stopped":
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
                self._set_connected()  # Redis answered: a stall is over
                for _ in batch:
                    if self._outbox:
                        self._outbox.popleft()
                self.stats.published += len(batch)

    # --- /ack: numbered events ------------------------------------------------------------
    def ack_broadcast(self, data: Any, event_id: str | None = None) -> int:
        """Number ``data``, store it for replay and publish it (from a cell); its number.

        Every server (this one too) delivers it from the bus, in number order; a retry
        with the same ``event_id`` returns the first number and publishes nothing.
        """
        return lab.run(self.ack_event(data, event_id), what="ack_broadcast")

    async def ack_event(self, data: Any, event_id: str | None = None) -> int:
        try:
            return await self.ack_store().add_event(json.dumps(data, separators=(",", ":")),
                                                    event_id)
        except AckStoreUnavailable:
            raise BackplaneUnavailable(f"the backplane at {self.url} is unreachable; a "
                                       "numbered event needs it (its number comes from Redis)"
                                       ) from None

    def _heard_of(self, seq: int) -> None:
        """A number some server handed out: after a Redis reset, numbering resumes above it
        even if its event was not read from the stream yet (else the number would be handed
        out twice and both events lost).  A hint is not signed (Redis' script publishes it),
        so one may move the mark at most ``replay_max`` past what this server knows."""
        store = self.ack_store()
        if seq <= max(store.high, self._ack_seen or 0) + self.limits.replay_max:
            store.saw(seq)

    async def _event_pump(self) -> None:
        """Hand events to local clients strictly in number order, read from the stream.

        A bus hint only says which number exists; the event itself comes from the
        stream Redis keeps, so a forged hint neither invents an event nor moves the
        count past a real one.
        """
        while self.state != "stopped":
            target = await self._events_q.get()
            while not self._events_q.empty():  # many hints: one read
                target = max(target, self._events_q.get_nowait())
            try:
                await self._fill(target)
            except (AckStoreUnavailable, *_ERRORS):  # the subscriber will catch up
                pass

    async def _fill(self, target: int) -> None:
        if self._ack_seen is None:
            self._ack_seen = target - 1
        if target <= self._ack_seen:
            return
        first = self._ack_seen + 1
        current, kept = await self._range(first, target)
        for s, d in kept:
            if s > self._ack_seen + 1:
                self._missed(self._ack_seen + 1, s - 1)
            if s > self._ack_seen:
                if s > first:
                    self.stats.gap_filled += 1
                self._deliver_event(s, d)
        newest = min(target, current)  # a hint above the counter is no proof
        if newest > self._ack_seen:    # numbered before that read, and not kept: gone
            self._missed(self._ack_seen + 1, newest)
            self._ack_seen = newest

    def _missed(self, first: int, last: int) -> None:
        """Events ``first``..``last`` were numbered (Redis' counter is past them) but are
        not in the stream: they are gone (Redis restarted empty before this server read
        them, the stream trimmed them, or one was too large to keep) and no server can
        deliver them now.  The clients waiting for them are told (the host closes their
        ``/ack`` connections, and the welcome after the reconnect counts them lost);
        never skipped in silence.  A number above the counter is not a gap: a hint is not
        proof.  Numbers this server handled before a Redis reset lowered its mark are not
        missed again."""
        first = max(first, self._handled_high + 1)
        if first > last:
            return
        self._handled_high = last
        self.stats.missed += last - first + 1
        closed = self.host.ack_missed(first, last)
        self._record("missed", first=first, last=last, closed=closed,
                     effect="the /ack clients waiting for them reconnect and are told "
                            "how many events they lost")

    async def _range(self, first: int, last: int) -> tuple[int, list[tuple[int, str]]]:
        return await self.ack_store().events(first, last)

    def _deliver_event(self, seq: int, data_text: str) -> None:
        self._ack_seen = seq
        self._handled_high = max(self._handled_high, seq)
        self.ack_store().saw(seq)  # after a Redis reset, numbering resumes above it
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
