"""The ``/ack`` application protocol: exactly-once delivery and replay (layer 1, sans-I/O).

WebSocket itself has no acknowledgements, sequence numbers or replay: a TCP
connection that dies takes unsent and unacknowledged data with it.  This small
application protocol (JSON text messages) adds them on top:

client -> server
    ``{"op": "hello", "session": S, "last_seen": E}``  after every (re)connect
    ``{"op": "msg", "seq": N, "data": D}``             numbered from 1 per session
server -> client
    ``{"op": "welcome", "next": N, "replayed": k, "lost": m}``  the next seq expected;
    with ``"new": true`` when the session did not exist (first use, expired, or the store
    was reset): a client that used it before knows its unacknowledged messages have an
    unknown outcome
    ``{"op": "ack", "seq": N}``                        delivered (or a duplicate)
    ``{"op": "event", "seq": E, "data": D}``           a numbered broadcast
    ``{"op": "error", "error": "..."}``                a message it cannot use

Each session's messages are delivered exactly once and in order (a duplicate,
resent after a reconnect, is acknowledged again but not delivered; a gap is not
acknowledged); broadcasts a client missed are replayed from a bounded buffer and
what fell out of it is reported as ``lost``, never silently skipped.  A server that
finds a numbered event it can no longer deliver live (it never reached it: gone from
a shared store, say, before it was read) closes the connections still waiting for
it with 1012 and :data:`GAP_REASON`; their hello after the reconnect gets the
``welcome`` that counts it in ``lost``.

This module holds every rule of the protocol: the parsing and validation of a
client's messages, the bounds (:class:`AckLimits`), the replies, and which
numbered event a connection still needs.  The state lives behind
:class:`AckStore`, implemented in memory (one server) and in Redis (many
servers); :class:`AckProtocol` is the same object over either.  Nothing here
does I/O: a store's coroutines do, and a memory store's never suspend.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import WSLabError

__all__ = ["GAP_REASON", "RESET_REASON", "SESSION_ID_CHARS", "SEQ_MAX", "AckConnState", "AckError",
           "AckLimits", "AckProtocol", "AckStore", "AckStoreReset", "AckStoreUnavailable",
           "Delivery", "Hello", "Msg", "Opened", "SessionView", "SessionsFull", "ack_reply",
           "check_event_id", "error_reply", "event_message", "parse_message", "welcome_reply"]

#: the characters a session id may use: printable ASCII without the space, so an id is
#: as many bytes as characters wherever it is stored (a Redis key, an event, a log)
SESSION_ID_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))
#: the largest seq or event number: exact in a JSON number, a Lua number and a stream id
SEQ_MAX = 2**53 - 1
ITEM_COST = 32  # bytes counted per kept message beyond its JSON text


class AckError(WSLabError, ValueError):
    """A message a client sent cannot be used; ``str(exc)`` is the ``error`` reply's text."""


class SessionsFull(WSLabError):
    """The store holds ``sessions_max`` sessions and none of them may be dropped now."""


class AckStoreUnavailable(WSLabError):
    """The store cannot be reached (Redis away): the server cannot number nor de-duplicate."""


#: the close reason (with code 1012) of every ``/ack`` connection of a server whose store
#: was reset: its sessions and unreplayed events are gone, a client starts its session over
RESET_REASON = "ack state reset: sessions and events lost"

#: the close reason (with code 1012) of the ``/ack`` connections that still need an event
#: this server cannot send live: the session stands, and the welcome after the reconnect
#: says how many events were lost
GAP_REASON = "events missed: reconnect to hear how many"


class AckStoreReset(AckStoreUnavailable):
    """The store lost its state (a Redis restarted without persistence, or flushed): every
    session it held is gone, and what a client sent without an ack has an unknown outcome."""


def _positive(label: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AckError(f"{label} is a positive integer, got {value!r}")


@dataclass(frozen=True)
class AckLimits:
    """Everything a client can make a server (or Redis) keep, bounded; both stores obey it.

    ``replay_max`` broadcasts are kept for replay and at most ``replay_bytes_max`` bytes of
    them, so one hello sends back at most that much; each session keeps its newest
    ``keep_delivered`` delivered messages and at most ``keep_delivered_bytes`` of them, all
    sessions together ``delivered_bytes_max`` (the sessions used least recently give theirs
    up first); ``sessions_max`` sessions at once (the one idle the longest, with no
    connection, goes first); a session with no connection expires after ``session_ttl`` s.
    """

    replay_max: int = 1000
    replay_bytes_max: int = 4 << 20
    sessions_max: int = 1000
    session_ttl: float = 600.0
    session_id_max: int = 128
    keep_delivered: int = 100_000
    keep_delivered_bytes: int = 1 << 20
    delivered_bytes_max: int = 32 << 20

    def __post_init__(self) -> None:
        for label in ("replay_max", "replay_bytes_max", "sessions_max", "session_id_max",
                      "keep_delivered", "keep_delivered_bytes", "delivered_bytes_max"):
            _positive(label, getattr(self, label))
        ttl = self.session_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < 1e9:
            raise AckError("ack_session_ttl is a number of seconds > 0 and below 1e9 (Redis "
                           f"keeps it in milliseconds), got {ttl!r}")

    def item_size(self, data_text: str) -> int:
        """What keeping one delivered message costs, in bytes (its JSON text is ASCII)."""
        return len(data_text) + ITEM_COST


# --- what a client sends -------------------------------------------------------------------

@dataclass(frozen=True)
class Hello:
    """``hello``: (re)attach to ``session``; events after ``last_seen`` are wanted."""

    session: str
    last_seen: int


@dataclass(frozen=True)
class Msg:
    """``msg``: the client's message number ``seq``; ``data_text`` is ``data`` as compact,
    ASCII-only JSON (what a store keeps)."""

    seq: int
    data: Any
    data_text: str


def parse_message(message: str | bytes, limits: AckLimits, *, attached: bool = True
                  ) -> Hello | Msg:
    """One client message, checked; :class:`AckError` says what is wrong with it.

    ``attached``: the connection has said hello (anything but a hello needs one first).
    """
    if not isinstance(message, str):
        raise AckError("the /ack route speaks JSON text messages, not binary")
    try:
        msg = json.loads(message)
    except (ValueError, RecursionError):
        raise AckError("expected JSON with an 'op' field") from None
    if not isinstance(msg, dict) or "op" not in msg:
        raise AckError("expected a JSON object with an 'op' field")
    op = msg["op"]
    if op == "hello":
        return Hello(_session_id(msg.get("session"), limits), _last_seen(msg.get("last_seen")))
    if op == "msg":
        if not attached:
            raise AckError("send hello first")
        seq = msg.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= SEQ_MAX:
            raise AckError(f"msg needs an integer seq from 1 to {SEQ_MAX}")
        data = msg.get("data")
        return Msg(seq, data, json.dumps(data, separators=(",", ":")))
    if not isinstance(op, str):
        raise AckError("op is a string: 'hello' or 'msg'")
    if not attached:
        raise AckError("send hello first")
    raise AckError(f"unknown op {op[:40]!r}; ops are 'hello' and 'msg'")


def _session_id(sid: object, limits: AckLimits) -> str:
    n = limits.session_id_max
    if not isinstance(sid, str) or not 0 < len(sid) <= n \
            or not SESSION_ID_CHARS.issuperset(sid):
        raise AckError(f"hello needs a session id: 1-{n} printable ASCII characters, "
                       "no spaces")
    return sid


def check_event_id(event_id: object, limits: AckLimits) -> str:
    """An ``ack_broadcast`` id: the same characters and length bound as a session id."""
    if not isinstance(event_id, str):
        raise AckError(f"an event id is a string, got {type(event_id).__name__}")
    if not event_id or len(event_id) > limits.session_id_max:
        raise AckError(f"an event id has 1 to {limits.session_id_max} characters, "
                       f"got {len(event_id)}")
    if not SESSION_ID_CHARS.issuperset(event_id):
        raise AckError("an event id is printable ASCII without spaces")
    return event_id


def _last_seen(value: object) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= SEQ_MAX:
        raise AckError("last_seen is the number of the last event seen: an integer "
                       f"from 0 to {SEQ_MAX}")
    return value


# --- what the server sends -------------------------------------------------------------------

def _reply(**fields: Any) -> str:
    return json.dumps(fields)


def error_reply(why: str) -> str:
    return _reply(op="error", error=why)


def ack_reply(seq: int) -> str:
    return _reply(op="ack", seq=seq)


def welcome_reply(expected: int, replayed: int, lost: int, node: str | None = None, *,
                  new: bool = False) -> str:
    fields: dict[str, Any] = {"next": expected, "replayed": replayed, "lost": lost}
    if node is not None:
        fields["node"] = node
    if new:
        fields["new"] = True
    return _reply(op="welcome", **fields)


def event_message(seq: int, data_text: str) -> str:
    """The ``event`` message numbered ``seq`` whose data is the JSON text ``data_text``."""
    return f'{{"op": "event", "seq": {seq}, "data": {data_text}}}'


# --- the state a store keeps -------------------------------------------------------------------

class Delivery(enum.Enum):
    """What a store did with a ``msg``."""

    DELIVERED = "delivered"   # the next one: delivered now, acknowledged
    DUPLICATE = "duplicate"   # seen before: acknowledged again, not delivered
    GAP = "gap"               # beyond the next one: neither (the client resends in order)


@dataclass(frozen=True)
class Opened:
    """A session after a hello: the next seq expected, the newest event number, and the
    kept events after the client's ``last_seen`` as ``(seq, event message)``; ``created``
    when this hello made the session."""

    expected: int
    current: int
    missed: list[tuple[int, str]]
    created: bool = False


@dataclass(frozen=True)
class SessionView:
    """A session as a store holds it (for people and tests)."""

    id: str
    expected: int
    delivered: list[Any]
    duplicates: int
    connections: int


class AckStore(Protocol):
    """Sessions and numbered events, bounded by :class:`AckLimits` before anything is kept.

    ``previous`` is the session the connection used before this hello (None at first).
    A store that cannot be reached raises :class:`AckStoreUnavailable`, one that finds its
    state lost raises :class:`AckStoreReset` (and starts over, its numbers never going back).
    """

    limits: AckLimits
    node: str | None  # named in ``welcome`` when several servers share the store
    resets: int       # times the store found its state lost (0 for a store in memory)

    async def open(self, sid: str, last_seen: int, previous: str | None) -> Opened:
        """Attach a connection to ``sid`` (made if new: :class:`SessionsFull` if it cannot
        be); the events after ``last_seen`` kept for replay."""
        ...

    async def deliver(self, sid: str, msg: Msg) -> Delivery:
        ...

    async def detach(self, sid: str) -> None:
        """A connection of ``sid`` closed: the session may now expire or be evicted."""
        ...

    async def add_event(self, data_text: str, event_id: str | None = None) -> int:
        """Number a broadcast and keep it for replay (within the bounds); its number.

        With an ``event_id`` (checked by :func:`check_event_id`) the call is idempotent:
        an id the store already numbered returns that number and delivers nothing again.
        """
        ...

    async def expire(self, attached: Iterable[str] = ()) -> int:
        """Forget sessions idle for ``session_ttl`` s with no connection; how many.

        ``attached``: the sessions this server has connections for (in use now)."""
        ...

    async def session(self, sid: str) -> SessionView | None:
        ...


@dataclass
class AckConnState:
    """What the protocol keeps about one connection: its session and the newest event
    number sent to it; ``syncing`` queues events that arrive while a hello reads the store."""

    session: str | None = None
    last_event: int = 0
    syncing: list[tuple[int, str]] | None = field(default=None, repr=False)


class AckProtocol:
    """The ``/ack`` protocol over one :class:`AckStore`: messages in, replies out.

    ``on_deliver(session, data)`` is called for each message delivered (not duplicates).
    Never raises on what a client sends: anything unusable gets an ``error`` reply.
    """

    def __init__(self, store: AckStore) -> None:
        self.store = store
        self.on_deliver: Callable[[str, Any], None] | None = None

    @property
    def limits(self) -> AckLimits:
        return self.store.limits

    async def handle(self, state: AckConnState, message: str | bytes) -> list[str]:
        """One message from a client: the messages to send back, in order."""
        try:
            msg = parse_message(message, self.limits, attached=state.session is not None)
        except AckError as exc:
            return [error_reply(str(exc))]
        if isinstance(msg, Hello):
            return await self._hello(state, msg)
        assert state.session is not None  # parse_message: a msg needs a hello first
        outcome = await self.store.deliver(state.session, msg)
        if outcome is Delivery.GAP:
            return []
        if outcome is Delivery.DELIVERED and self.on_deliver is not None:
            self.on_deliver(state.session, msg.data)
        return [ack_reply(msg.seq)]

    async def _hello(self, state: AckConnState, hello: Hello) -> list[str]:
        state.syncing = []
        try:
            opened = await self.store.open(hello.session, hello.last_seen, state.session)
        except SessionsFull:
            return [error_reply(f"too many sessions ({self.limits.sessions_max}); "
                                "try again later")]
        finally:
            queued, state.syncing = state.syncing, None
        state.session = hello.session
        lost = max(0, opened.current - hello.last_seen - len(opened.missed))
        out = [welcome_reply(opened.expected, len(opened.missed), lost, self.store.node,
                             new=opened.created)]
        out += [text for _, text in opened.missed]
        last = max([hello.last_seen, opened.current, *(s for s, _ in opened.missed)])
        for seq, text in queued or ():  # numbered while the store was read
            if seq > last:
                last = seq
                out.append(text)
        state.last_event = last
        return out

    @staticmethod
    def waits_for(state: AckConnState, last: int) -> bool:
        """Whether the connection said (or is saying) hello and was not sent event ``last``
        or a later one, so it still needs a number up to ``last`` (events go out in order):
        if those cannot be sent live, only a new welcome can report them."""
        return (state.syncing is not None or state.session is not None) \
            and state.last_event < last

    def event_for(self, state: AckConnState, seq: int, text: str) -> str | None:
        """The event message to send this connection now, or None: events go to
        connections that said hello, each once and in number order (while a hello reads
        the store, at most ``replay_max`` of them wait for it)."""
        if state.syncing is not None:
            if len(state.syncing) < self.limits.replay_max:
                state.syncing.append((seq, text))
            return None
        if state.session is None or seq <= state.last_event:
            return None
        state.last_event = seq
        return text

