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

The server delivers each session's messages exactly once and in order
(duplicates, resent after a reconnect, are acknowledged again but not
delivered) and replays broadcasts the client missed from a bounded buffer
("connection-state recovery"); what fell out of the buffer is reported as
``lost``, never silently skipped.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REPLAY_MAX = 1000


@dataclass
class Session:
    """What the server remembers about one client session across connections."""

    id: str
    expected: int = 1
    delivered: list[Any] = field(default_factory=list)
    duplicates: int = 0
    connections: int = 0


class AckState:
    """Sessions and the broadcast replay buffer of one LabServer."""

    def __init__(self, replay_max: int = REPLAY_MAX, keep_delivered: int = 100_000) -> None:
        self.sessions: dict[str, Session] = {}
        self.replay: collections.deque[tuple[int, Any]] = collections.deque(maxlen=replay_max)
        self.event_seq = 0
        self.keep_delivered = keep_delivered
        self.on_deliver: Callable[[str, Any], None] | None = None

    def handle(self, conn_state: dict[str, Any], text: str) -> list[str]:
        """Process one message from a client; return the messages to send back."""
        try:
            msg = json.loads(text)
            op = msg["op"]
        except (ValueError, KeyError, TypeError):
            return [json.dumps({"op": "error", "error": "expected JSON with an 'op' field"})]
        if op == "hello":
            sid = str(msg.get("session", ""))
            if not sid:
                return [json.dumps({"op": "error", "error": "hello needs a session id"})]
            session = self.sessions.setdefault(sid, Session(sid))
            session.connections += 1
            conn_state["session"] = session
            last_seen = int(msg.get("last_seen", 0))
            missed = [(s, d) for s, d in self.replay if s > last_seen]
            lost = max(0, self.event_seq - last_seen - len(missed))
            out = [json.dumps({"op": "welcome", "next": session.expected,
                               "replayed": len(missed), "lost": lost})]
            out += [json.dumps({"op": "event", "seq": s, "data": d}) for s, d in missed]
            return out
        session: Session | None = conn_state.get("session")
        if session is None:
            return [json.dumps({"op": "error", "error": "send hello first"})]
        if op == "msg":
            seq = msg.get("seq")
            if not isinstance(seq, int):
                return [json.dumps({"op": "error", "error": "msg needs an integer seq"})]
            if seq == session.expected:
                session.expected += 1
                if len(session.delivered) < self.keep_delivered:
                    session.delivered.append(msg.get("data"))
                if self.on_deliver is not None:
                    self.on_deliver(session.id, msg.get("data"))
                return [json.dumps({"op": "ack", "seq": seq})]
            if seq < session.expected:
                session.duplicates += 1
                return [json.dumps({"op": "ack", "seq": seq})]
            return []  # a gap: not acknowledged, the client resends from welcome.next
        return [json.dumps({"op": "error", "error": f"unknown op {op!r}"})]

    def event(self, data: Any) -> str:
        """Number a broadcast, keep it for replay, return the message to send."""
        self.event_seq += 1
        self.replay.append((self.event_seq, data))
        return json.dumps({"op": "event", "seq": self.event_seq, "data": data})
