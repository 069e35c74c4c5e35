"""The ``/ack`` state in Redis, shared by every server of a backplane (layer 2, I/O).

:class:`RedisAckStore` is the :class:`~wslab.protocol.ack.AckStore` of a server
with ``serve(backplane=...)``: a ``ReconnectingClient`` may come back on ANY
server and resume its session.  It obeys the same
:class:`~wslab.protocol.ack.AckLimits` as the memory store, and every bound is
checked inside the Lua script that writes, so nothing past a bound ever reaches
Redis (the protocol has already refused a bad session id, ``last_seen`` or a
binary message before a store is asked):

``<ns>:ack:sessions``          sorted set, session id -> last use (ms, Redis' clock):
                               at most ``sessions_max``; a new session first drops
                               those idle for ``session_ttl``, then the least recently
                               used one with no connection, else it is refused
``<ns>:ack:session:<id>``      hash: expected, duplicates, connections, attached
``<ns>:ack:delivered:<id>``    list of the newest delivered messages (JSON text), at most
                               ``keep_delivered`` of them and ``keep_delivered_bytes``
``<ns>:ack:sizes``             hash, session id -> bytes its list holds (no TTL: the count
                               stays right when a session's keys expire)
``<ns>:ack:bytes``             what every session's list holds, kept under
                               ``delivered_bytes_max`` (least recently used sessions trim
                               first)
``<ns>:ack:seq``, ``<ns>:ack:events``, ``<ns>:ack:events:bytes``
                               the event counter and the replay stream (ids are event
                               numbers), at most ``replay_max`` entries and
                               ``replay_bytes_max`` bytes
``<ns>:ack:ids``, ``<ns>:ack:ids:order``
                               ``ack_broadcast`` ids -> their numbers, the newest
                               ``replay_max`` of them

A session a server has a connection for is touched at every sweep (``expire``, at
least every ``session_ttl / 2``), so only the sessions nobody uses (or whose server
died) expire, after ``session_ttl``.  A session's keys also carry a Redis TTL of
``session_ttl`` plus a minute (the grace for a late sweep): should every server be
gone, Redis forgets them by itself, and the next sweep drops their bookkeeping.
Everything runs on the lab loop with ``redis.asyncio``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aredis
import redis.exceptions as rexc

from ..protocol.ack import (
    ITEM_COST,
    SEQ_MAX,
    AckLimits,
    AckStoreReset,
    AckStoreUnavailable,
    Delivery,
    Msg,
    Opened,
    SessionsFull,
    SessionView,
    event_message,
)

__all__ = ["REDIS_ERRORS", "RedisAckStore"]

REDIS_ERRORS = (rexc.ConnectionError, rexc.TimeoutError, OSError)
_EVENT_COST = len(event_message(SEQ_MAX, ""))  # an event message beyond its data's JSON

# First in every script that writes: the epoch this store adopted (the last ARGV) must still
# be Redis' own, else Redis lost its state (a restart without persistence, a flush) and the
# script writes nothing.
_GUARD = """
local seen_epoch = redis.call('GET', ARGV[1] .. 'epoch')
if seen_epoch ~= ARGV[#ARGV] then return {'reset', seen_epoch or ''} end
"""

# Adopt the epoch (write ours if there is none), and never let the event counter restart
# below a number this store has seen.  ARGV: prefix, a new epoch, the lowest counter
_EPOCH_LUA = """
local P = ARGV[1]
redis.call('SET', P .. 'epoch', ARGV[2], 'NX')
if tonumber(redis.call('GET', P .. 'seq') or '0') < tonumber(ARGV[3]) then
  redis.call('SET', P .. 'seq', ARGV[3])
end
return redis.call('GET', P .. 'epoch')
"""

# Shared by the scripts: Redis' clock in ms, dropping one session, trimming one list.
_COMMON = _GUARD + """
local P = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function hkey(s) return P .. 'session:' .. s end
local function lkey(s) return P .. 'delivered:' .. s end
local function drop(s)
  local b = tonumber(redis.call('HGET', P .. 'sizes', s) or '0')
  if b > 0 then redis.call('DECRBY', P .. 'bytes', b) end
  redis.call('DEL', hkey(s), lkey(s))
  redis.call('HDEL', P .. 'sizes', s)
  redis.call('ZREM', P .. 'sessions', s)
end
local function kept(s) return tonumber(redis.call('HGET', P .. 'sizes', s) or '0') end
local function trim(s, count, size)
  local n = redis.call('LLEN', lkey(s))
  local b = kept(s)
  local freed = 0
  while n > 0 and (n > count or b - freed > size) do
    freed = freed + #redis.call('LPOP', lkey(s)) + tonumber(ARGV[2])
    n = n - 1
  end
  if freed > 0 then
    redis.call('HINCRBY', P .. 'sizes', s, -freed)
    redis.call('DECRBY', P .. 'bytes', freed)
  end
end
local function touch(s, ttl)
  redis.call('ZADD', P .. 'sessions', now, s)
  redis.call('PEXPIRE', hkey(s), ttl + 60000)
  redis.call('PEXPIRE', lkey(s), ttl + 60000)
end
local function expire_idle(ttl)
  local old = redis.call('ZRANGEBYSCORE', P .. 'sessions', '-inf', now - ttl)
  for _, s in ipairs(old) do drop(s) end
  return #old
end
"""

# Every write script's ARGV ends with the store's epoch (see _GUARD).
# ARGV: prefix, item cost, sid, last_seen, previous sid or '', sessions_max, ttl_ms
_OPEN_LUA = _COMMON + """
local sid, ttl = ARGV[3], tonumber(ARGV[7])
local created = redis.call('EXISTS', hkey(sid)) == 0
if created then
  expire_idle(ttl)
  if redis.call('ZCARD', P .. 'sessions') >= tonumber(ARGV[6]) then
    local victim = nil
    for _, s in ipairs(redis.call('ZRANGE', P .. 'sessions', 0, -1)) do
      if tonumber(redis.call('HGET', hkey(s), 'attached') or '0') <= 0 then
        victim = s
        break
      end
    end
    if victim == nil then return {-1} end
    drop(victim)
  end
end
redis.call('HINCRBY', hkey(sid), 'connections', 1)
if ARGV[5] ~= sid then
  redis.call('HINCRBY', hkey(sid), 'attached', 1)
  if ARGV[5] ~= '' and redis.call('EXISTS', hkey(ARGV[5])) == 1 then
    redis.call('HINCRBY', hkey(ARGV[5]), 'attached', -1)
  end
end
touch(sid, ttl)
local expected = tonumber(redis.call('HGET', hkey(sid), 'expected') or '1')
local current = tonumber(redis.call('GET', P .. 'seq') or '0')
local first = tonumber(ARGV[4]) + 1
if first - 1 > current then  -- a client saw more than the counter: never number below it
  current = first - 1
  redis.call('SET', P .. 'seq', current)
end
return {expected, current, redis.call('XRANGE', P .. 'events', first .. '-0', '+'),
        created and 1 or 0}
"""

# ARGV: prefix, item cost, sid, seq, data, keep_delivered, keep_delivered_bytes,
#       delivered_bytes_max, ttl_ms
_DELIVER_LUA = _COMMON + """
local sid, seq, data = ARGV[3], tonumber(ARGV[4]), ARGV[5]
local count, size_max, total_max = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local expected = tonumber(redis.call('HGET', hkey(sid), 'expected') or '1')
local result = -1
if seq == expected then
  redis.call('HSET', hkey(sid), 'expected', expected + 1)
  redis.call('HINCRBY', hkey(sid), 'delivered_count', 1)
  local size = #data + tonumber(ARGV[2])
  if size <= size_max then
    redis.call('RPUSH', lkey(sid), data)
    redis.call('HINCRBY', P .. 'sizes', sid, size)
    redis.call('INCRBY', P .. 'bytes', size)
    trim(sid, count, size_max)
    if tonumber(redis.call('GET', P .. 'bytes')) > total_max then
      for _, s in ipairs(redis.call('ZRANGE', P .. 'sessions', 0, -1)) do
        local over = tonumber(redis.call('GET', P .. 'bytes')) - total_max
        if over <= 0 then break end
        trim(s, count, math.max(0, kept(s) - over))
      end
    end
  end
  result = 1
elseif seq < expected then
  redis.call('HINCRBY', hkey(sid), 'duplicates', 1)
  result = 0
end
touch(sid, tonumber(ARGV[9]))
return result
"""

# ARGV: prefix, item cost, sid
_DETACH_LUA = _COMMON + """
if redis.call('EXISTS', hkey(ARGV[3])) == 1 then
  redis.call('HINCRBY', hkey(ARGV[3]), 'attached', -1)
  redis.call('ZADD', P .. 'sessions', now, ARGV[3])
end
return 0
"""

# ARGV: prefix, item cost, ttl_ms, ids of the sessions this server has connections for...
_EXPIRE_LUA = _COMMON + """
local ttl = tonumber(ARGV[3])
for i = 4, #ARGV - 1 do
  if redis.call('EXISTS', hkey(ARGV[i])) == 1 then touch(ARGV[i], ttl) end
end
return expire_idle(ttl)
"""

# Number an event, keep it in the bounded stream and publish it, atomically: the bus then
# carries events in number order, and no two servers can take the same number.
# An event id (ARGV[6], '' for none) numbered before returns that number and publishes
# nothing: a caller's retry after an unknown outcome never delivers twice.  The newest
# replay_max ids are remembered (``<ns>:ack:ids`` hash, ``<ns>:ack:ids:order`` list).
# KEYS: channel; ARGV: prefix, event cost, data, replay_max, replay_bytes_max, event id
_EVENT_LUA = _GUARD + """
local P = ARGV[1]
local eid = ARGV[6]
if eid ~= '' then
  local known = redis.call('HGET', P .. 'ids', eid)
  if known then return tonumber(known) end
end
local seq = redis.call('INCR', P .. 'seq')
if eid ~= '' then
  redis.call('HSET', P .. 'ids', eid, seq)
  redis.call('RPUSH', P .. 'ids:order', eid)
  while redis.call('LLEN', P .. 'ids:order') > tonumber(ARGV[4]) do
    redis.call('HDEL', P .. 'ids', redis.call('LPOP', P .. 'ids:order'))
  end
end
local size = #ARGV[3] + tonumber(ARGV[2])
local n_max, b_max = tonumber(ARGV[4]), tonumber(ARGV[5])
if size <= b_max then
  redis.call('XADD', P .. 'events', seq .. '-0', 'd', ARGV[3])
  redis.call('INCRBY', P .. 'events:bytes', size)
end
local bytes = tonumber(redis.call('GET', P .. 'events:bytes') or '0')
local n = redis.call('XLEN', P .. 'events')
while n > 0 and (n > n_max or bytes > b_max) do
  local first = redis.call('XRANGE', P .. 'events', '-', '+', 'COUNT', 1)[1]
  redis.call('XDEL', P .. 'events', first[1])
  bytes = bytes - (#first[2][2] + tonumber(ARGV[2]))
  n = n - 1
end
redis.call('SET', P .. 'events:bytes', bytes)
redis.call('PUBLISH', KEYS[1], '{"k":"e","s":' .. seq .. ',"d":' .. ARGV[3] .. '}')
return seq
"""

# The counter and a range of the stream at one instant (no write, no guard).
# ARGV: prefix, first id, last id
_EVENTS_LUA = """
return {tonumber(redis.call('GET', ARGV[1] .. 'seq') or '0'),
        redis.call('XRANGE', ARGV[1] .. 'events', ARGV[2], ARGV[3])}
"""

# Read one session at once (no write, so no epoch guard).  ARGV: prefix, sid
_SESSION_LUA = """
return {redis.call('HGETALL', ARGV[1] .. 'session:' .. ARGV[2]),
        redis.call('LRANGE', ARGV[1] .. 'delivered:' .. ARGV[2], 0, -1)}
"""


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    """A hash or stream entry as a script returns it (name, value, name, value, ...)."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisAckStore:
    """The ``/ack`` sessions and numbered events of every server on one Redis (lab loop).

    ``on_lost(exc)`` is told when Redis cannot be reached; the call then raises
    :class:`AckStoreUnavailable`.  ``on_ok()`` is told after every command Redis answered,
    so a backplane marked lost (a stall, a restart) recovers on the first one that works.

    Redis runs without persistence, so a restart empties it.  The store writes an epoch (a
    random id) at its first command and every script checks it first: a script that finds
    another epoch (or none) writes nothing, the store adopts the new epoch, raises the
    event counter back to the highest number it has seen (:meth:`saw`) and raises
    :class:`AckStoreReset` (``resets`` counts them).  A full Redis (``maxmemory`` with
    ``noeviction``) refuses writes: :class:`AckStoreUnavailable`, nothing half written.
    """

    def __init__(self, cmd: aredis.Redis, *, namespace: str, channel: str, limits: AckLimits,
                 node: str, on_lost: Callable[[BaseException], None],
                 on_ok: Callable[[], None] | None = None) -> None:
        self.limits = limits
        self.node: str | None = node
        self.prefix = f"{namespace}:ack:"
        self.channel = channel
        self.redis = cmd
        self._on_lost = on_lost
        self._on_ok = on_ok
        self.epoch: str | None = None  # adopted at the first command
        self.high = 0                  # the highest event number this store has seen
        self.resets = 0
        self._open = cmd.register_script(_OPEN_LUA)
        self._deliver = cmd.register_script(_DELIVER_LUA)
        self._detach = cmd.register_script(_DETACH_LUA)
        self._expire = cmd.register_script(_EXPIRE_LUA)
        self._event = cmd.register_script(_EVENT_LUA)
        self._epoch = cmd.register_script(_EPOCH_LUA)
        self._read_session = cmd.register_script(_SESSION_LUA)
        self._read_events = cmd.register_script(_EVENTS_LUA)

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.limits.session_ttl * 1000))

    def saw(self, seq: int) -> None:
        """An event number handed to clients: after a reset the counter starts above it."""
        self.high = max(self.high, seq)

    async def _run(self, script: Any, what: str, *args: Any, keys: Iterable[str] = ()) -> Any:
        try:
            if self.epoch is None:
                await self._adopt()
            old = self.epoch
            result = await script(keys=list(keys), args=[self.prefix, *args, old])
            reset = isinstance(result, list) and bool(result) and result[0] == b"reset"
            if reset:
                await self._adopt()
        except REDIS_ERRORS as exc:
            self._on_lost(exc)
            raise AckStoreUnavailable(f"the Redis backplane is unreachable during /ack {what}: "
                                      f"{exc}") from None
        except rexc.OutOfMemoryError:
            # refused at the script's first write (Redis decides before the script runs)
            raise AckStoreUnavailable(f"Redis is full (maxmemory, noeviction) during /ack "
                                      f"{what}: nothing was written") from None
        if self._on_ok is not None:
            self._on_ok()
        if reset:
            self.resets += 1
            raise AckStoreReset(f"the Redis /ack state was reset (epoch {old} -> {self.epoch},"
                                f" events continue after {self.high})")
        return result

    async def _adopt(self) -> None:
        """Take Redis' epoch (ours if it has none); the counter never restarts below ``high``."""
        got = await self._epoch(args=[self.prefix, uuid.uuid4().hex, self.high])
        self.epoch = got.decode() if isinstance(got, bytes) else str(got)
    async def open(self, sid: str, last_seen: int, previous: str | None) -> Opened:
        got = await self._run(self._open, "hello", ITEM_COST, sid, last_seen, previous or "",
                              self.limits.sessions_max, self._ttl_ms)
        if got[0] == -1:
            raise SessionsFull(f"{self.limits.sessions_max} sessions in Redis, all attached")
        expected, current, entries = int(got[0]), int(got[1]), got[2]
        self.saw(current)
        missed = []
        for eid, fields in entries:
            seq = int(eid.split(b"-")[0])
            if seq <= current:
                missed.append((seq, event_message(seq, fields[1].decode())))
        return Opened(expected, current, missed, int(got[3]) == 1)

    async def deliver(self, sid: str, msg: Msg) -> Delivery:
        limits = self.limits
        result = int(await self._run(
            self._deliver, "msg", ITEM_COST, sid, msg.seq, msg.data_text, limits.keep_delivered,
            limits.keep_delivered_bytes, limits.delivered_bytes_max, self._ttl_ms))
        return {1: Delivery.DELIVERED, 0: Delivery.DUPLICATE}.get(result, Delivery.GAP)

    async def detach(self, sid: str) -> None:
        await self._run(self._detach, "close", ITEM_COST, sid)

    async def add_event(self, data_text: str, event_id: str | None = None) -> int:
        seq = int(await self._run(self._event, "ack_broadcast", _EVENT_COST, data_text,
                                  self.limits.replay_max, self.limits.replay_bytes_max,
                                  event_id or "", keys=[self.channel]))
        self.saw(seq)
        return seq

    async def expire(self, attached: Iterable[str] = ()) -> int:
        return int(await self._run(self._expire, "sweep", ITEM_COST, self._ttl_ms, *attached))

    async def events(self, first: int, last: int) -> tuple[int, list[tuple[int, str]]]:
        """The newest event number and the kept events numbered ``first`` to ``last``, as
        ``(seq, data JSON text)``, read at one instant.

        A script numbers an event and keeps it at once, so a number up to the newest that
        is not kept here is gone for good (trimmed, too large to keep, or lost with a
        restarted Redis), not on its way.
        """
        try:
            got: Any = await self._read_events(args=[self.prefix, f"{first}-0", f"{last}-0"])
        except REDIS_ERRORS as exc:
            self._on_lost(exc)
            raise AckStoreUnavailable(f"the Redis backplane is unreachable: {exc}") from None
        current, entries = int(got[0]), got[1]
        return current, [(int(eid.split(b"-")[0]), _fields(f)[b"d"].decode())
                         for eid, f in entries]

    async def current(self) -> int:
        """The newest event number."""
        return int(await self.redis.get(self.prefix + "seq") or 0)

    async def session(self, sid: str) -> SessionView | None:
        # one script, not a pipeline: one command, so a dead connection is retried (redis-py
        # 5.0 never retries a pipeline)
        flat, delivered = await self._read_session(args=[self.prefix, sid])
        fields = _fields(flat)
        if not fields:
            return None
        return SessionView(sid, int(fields.get(b"expected", 1)),
                           [json.loads(d) for d in delivered],
                           int(fields.get(b"duplicates", 0)), int(fields.get(b"connections", 0)))
