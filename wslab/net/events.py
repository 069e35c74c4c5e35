"""Event records and the bounded event log (layer 2, I/O).

Every open, message (both directions), ping, pong, close and handler error a
server or client sees becomes one :class:`Event` with a monotonic nanosecond
timestamp (``time.monotonic_ns``).  The log is a ring: it keeps the newest
``maxlen`` events so a long classroom demo cannot eat the kernel's memory.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})

KINDS = ("open", "message", "ping", "pong", "close", "error", "reject")


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


class EventLog:
    """A bounded, thread-safe ring of :class:`Event` with optional listeners.

    Listeners are called on the lab loop thread for every new event; a listener
    that raises is removed (a broken widget must not break the server).
    """

    def __init__(self, maxlen: int = 10_000) -> None:
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"events_max must be a positive integer, got {maxlen!r}")
        self._ring: collections.deque[Event] = collections.deque(maxlen=maxlen)
        self._listeners: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self.total = 0  # events ever recorded, including those the ring dropped

    @property
    def maxlen(self) -> int:
        return self._ring.maxlen or 0

    def record(self, kind: str, client_id: int | None = None, **fields: Any) -> Event:
        return self._append(Event(time.monotonic_ns(), kind, client_id, **fields))

    def _append(self, ev: Event) -> Event:
        self._ring.append(ev)
        self.total += 1
        if self._listeners:
            for fn in list(self._listeners):
                try:
                    fn(ev)
                except Exception:  # noqa: BLE001 - a broken listener is dropped, not the server
                    self.unsubscribe(fn)
        return ev

    def record_message(self, client_id: int | None, direction: str, opcode: str, size: int,
                       data: Any) -> None:
        """:meth:`record` for the hot path of every message (positional, no kwargs dict)."""
        self._append(Event(time.monotonic_ns(), "message", client_id, direction, opcode, size,
                           None, "", data))

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[Event], None]:
        with self._lock:
            self._listeners.append(fn)
        return fn

    def unsubscribe(self, fn: Callable[[Event], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def snapshot(self) -> list[Event]:
        return list(self._ring.copy())

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
