"""Event records and the bounded event log (layer 2, I/O).

Every open, message (both directions), ping, pong, close and handler error a
server or client sees becomes one :class:`Event` with a monotonic nanosecond
timestamp (``time.monotonic_ns``).  The log is a ring: it keeps the newest
``maxlen`` events so a long classroom demo cannot eat the kernel's memory.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, overload

_EMPTY: Mapping[str, Any] = MappingProxyType({})

KINDS = ("open", "message", "ping", "pong", "close", "error", "reject", "limit")


@dataclass(slots=True)
class Event:
    """One thing that happened on a connection.

    ``direction`` is ``"in"`` (received by the server or client that logged it),
    ``"out"`` (sent by it) or ``""``; ``opcode`` is ``"text"``, ``"binary"``,
    ``"ping"``, ``"pong"``, ``"close"`` or ``""``.  Treat it as read-only (it is not
    frozen only because a frozen dataclass costs a microsecond more per event).
    """

    t_ns: int
    kind: str
    client_id: int | None = None
    direction: str = ""
    opcode: str = ""
    size: int = 0
    code: int | None = None
    reason: str = ""
    data: Any = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def data_preview(self) -> str:
        return preview(self.data)

    def __str__(self) -> str:
        arrow = {"in": "<", "out": ">"}.get(self.direction,
                                            "%" if self.kind in ("ping", "pong") else "*")
        who = f"client {self.client_id}" if self.client_id is not None else "-"
        if self.extra.get("broadcast"):
            who = f"broadcast to {len(self.extra.get('recipients', ()))}"
        parts = [f"{arrow} {self.kind:<7} {who}"]
        if self.opcode:
            parts.append(f"{self.opcode} {self.size} B")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.reason:
            parts.append(repr(self.reason))
        if self.data is not None and self.kind in ("message", "ping", "pong"):
            parts.append(self.data_preview)
        return "  ".join(parts)


PREVIEW_LIMIT = 1024  # bytes / characters of a payload kept in an event or log entry


def payload_size(message: str | bytes) -> int:
    """Bytes a message carries on the wire (UTF-8 for text), without encoding ASCII text."""
    if isinstance(message, str):
        return len(message) if message.isascii() else len(message.encode("utf-8"))
    return len(message)


def clip(message: str | bytes) -> str | bytes:
    """The first PREVIEW_LIMIT characters or bytes, what logs keep of a payload."""
    return message if len(message) <= PREVIEW_LIMIT else message[:PREVIEW_LIMIT]


def preview(data: Any, limit: int = 40) -> str:
    """A short, safe text rendering of a payload for logs and tables."""
    if data is None:
        return ""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        shown = raw[:limit // 2].hex(" ")
        return f"<{len(raw)} bytes: {shown}{' ...' if len(raw) > limit // 2 else ''}>"
    text = str(data)
    return repr(text if len(text) <= limit else text[:limit] + "...")


#: what an event log records: ``"lifecycle"`` (opens, closes, errors, rejections and the
#: server's own notes), ``"messages"`` (those and every message, both directions) or
#: ``"all"`` (those and every ping and pong too, the default)
EVENT_LEVELS = ("lifecycle", "messages", "all")
_NOT_LIFECYCLE = frozenset(("message", "ping", "pong"))

#: a message as the ring keeps it until someone reads it: (t_ns, client_id, direction,
#: payload or its first PREVIEW_LIMIT, size or -1 when the payload is whole)
_Lazy = tuple[int, "int | None", str, "str | bytes", int]
#: an open as the ring keeps it: (t_ns, client_id, the client's info: an object with
#: ``remote``, ``path``, ``subprotocol`` and ``origin``, shared with its connection)
_LazyOpen = tuple[int, int, Any]


def check_level(level: object) -> str:
    """``level`` when it is one of :data:`EVENT_LEVELS`, else ValueError naming them."""
    if level not in EVENT_LEVELS:
        raise ValueError(f"events_level is one of {', '.join(map(repr, EVENT_LEVELS))}, "
                         f"got {level!r}")
    return str(level)


def _built(item: Event | _Lazy | _LazyOpen) -> Event:
    """The Event a ring entry stands for (a message or an open is built when it is read)."""
    if isinstance(item, Event):
        return item
    if len(item) == 3:
        t_open, client, info = item
        return Event(t_open, "open", client, extra={
            "remote": info.remote, "path": info.path, "subprotocol": info.subprotocol,
            "origin": info.origin})
    t_ns, cid, direction, data, size = item
    return Event(t_ns, "message", cid, direction, "binary" if isinstance(data, bytes) else "text",
                 payload_size(data) if size < 0 else size, None, "", data)


class EventBatch(Sequence[Event]):
    """The events of one batch, as a listener subscribed with ``batch=True`` gets them: a
    read-only sequence whose messages become :class:`Event` objects only when read (a
    panel that only notes "something changed" builds none)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[Event | _Lazy | _LazyOpen]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> Event: ...

    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...

    def __getitem__(self, i: int | slice) -> Event | list[Event]:
        if isinstance(i, slice):
            return [_built(item) for item in self._items[i]]
        return _built(self._items[i])

    def __iter__(self) -> Iterator[Event]:
        return map(_built, self._items)


class EventLog:
    """A bounded, thread-safe ring of :class:`Event` with optional listeners.

    Cheap until read: a message (the hot path, :meth:`record_message`) is kept as a
    small tuple and becomes an :class:`Event` only when the log is read or a listener
    needs it.  ``level`` (one of :data:`EVENT_LEVELS`) says what is recorded at all.
    Listeners are notified in batches, once per turn of the loop that recorded the
    events (at once when no loop runs): ``fn(event)`` for each event, or, subscribed
    with ``batch=True``, ``fn(events)`` once per batch (an :class:`EventBatch`, whose
    messages are built only if the listener reads them).  A listener that raises is
    removed (a broken widget must not break the server).
    """

    def __init__(self, maxlen: int = 10_000, *, level: str = "all") -> None:
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"events_max must be a positive integer, got {maxlen!r}")
        self.level = check_level(level)
        #: False when messages are not recorded (level "lifecycle")
        self.messages = level != "lifecycle"
        self._control = level == "all"
        self._ring: collections.deque[Event | _Lazy | _LazyOpen] = collections.deque(
            maxlen=maxlen)
        self._listeners: list[tuple[Callable[[Any], None], bool]] = []
        self._pending: list[Event | _Lazy | _LazyOpen] = []
        self._lock = threading.Lock()
        self.total = 0  # events ever recorded, including those the ring dropped

    @property
    def maxlen(self) -> int:
        return self._ring.maxlen or 0

    def record(self, kind: str, client_id: int | None = None, **fields: Any) -> Event:
        """Record one event (not kept when ``level`` leaves its kind out); returns it."""
        ev = Event(time.monotonic_ns(), kind, client_id, **fields)
        if kind in _NOT_LIFECYCLE and not (self._control or (kind == "message"
                                                             and self.messages)):
            return ev
        self._append(ev)
        return ev

    def _append(self, item: Event | _Lazy | _LazyOpen) -> None:
        self._ring.append(item)
        self.total += 1
        if self._listeners:
            self._pending.append(item)
            if len(self._pending) == 1:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    self._notify()
                else:
                    loop.call_soon(self._notify)

    def _notify(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        batch_view = EventBatch(pending)
        for fn, batch in list(self._listeners):
            try:
                if batch:
                    fn(batch_view)
                else:
                    for ev in batch_view:
                        fn(ev)
            except Exception:  # noqa: BLE001 - a broken listener is dropped, not the server
                self.unsubscribe(fn)

    def record_open(self, client_id: int, info: Any) -> None:
        """:meth:`record` for a client's open: ``info`` (its ``remote``, ``path``,
        ``subprotocol`` and ``origin``, the connection's own object) becomes the event's
        ``extra`` when read, so an idle connection's open costs the ring a small tuple."""
        self._append((time.monotonic_ns(), client_id, info))

    def record_message(self, client_id: int | None, direction: str,
                       message: str | bytes) -> None:
        """:meth:`record` for the hot path of every message: a tuple now, an Event (with
        its opcode, size and preview of the first PREVIEW_LIMIT) when read."""
        if not self.messages:
            return
        if len(message) <= PREVIEW_LIMIT:
            self._append((time.monotonic_ns(), client_id, direction, message, -1))
        else:
            self._append((time.monotonic_ns(), client_id, direction, message[:PREVIEW_LIMIT],
                          payload_size(message)))

    def subscribe(self, fn: Callable[[Any], None], *,
                  batch: bool = False) -> Callable[[Any], None]:
        """Call ``fn(event)`` for every new event (``batch=True``: ``fn(events)``, a list,
        once per batch), after the loop turn that recorded them."""
        with self._lock:
            self._listeners.append((fn, batch))
        return fn

    def unsubscribe(self, fn: Callable[[Any], None]) -> None:
        with self._lock:
            self._listeners = [(f, b) for f, b in self._listeners if f is not fn]
            if not self._listeners:
                self._pending = []

    def snapshot(self) -> list[Event]:
        return [_built(item) for item in self._ring.copy()]

    def clear(self) -> None:
        self._ring.clear()

    def __len__(self) -> int:
        return len(self._ring)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.snapshot())


class EventList(list):
    """A plain list of events that prints as a readable log in a notebook."""

    def of(self, kind: str) -> EventList:
        return EventList(e for e in self if e.kind == kind)

    def __str__(self) -> str:
        if not self:
            return "(no events)"
        t0 = self[0].t_ns
        return "\n".join(f"{(e.t_ns - t0) / 1e6:10.3f} ms  {e}" for e in self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))
