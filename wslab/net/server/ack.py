"""The ``/ack`` route's state in one server's memory, and its connections (layer 2).

The protocol (messages, validation, bounds, replies) is :mod:`wslab.protocol.ack`;
this module holds what one server needs around it:

* :class:`MemoryAckStore`, the :class:`~wslab.protocol.ack.AckStore` of a server
  without a backplane: sessions and the replay buffer in this process, bounded as
  :class:`~wslab.protocol.ack.AckLimits` says (the Redis store of
  :mod:`wslab.net.redis_ack` obeys the same limits);
* :class:`AckRoute`, the route's connections over one
  :class:`~wslab.protocol.ack.AckProtocol`: it sends the replies, fans numbered
  events out, and closes a client with 1013 when the store cannot be reached.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...protocol.ack import (
    GAP_REASON,
    RESET_REASON,
    AckConnState,
    AckLimits,
    AckProtocol,
    AckStore,
    AckStoreReset,
    AckStoreUnavailable,
    Delivery,
    Msg,
    Opened,
    SessionsFull,
    SessionView,
    event_message,
)
from ..errors import ConnectionClosed

__all__ = ["REPLAY_BYTES_MAX", "REPLAY_MAX", "SESSIONS_MAX", "SESSION_ID_MAX", "SESSION_TTL",
           "AckPeer", "AckRoute", "AckState", "MemoryAckStore", "Session"]

_DEFAULTS = AckLimits()
REPLAY_MAX = _DEFAULTS.replay_max
REPLAY_BYTES_MAX = _DEFAULTS.replay_bytes_max
SESSIONS_MAX = _DEFAULTS.sessions_max
SESSION_TTL = _DEFAULTS.session_ttl
SESSION_ID_MAX = _DEFAULTS.session_id_max


@dataclass
class Session:
    """What the server remembers about one client session across connections.

    ``delivered`` holds the newest delivered messages only (see :class:`AckLimits`);
    ``delivered_count`` counts them all; ``kept_bytes`` is what ``delivered`` costs.
    """

    id: str
    expected: int = 1
    delivered: list[Any] = field(default_factory=list)
    duplicates: int = 0
    connections: int = 0
    delivered_count: int = 0
    attached: int = 0              # connections using this session now
    last_used: float = 0.0         # time.monotonic() of its last hello or message
    sizes: collections.deque[int] = field(default_factory=collections.deque, repr=False)
    kept_bytes: int = field(default=0, repr=False)


class MemoryAckStore:
    """Sessions and the broadcast replay buffer of one LabServer (lab loop only).

    Its coroutines never suspend; the ``*_now`` methods are the same operations, plain.
    """

    node: str | None = None
    resets = 0  # memory is never reset under a running server

    def __init__(self, limits: AckLimits | None = None, **changes: Any) -> None:
        if limits is None:
            limits = AckLimits(**changes)
        self.limits = limits
        # insertion order = least recently used first (moved to the end on every use)
        self.sessions: dict[str, Session] = {}
        self.replay: collections.deque[tuple[int, str]] = collections.deque()
        self.replay_bytes = 0
        self.event_seq = 0
        # ack_broadcast ids -> their numbers, the newest replay_max of them (oldest first)
        self.event_ids: dict[str, int] = {}
        self.delivered_bytes = 0    # what all sessions' delivered lists hold, counted
        self.sessions_evicted = 0   # dropped to stay under sessions_max
        self.sessions_expired = 0   # dropped after session_ttl without a connection

    # the limits under their old names
    replay_max = property(lambda self: self.limits.replay_max)
    replay_bytes_max = property(lambda self: self.limits.replay_bytes_max)
    sessions_max = property(lambda self: self.limits.sessions_max)
    session_ttl = property(lambda self: float(self.limits.session_ttl))
    keep_delivered = property(lambda self: self.limits.keep_delivered)
    keep_delivered_bytes = property(lambda self: self.limits.keep_delivered_bytes)
    delivered_bytes_max = property(lambda self: self.limits.delivered_bytes_max)

    # --- AckStore ----------------------------------------------------------------------
    async def open(self, sid: str, last_seen: int, previous: str | None) -> Opened:
        return self.open_now(sid, last_seen, previous)

    async def deliver(self, sid: str, msg: Msg) -> Delivery:
        return self.deliver_now(sid, msg)

    async def detach(self, sid: str) -> None:
        self.detach_now(sid)

    async def add_event(self, data_text: str, event_id: str | None = None) -> int:
        return self.add_event_now(data_text, event_id)

    async def expire(self, attached: Iterable[str] = ()) -> int:
        return self.expire_now()  # this store counts its connections itself

    async def session(self, sid: str) -> SessionView | None:
        s = self.sessions.get(sid)
        if s is None:
            return None
        return SessionView(s.id, s.expected, list(s.delivered), s.duplicates, s.connections)

    # --- the same, plain ---------------------------------------------------------------------
    def open_now(self, sid: str, last_seen: int, previous: str | None) -> Opened:
        now = time.monotonic()
        self.expire_now(now)
        session = self.sessions.pop(sid, None)
        created = session is None
        if session is None:
            if len(self.sessions) >= self.limits.sessions_max and not self._evict_one():
                raise SessionsFull(f"{len(self.sessions)} sessions, all attached")
            session = Session(sid)
        self.sessions[sid] = session  # now the most recently used
        session.last_used = now
        session.connections += 1
        if previous != sid:
            old = self.sessions.get(previous) if previous is not None else None
            if old is not None:
                old.attached -= 1
            session.attached += 1
        missed = [(s, t) for s, t in self.replay if s > last_seen]
        return Opened(session.expected, self.event_seq, missed, created)

    def deliver_now(self, sid: str, msg: Msg) -> Delivery:
        session = self.sessions.pop(sid, None)
        if session is None:  # expired under an attached connection: start over
            session = Session(sid, attached=1)
        self.sessions[sid] = session  # now the most recently used
        session.last_used = time.monotonic()
        if msg.seq == session.expected:
            session.expected += 1
            self._keep(session, msg)
            return Delivery.DELIVERED
        if msg.seq < session.expected:
            session.duplicates += 1
            return Delivery.DUPLICATE
        return Delivery.GAP

    def detach_now(self, sid: str) -> None:
        session = self.sessions.get(sid)
        if session is not None:
            session.attached -= 1
            session.last_used = time.monotonic()

    def add_event_now(self, data_text: str, event_id: str | None = None) -> int:
        """Number a broadcast, keep it for replay (within the bounds); its number.

        An ``event_id`` numbered before (among the newest ``replay_max`` ids) returns
        its number and is not numbered again.
        """
        if event_id is not None:
            known = self.event_ids.get(event_id)
            if known is not None:
                return known
            self.event_ids[event_id] = self.event_seq + 1
            while len(self.event_ids) > self.limits.replay_max:
                del self.event_ids[next(iter(self.event_ids))]
        self.event_seq += 1
        text = event_message(self.event_seq, data_text)
        size = len(text)
        if size <= self.limits.replay_bytes_max:
            self.replay.append((self.event_seq, text))
            self.replay_bytes += size
        while self.replay and (len(self.replay) > self.limits.replay_max
                               or self.replay_bytes > self.limits.replay_bytes_max):
            self.replay_bytes -= len(self.replay.popleft()[1])
        return self.event_seq

    def expire_now(self, now: float | None = None) -> int:
        """Forget sessions that had no connection for ``session_ttl`` s; returns how many."""
        if now is None:
            now = time.monotonic()
        deadline = now - self.limits.session_ttl
        gone = [sid for sid, s in self.sessions.items()
                if s.attached <= 0 and s.last_used <= deadline]
        for sid in gone:
            self.delivered_bytes -= self.sessions.pop(sid).kept_bytes
        self.sessions_expired += len(gone)
        return len(gone)

    # --- bounds ------------------------------------------------------------------------
    def _keep(self, session: Session, msg: Msg) -> None:
        """Keep the message among the session's newest delivered ones (bounded)."""
        session.delivered_count += 1
        size = self.limits.item_size(msg.data_text)
        if size > self.limits.keep_delivered_bytes:
            return  # bigger than the whole budget: delivered (and counted), not kept
        session.delivered.append(msg.data)
        session.sizes.append(size)
        session.kept_bytes += size
        self.delivered_bytes += size
        self._trim(session, self.limits.keep_delivered, self.limits.keep_delivered_bytes)
        if self.delivered_bytes > self.limits.delivered_bytes_max:
            for other in list(self.sessions.values()):  # least recently used first
                over = self.delivered_bytes - self.limits.delivered_bytes_max
                if over <= 0:
                    break
                self._trim(other, self.limits.keep_delivered, max(0, other.kept_bytes - over))

    def _trim(self, session: Session, count: int, size: int) -> None:
        """Drop a session's oldest kept messages until it keeps <= count and <= size bytes."""
        drop = freed = 0
        sizes = session.sizes
        while sizes and (len(sizes) > count or session.kept_bytes - freed > size):
            freed += sizes.popleft()
            drop += 1
        if drop:
            del session.delivered[:drop]
            session.kept_bytes -= freed
            self.delivered_bytes -= freed

    def _evict_one(self) -> bool:
        """Forget the least recently used session with no connection; False if none."""
        for sid, session in self.sessions.items():
            if session.attached <= 0:
                del self.sessions[sid]
                self.delivered_bytes -= session.kept_bytes
                self.sessions_evicted += 1
                return True
        return False


#: the name this store had when it was the only one
AckState = MemoryAckStore


class AckPeer(Protocol):
    """What the route needs of a connection: its id, a send and a close."""

    @property
    def id(self) -> int: ...

    def send(self, message: str | bytes) -> None: ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...


class AckRoute:
    """The ``/ack`` route's connections over one :class:`AckProtocol` (lab loop only).

    ``record(kind, client_id, code, reason)`` writes an event of the server's log.
    When the store was reset (its ``resets`` count grew) every connection is closed with
    1012 and :data:`~wslab.protocol.ack.RESET_REASON`: their sessions are gone, and a
    client must hear so (its unacknowledged messages have an unknown outcome).
    """

    def __init__(self, store: AckStore,
                 record: Callable[[str, int | None, int | None, str], None]) -> None:
        self.protocol = AckProtocol(store)
        self._record = record
        self._conns: dict[int, tuple[AckPeer, AckConnState]] = {}
        self._detaching: set[asyncio.Task[Any]] = set()  # detaches and sweeps running
        self._resets = store.resets

    @property
    def store(self) -> AckStore:
        return self.protocol.store

    @store.setter
    def store(self, store: AckStore) -> None:
        self.protocol.store = store
        self._resets = store.resets

    async def handle(self, peer: AckPeer, message: str | bytes) -> None:
        """One message from ``peer``: its replies are sent before the next is read."""
        entry = self._conns.get(peer.id)
        if entry is None:
            entry = self._conns[peer.id] = (peer, AckConnState())
        if self.check_reset():
            return
        try:
            replies = await self.protocol.handle(entry[1], message)
        except AckStoreReset:
            self.check_reset()
            return
        except AckStoreUnavailable as exc:
            # Without its store this server can neither number nor de-duplicate: 1013
            # "try again later" sends the client back through the balancer, with its queue.
            self._record("error", peer.id, 1013, f"/ack: {exc}")
            peer.close(1013, "backplane unavailable")
            return
        for text in replies:
            _send(peer, text)

    @property
    def connection_count(self) -> int:
        """The ``/ack`` connections this route holds (a closed one is forgotten at once)."""
        return len(self._conns)

    def check_reset(self) -> bool:
        """Close every connection with 1012 if the store was reset since the last look."""
        resets = self.protocol.store.resets
        if resets == self._resets:
            return False
        self._resets = resets
        conns = list(self._conns.values())
        self._conns.clear()  # their sessions are gone: nothing to detach
        self._record("error", None, 1012, f"/ack: the store was reset; closing {len(conns)} "
                     "connection(s)")
        for peer, _ in conns:
            peer.close(1012, RESET_REASON)
        return True

    def events_missed(self, first: int, last: int) -> int:
        """Events ``first``..``last`` will never be sent live: close (1012,
        :data:`~wslab.protocol.ack.GAP_REASON`) every connection still waiting for them, so
        its client reconnects and the welcome counts what it lost; how many were closed."""
        waiting = [peer for peer, state in self._conns.values()
                   if self.protocol.waits_for(state, last)]
        if waiting:
            self._record("error", None, 1012, f"/ack: event(s) {first}-{last} cannot be sent "
                         f"live; closing {len(waiting)} connection(s) waiting for them")
        for peer in waiting:
            self.forget(peer)  # no event is sent to it any more; its session stays
            peer.close(1012, GAP_REASON)
        return len(waiting)

    def forget(self, peer: AckPeer) -> None:
        """``peer`` closed: its session may expire (a store away now: it expires later)."""
        entry = self._conns.pop(peer.id, None)
        if entry is not None and entry[1].session is not None:
            task = asyncio.get_running_loop().create_task(self._detach(entry[1].session))
            self._detaching.add(task)
            task.add_done_callback(self._detaching.discard)

    async def _detach(self, sid: str) -> None:
        try:
            await self.protocol.store.detach(sid)
        except AckStoreUnavailable:
            pass  # Redis away: the session expires after session_ttl instead
        finally:
            self.check_reset()

    def sweep_soon(self) -> None:
        """Start :meth:`sweep` on the lab loop without waiting for it."""
        task = asyncio.get_running_loop().create_task(self.sweep())
        self._detaching.add(task)
        task.add_done_callback(self._detaching.discard)

    async def sweep(self) -> int:
        """Expire idle sessions (the store's); the sessions of open connections are in use."""
        attached = {st.session for _, st in self._conns.values() if st.session is not None}
        try:
            return await self.protocol.store.expire(attached)
        except AckStoreUnavailable:
            return 0
        finally:
            self.check_reset()

    def deliver_event(self, seq: int, text: str) -> int:
        """Send the event numbered ``seq`` to every connection that still needs it."""
        self.check_reset()
        sent = 0
        for peer, state in list(self._conns.values()):
            out = self.protocol.event_for(state, seq, text)
            if out is not None:
                sent += _send(peer, out)
        return sent


def _send(peer: AckPeer, text: str) -> int:
    try:
        peer.send(text)
    except ConnectionClosed:
        return 0
    return 1

