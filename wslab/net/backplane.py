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
* the ``/ack`` route's state lives in Redis, so a ``ReconnectingClient`` may
  reconnect to ANY process: a session's next expected sequence number is a hash,
  and the numbered events are a stream capped at ``replay_max`` entries whose ids
  are the event numbers (``XADD ... MAXLEN replay_max <seq>-0``), published on the
  bus in the same atomic script that numbers them.  Each server delivers events
  in number order and fills any gap from the stream, so exactly-once holds
  through a process restart and through a lost subscription.

Everything runs on the lab loop with ``redis.asyncio`` (never a blocking call);
the ``redis`` package is imported only when a server is given a backplane.
State changes (``connected``, ``lost``, ``recovered``) are ``backplane`` events
in ``server.events``.  Memory is bounded by design: the outbox of messages on
their way to Redis, the replay stream and the per-session delivered list all have caps,
and session keys expire (``session_ttl``).
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
import redis.exceptions as rexc

from . import loop as lab
from .errors import ServerStartError

REPLAY_MAX = 1000
OUTBOX_MAX = 1000
KEEP_DELIVERED = 10_000
SESSION_TTL = 24 * 3600
TRACE_MAX = 2000
RETRY_MAX = 2.0
_ERRORS = (rexc.ConnectionError, rexc.TimeoutError, OSError)

# Number an event, keep it in the capped stream and publish it, atomically: the bus
# then carries events in number order, and no two servers can take the same number.
_EVENT_LUA = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], seq .. '-0', 'd', ARGV[1])
redis.call('PUBLISH', KEYS[3], '{"k":"e","s":' .. seq .. ',"d":' .. ARGV[1] .. '}')
return seq
"""

# One client message of a session: deliver it if it is the next one, else count a duplicate.
_MSG_LUA = """
local expected = tonumber(redis.call('HGET', KEYS[1], 'expected') or '1')
local seq = tonumber(ARGV[1])
local result = -1
if seq == expected then
  redis.call('HSET', KEYS[1], 'expected', expected + 1)
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  result = 1
elseif seq < expected then
  redis.call('HINCRBY', KEYS[1], 'duplicates', 1)
  result = 0
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return result
"""


def check_url(url: str) -> str:
    """``redis://host:port/db``; anything else is a ValueError saying so."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"backplane is a Redis URL such as 'redis://127.0.0.1:6379/0', got {url!r}")
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


@dataclass(frozen=True)
class Session:
    """A ``/ack`` session as stored in Redis (``backplane.session(sid)``)."""

    id: str
    expected: int
    delivered: list[Any]
    duplicates: int
    connections: int


class Backplane:
    """One server's link to Redis: the bus, the outbox, the /ack state (lab loop only)."""

    def __init__(self, server: Any, url: str, *, namespace: str = "wslab",
                 replay_max: int = REPLAY_MAX, outbox_max: int = OUTBOX_MAX,
                 keep_delivered: int = KEEP_DELIVERED, session_ttl: int = SESSION_TTL) -> None:
        self.server = server
        self.url = check_url(url)
        self.namespace = namespace
        self.node = f"{server.name}@{os.getpid()}.{uuid.uuid4().hex[:6]}"
        self.channel = f"{namespace}:bus"
        self.replay_max, self.keep_delivered, self.session_ttl = replay_max, keep_delivered, session_ttl
        self.state = "connecting"
        self.stats = BackplaneStats()
        # (t_ns, "publish" | "receive", kind, bytes): the Redis hop, made visible
        self.trace: collections.deque[tuple[int, str, str, int]] = collections.deque(maxlen=TRACE_MAX)
        self._outbox: collections.deque[str] = collections.deque()
        self.outbox_max = outbox_max
        self._wake: asyncio.Event | None = None
        self._cmd: aredis.Redis | None = None
        self._tasks: list[asyncio.Task] = []
        self._lost_at: float | None = None
        self._ack_seen: int | None = None   # highest event number handed to local clients
        self._ack_conns: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._events_q: asyncio.Queue[tuple[int, Any]] | None = None
        self._subscribed: asyncio.Event | None = None
        self._event_script: Any = None
        self._msg_script: Any = None

    # --- keys -------------------------------------------------------------------------
    @property
    def _seq_key(self) -> str:
        return f"{self.namespace}:ack:seq"

    @property
    def _stream_key(self) -> str:
        return f"{self.namespace}:ack:events"

    def _session_key(self, sid: str) -> str:
        return f"{self.namespace}:ack:session:{sid}"

    def _delivered_key(self, sid: str) -> str:
        return f"{self.namespace}:ack:delivered:{sid}"

    def _client(self) -> aredis.Redis:
        return aredis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)

    # --- life cycle (lab loop) ------------------------------------------------------------
    async def astart(self, timeout: float = 5.0) -> None:
        """Connect and subscribe; a Redis that cannot be reached is a clear error here."""
        self._wake = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._events_q = asyncio.Queue()
        self._cmd = self._client()
        try:
            await asyncio.wait_for(self._cmd.ping(), timeout)
        except (*_ERRORS, asyncio.TimeoutError) as exc:
            await self._cmd.aclose()
            raise ServerStartError(
                f"cannot reach the Redis backplane at {self.url}: {exc or type(exc).__name__} "
                "(start one with wslab.net.services.redis(), or let wslab.cluster() do it)") from None
        self._event_script = self._cmd.register_script(_EVENT_LUA)
        self._msg_script = self._cmd.register_script(_MSG_LUA)
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
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._cmd is not None:
            try:
                await self._cmd.aclose()
            except _ERRORS:
                pass
        self.state = "stopped"

    def _record(self, what: str, **extra: Any) -> None:
        self.server._log.record("backplane", None, reason=what,
                                extra={"node": self.node, "url": self.url, **extra})

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
            if self._wake is not None:
                self._wake.set()
        elif self.state == "connecting":
            self.state = "connected"
            self._record("connected", channel=self.channel)

    # --- the bus: receiving ------------------------------------------------------------------
    async def _subscriber(self) -> None:
        delay = 0.05
        while True:
            client = self._client()
            ps = client.pubsub()
            try:
                await ps.subscribe(self.channel)
                # wait for Redis to confirm: from then on every publication reaches us
                while True:
                    msg = await ps.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "subscribe":
                        break
                current = int(await self._cmd.get(self._seq_key) or 0)
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
                try:
                    await ps.aclose()
                    await client.aclose()
                except (*_ERRORS, asyncio.CancelledError):
                    pass
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
            self._events_q.put_nowait((int(msg["s"]), msg.get("d")))
            return
        if msg.get("n") == self.node:
            self.stats.own_skipped += 1
            return
        self.stats.received += 1
        self.trace.append((time.monotonic_ns(), "receive", kind or "?", size))
        if kind == "b":
            message: str | bytes = base64.b64decode(msg["b64"]) if "b64" in msg else msg["t"]
            self.server._broadcast_now(message, msg.get("path"), relay=False)
        elif kind == "p":
            self.server.pubsub.publish(msg["ch"], msg.get("d"), self.server._send_now_to,
                                       sender=msg.get("from"), relay=False)

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
        if self._wake is not None:
            self._wake.set()

    def relay_broadcast(self, message: str | bytes, path: str | None) -> None:
        """A broadcast already delivered here: publish it once for the other servers."""
        env: dict[str, Any] = {"k": "b", "n": self.node, "path": path}
        if isinstance(message, bytes):
            env["b64"] = base64.b64encode(message).decode()
        else:
            env["t"] = message
        self._enqueue(env)

    def relay_publish(self, channel: str, data: Any, sender: int | None) -> None:
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
                    pipe = self._cmd.pipeline(transaction=False)
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

    # --- /ack: numbered events ---------------------------------------------------------------------
    async def ack_event(self, data: Any) -> int:
        """Number ``data``, store it for replay and publish it; returns its number.

        Every server (this one too) delivers it from the bus, in number order.
        """
        text = json.dumps(data, separators=(",", ":"))
        try:
            return int(await self._event_script(
                keys=[self._seq_key, self._stream_key, self.channel],
                args=[text, self.replay_max]))
        except _ERRORS as exc:
            self._set_lost(exc)
            raise ConnectionError(f"the backplane at {self.url} is unreachable; a numbered "
                                  "event needs it (its number comes from Redis)") from None

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
            except _ERRORS as exc:  # the stream is unreachable: the subscriber will catch up
                self._set_lost(exc)
            except asyncio.CancelledError:
                raise

    async def _range(self, first: int, last: int) -> list[tuple[int, Any]]:
        entries = await self._cmd.xrange(self._stream_key, f"{first}-0", f"{last}-0")
        return [(int(eid.split(b"-")[0]), json.loads(fields[b"d"])) for eid, fields in entries]

    def _deliver_event(self, seq: int, data: Any) -> None:
        self._ack_seen = seq
        self.stats.events += 1
        text = json.dumps({"op": "event", "seq": seq, "data": data})
        for cid, (conn, st) in list(self._ack_conns.items()):
            if conn.closed:
                del self._ack_conns[cid]
            elif st.get("syncing") is not None:
                st["syncing"].append((seq, text))
            elif seq > st.get("last", 0):
                st["last"] = seq
                conn._send_now(text)

    # --- /ack: one client's messages ---------------------------------------------------------------
    async def handle_ack(self, conn: Any, state: dict[str, Any], text: str | bytes) -> None:
        """The ``/ack`` route with its state in Redis (see :mod:`wslab.net.server.ack`)."""
        try:
            msg = json.loads(text)
            op = msg["op"]
        except (ValueError, KeyError, TypeError):
            conn._send_now(json.dumps({"op": "error", "error": "expected JSON with an 'op' field"}))
            return
        try:
            if op == "hello":
                await self._hello(conn, state, msg)
            elif op == "msg":
                await self._msg(conn, state, msg)
            else:
                conn._send_now(json.dumps({"op": "error", "error": f"unknown op {op!r}"}))
        except _ERRORS as exc:
            # Without Redis this server can neither number nor de-duplicate: 1013 "try
            # again later" sends the client back through the balancer, with its queue.
            self._set_lost(exc)
            conn._fail(1013, "backplane unavailable",
                       f"the Redis backplane is unreachable during /ack {op}: {exc}")

    async def _hello(self, conn: Any, state: dict[str, Any], msg: dict[str, Any]) -> None:
        sid = str(msg.get("session", ""))
        if not sid:
            conn._send_now(json.dumps({"op": "error", "error": "hello needs a session id"}))
            return
        try:
            last_seen = max(0, int(msg.get("last_seen", 0)))
        except (TypeError, ValueError):
            last_seen = 0
        state["session"], state["syncing"], state["last"] = sid, [], last_seen
        self._ack_conns[conn.id] = (conn, state)
        key = self._session_key(sid)
        pipe = self._cmd.pipeline(transaction=True)  # one consistent snapshot
        pipe.hincrby(key, "connections", 1)
        pipe.hget(key, "expected")
        pipe.expire(key, self.session_ttl)
        pipe.get(self._seq_key)
        pipe.xrange(self._stream_key, f"{last_seen + 1}-0", "+")
        _, expected, _, current, entries = await pipe.execute()
        current = int(current or 0)
        missed = [(int(eid.split(b"-")[0]), fields[b"d"].decode()) for eid, fields in entries
                  if int(eid.split(b"-")[0]) <= current]
        lost = max(0, current - last_seen - len(missed))
        conn._send_now(json.dumps({"op": "welcome", "next": int(expected or 1),
                                   "replayed": len(missed), "lost": lost,
                                   "node": self.node}))
        for s, d in missed:
            conn._send_now(f'{{"op": "event", "seq": {s}, "data": {d}}}')
        state["last"] = max(last_seen, current)
        queued, state["syncing"] = state["syncing"], None
        for s, t in queued:  # arrived from the bus while we read the stream
            if s > state["last"]:
                state["last"] = s
                conn._send_now(t)

    async def _msg(self, conn: Any, state: dict[str, Any], msg: dict[str, Any]) -> None:
        sid = state.get("session")
        if sid is None:
            conn._send_now(json.dumps({"op": "error", "error": "send hello first"}))
            return
        seq = msg.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            conn._send_now(json.dumps({"op": "error", "error": "msg needs an integer seq"}))
            return
        data = json.dumps(msg.get("data"), separators=(",", ":"))
        result = int(await self._msg_script(
            keys=[self._session_key(sid), self._delivered_key(sid)],
            args=[seq, data, self.keep_delivered, self.session_ttl]))
        if result >= 0:  # delivered now (1) or a duplicate (0): acknowledged either way
            conn._send_now(json.dumps({"op": "ack", "seq": seq}))
        if result == 1:
            hook = getattr(self.server.ack, "on_deliver", None)
            if hook is not None:
                hook(sid, msg.get("data"))

    async def asession(self, sid: str) -> Session:
        key = self._session_key(sid)
        pipe = self._cmd.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.lrange(self._delivered_key(sid), 0, -1)
        fields, delivered = await pipe.execute()
        if not fields:
            raise ValueError(f"no /ack session {sid!r} in the backplane at {self.url}")
        return Session(sid, int(fields.get(b"expected", 1)),
                       [json.loads(d) for d in delivered], int(fields.get(b"duplicates", 0)),
                       int(fields.get(b"connections", 0)))

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
