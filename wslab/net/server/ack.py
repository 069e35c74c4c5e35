"""The server side of exactly-once delivery: the ``/ack`` route (layer 2, I/O).

WebSocket itself has no acknowledgements, sequence numbers or replay: a TCP
connection that dies takes unsent and unacknowledged data with it.  This tiny
application protocol (JSON text messages) adds them on top:

client -> server
    ``{"op": "hello", "session": S, "last_seen": E}``  after every (re)connect
    ``{"op": "msg", "seq": N, "data": D}``             numbered from 1 per session
server -> client
    ``{"op": "welcome", "next": N, "replayed": k, "lost": m}``  the next seq expected
    ``{"op": "ack", "seq": N}``                        delivered (or a duplicate)
    ``{"op": "event", "seq": E, "data": D}``           a numbered broadcast
    ``{"op": "error", "error": "..."}``                a message it cannot use

The server delivers each session's messages exactly once and in order
(duplicates, resent after a reconnect, are acknowledged again but not
delivered) and replays broadcasts the client missed from a bounded buffer
("connection-state recovery"); what fell out of the buffer is reported as
``lost``, never silently skipped.

Everything a client can make the server keep is bounded (issue 11): the replay
buffer in events (``replay_max``) *and* bytes (``replay_bytes_max``), so one
hello can make the server send back at most that much; each session keeps only
its newest delivered messages (``keep_delivered`` of them, ``keep_delivered_bytes``
in all, and all sessions together ``delivered_bytes_max``: the sessions used
least recently give theirs up first); the number of sessions is capped (``sessions_max``: the one idle the
longest, with no connection, goes first); and a session with no connection
expires after ``session_ttl`` seconds (:meth:`AckState.expire`, run by the server).
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REPLAY_BYTES_MAX", "REPLAY_MAX", "SESSIONS_MAX", "SESSION_ID_MAX", "SESSION_TTL",
           "AckState", "Session"]

REPLAY_MAX = 1000                  # broadcasts kept for replay ...
REPLAY_BYTES_MAX = 4 << 20         # ... and at most this many bytes of them (JSON text)
SESSIONS_MAX = 1000                # sessions remembered at once
SESSION_TTL = 600.0                # seconds a session without a connection is kept
SESSION_ID_MAX = 128               # characters in a session id
KEEP_DELIVERED = 100_000           # newest delivered messages a session keeps ...
KEEP_DELIVERED_BYTES = 1 << 20     # ... and at most this many bytes of them ...
DELIVERED_BYTES_MAX = 32 << 20     # ... and all sessions together at most this many
_ITEM_COST = 32                    # bytes counted per kept message beyond its JSON text


@dataclass
class Session:
    """What the server remembers about one client session across connections.

    ``delivered`` holds the newest delivered messages only (see ``AckState``);
    ``delivered_count`` counts them all.
    """

    id: str
    expected: int = 1
    delivered: list[Any] = field(default_factory=list)
    duplicates: int = 0
    connections: int = 0
    delivered_count: int = 0
    attached: int = 0              # connections using this session now
    last_used: float = 0.0         # time.monotonic() of its last hello or message
    _sizes: collections.deque[int] = field(default_factory=collections.deque, repr=False)
    _bytes: int = field(default=0, repr=False)


def _reply(**fields: Any) -> str:
    return json.dumps(fields)


def _error(why: str) -> list[str]:
    return [_reply(op="error", error=why)]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class AckState:
    """Sessions and the broadcast replay buffer of one LabServer (lab loop only)."""

    def __init__(self, replay_max: int = REPLAY_MAX, keep_delivered: int = KEEP_DELIVERED, *,
                 replay_bytes_max: int = REPLAY_BYTES_MAX, sessions_max: int = SESSIONS_MAX,
                 session_ttl: float = SESSION_TTL,
                 keep_delivered_bytes: int = KEEP_DELIVERED_BYTES,
                 delivered_bytes_max: int = DELIVERED_BYTES_MAX) -> None:
        for label, value in (("replay_max", replay_max), ("keep_delivered", keep_delivered),
                             ("replay_bytes_max", replay_bytes_max),
                             ("sessions_max", sessions_max),
                             ("keep_delivered_bytes", keep_delivered_bytes),
                             ("delivered_bytes_max", delivered_bytes_max)):
            if not _is_int(value) or value < 1:
                raise ValueError(f"{label} is a positive integer, got {value!r}")
        if isinstance(session_ttl, bool) or not isinstance(session_ttl, (int, float)) \
                or session_ttl <= 0:
            raise ValueError(f"ack_session_ttl is a number of seconds > 0, got {session_ttl!r}")
        # insertion order = least recently used first (moved to the end on every use)
        self.sessions: dict[str, Session] = {}
        self.replay: collections.deque[tuple[int, str]] = collections.deque()
        self.replay_max = replay_max
        self.replay_bytes_max = replay_bytes_max
        self.replay_bytes = 0
        self.event_seq = 0
        self.keep_delivered = keep_delivered
        self.keep_delivered_bytes = keep_delivered_bytes
        self.delivered_bytes_max = delivered_bytes_max
        self.delivered_bytes = 0    # what all sessions' delivered lists hold, counted
        self.sessions_max = sessions_max
        self.session_ttl = float(session_ttl)
        self.sessions_evicted = 0   # dropped to stay under sessions_max
        self.sessions_expired = 0   # dropped after session_ttl without a connection
        self.on_deliver: Callable[[str, Any], None] | None = None

    # --- one client's messages ---------------------------------------------------------
    def handle(self, conn_state: dict[str, Any], text: str | bytes) -> list[str]:
        """Process one message from a client; return the messages to send back.

        Never raises on what a client sends: anything unusable gets an ``error`` reply.
        """
        if not isinstance(text, str):
            return _error("the /ack route speaks JSON text messages, not binary")
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError):
            return _error("expected JSON with an 'op' field")
        if not isinstance(msg, dict) or "op" not in msg:
            return _error("expected a JSON object with an 'op' field")
        op = msg["op"]
        if op == "hello":
            return self._hello(conn_state, msg)
        session: Session | None = conn_state.get("session")
        if op == "msg":
            if session is None:
                return _error("send hello first")
            return self._msg(session, msg)
        if not isinstance(op, str):
            return _error("op is a string: 'hello' or 'msg'")
        if session is None:
            return _error("send hello first")
        return _error(f"unknown op {op[:40]!r}; ops are 'hello' and 'msg'")

    def _hello(self, conn_state: dict[str, Any], msg: dict[str, Any]) -> list[str]:
        sid = msg.get("session")
        if not isinstance(sid, str) or not 0 < len(sid) <= SESSION_ID_MAX:
            return _error(f"hello needs a session id: a string of 1-{SESSION_ID_MAX} characters")
        last_seen = msg.get("last_seen", 0)
        if last_seen is None:
            last_seen = 0
        if not _is_int(last_seen) or last_seen < 0:
            return _error("last_seen is the number of the last event seen: an integer >= 0")
        now = time.monotonic()
        self.expire(now)
        session = self.sessions.pop(sid, None)
        if session is None:
            if len(self.sessions) >= self.sessions_max and not self._evict_one():
                return _error(f"too many sessions ({self.sessions_max}); try again later")
            session = Session(sid)
        self.sessions[sid] = session  # now the most recently used
        session.last_used = now
        session.connections += 1
        old: Session | None = conn_state.get("session")
        if old is not session:
            if old is not None:
                old.attached -= 1
            session.attached += 1
            conn_state["session"] = session
        missed = [(s, t) for s, t in self.replay if s > last_seen]
        lost = max(0, self.event_seq - last_seen - len(missed))
        out = [_reply(op="welcome", next=session.expected, replayed=len(missed), lost=lost)]
        out += [t for _, t in missed]
        return out

    def _msg(self, session: Session, msg: dict[str, Any]) -> list[str]:
        seq = msg.get("seq")
        if not _is_int(seq):
            return _error("msg needs an integer seq")
        session.last_used = time.monotonic()
        if seq == session.expected:
            session.expected += 1
            data = msg.get("data")
            self._keep(session, data)
            if self.on_deliver is not None:
                self.on_deliver(session.id, data)
            return [_reply(op="ack", seq=seq)]
        if seq < session.expected:
            session.duplicates += 1
            return [_reply(op="ack", seq=seq)]
        return []  # a gap: not acknowledged, the client resends from welcome.next

    def _keep(self, session: Session, data: Any) -> None:
        """Keep ``data`` among the session's newest delivered messages (bounded)."""
        session.delivered_count += 1
        size = len(json.dumps(data)) + _ITEM_COST
        if size > self.keep_delivered_bytes:
            return  # bigger than the whole budget: delivered (and counted), not kept
        session.delivered.append(data)
        session._sizes.append(size)
        session._bytes += size
        self.delivered_bytes += size
        self._trim(session, self.keep_delivered, self.keep_delivered_bytes)
        if self.delivered_bytes > self.delivered_bytes_max:
            for other in list(self.sessions.values()):  # least recently used first
                over = self.delivered_bytes - self.delivered_bytes_max
                if over <= 0:
                    break
                self._trim(other, self.keep_delivered, max(0, other._bytes - over))

    def _trim(self, session: Session, count: int, size: int) -> None:
        """Drop a session's oldest kept messages until it keeps <= count and <= size bytes."""
        drop = freed = 0
        sizes = session._sizes
        while sizes and (len(sizes) > count or session._bytes - freed > size):
            freed += sizes.popleft()
            drop += 1
        if drop:
            del session.delivered[:drop]
            session._bytes -= freed
            self.delivered_bytes -= freed

    def detach(self, conn_state: dict[str, Any]) -> None:
        """A connection closed: its session may now expire or be evicted."""
        session: Session | None = conn_state.pop("session", None)
        if session is not None:
            session.attached -= 1
            session.last_used = time.monotonic()

    # --- bounds ------------------------------------------------------------------------
    def _evict_one(self) -> bool:
        """Forget the least recently used session with no connection; False if none."""
        for sid, session in self.sessions.items():
            if session.attached <= 0:
                del self.sessions[sid]
                self.delivered_bytes -= session._bytes
                self.sessions_evicted += 1
                return True
        return False

    def expire(self, now: float | None = None) -> int:
        """Forget sessions that had no connection for ``session_ttl`` s; returns how many."""
        if now is None:
            now = time.monotonic()
        deadline = now - self.session_ttl
        gone = [sid for sid, s in self.sessions.items()
                if s.attached <= 0 and s.last_used <= deadline]
        for sid in gone:
            self.delivered_bytes -= self.sessions.pop(sid)._bytes
        self.sessions_expired += len(gone)
        return len(gone)

    # --- numbered broadcasts -------------------------------------------------------------
    def event(self, data: Any) -> str:
        """Number a broadcast, keep it for replay (within the bounds), return the message."""
        self.event_seq += 1
        text = _reply(op="event", seq=self.event_seq, data=data)
        size = len(text)
        if size <= self.replay_bytes_max:
            self.replay.append((self.event_seq, text))
            self.replay_bytes += size
        while self.replay and (len(self.replay) > self.replay_max
                               or self.replay_bytes > self.replay_bytes_max):
            self.replay_bytes -= len(self.replay.popleft()[1])
        return text
