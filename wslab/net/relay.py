"""The scale-out seam: what one server shares with the others (layer 2, I/O).

A server delivers a broadcast, a ``/pubsub`` publication and a numbered ``/ack``
event to its own clients; its :class:`Relay` decides who else hears of it.  The
default, :class:`LocalRelay`, is a server on its own (nothing leaves the process,
``/ack`` state in memory); :class:`wslab.net.backplane.Backplane` shares everything
through Redis.  The server picks one, once, as it starts; it then always calls
its relay and never asks which one it has.

A relay reaches its server only through :class:`RelayHost`, a handful of
callables the server hands it (local delivery and its event log).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..protocol.ack import AckStore, event_message
from . import loop as lab

__all__ = ["LocalAckStore", "LocalRelay", "Relay", "RelayHost"]


@dataclass(frozen=True)
class RelayHost:
    """What a relay may ask of its server.

    ``broadcast(message, path)`` and ``publish(channel, data, sender)`` deliver to this
    server's clients only and return how many; ``ack_event(seq, text)`` sends a numbered
    event to this server's ``/ack`` connections; ``record(what, extra)`` writes a
    ``backplane`` event.
    """

    name: str
    broadcast: Callable[[str | bytes, str | None], int]
    publish: Callable[[str, Any, int | None], int]
    ack_event: Callable[[int, str], int]
    ack_missed: Callable[[int, int], int]
    record: Callable[[str, dict[str, Any]], None]


class Relay(Protocol):
    """Shares what a server delivered locally with the other servers (lab loop)."""

    async def astart(self) -> None: ...

    async def astop(self) -> None: ...

    def ack_store(self) -> AckStore:
        """Where the ``/ack`` sessions and events live."""
        ...

    def broadcast(self, message: str | bytes, path: str | None) -> None:
        """A broadcast already delivered here."""
        ...

    def publish(self, channel: str, data: Any, sender: int | None) -> None:
        """A ``/pubsub`` publication already delivered here."""
        ...

    def ack_broadcast(self, data: Any, event_id: str | None = None) -> int:
        """Number ``data`` and deliver it to every ``/ack`` client of every server (from a
        cell or any thread); its number.  A retry with the same ``event_id`` returns the
        first call's number and delivers nothing twice."""
        ...


class LocalAckStore(AckStore, Protocol):
    """An :class:`AckStore` in this process, whose events can be numbered at once."""

    event_seq: int  # the newest event number

    def add_event_now(self, data_text: str, event_id: str | None = None) -> int: ...


class LocalRelay:
    """A server on its own: nothing to share, ``/ack`` state in this process."""

    def __init__(self, host: RelayHost, store: LocalAckStore) -> None:
        self.host = host
        self.store = store

    async def astart(self) -> None:
        return None

    async def astop(self) -> None:
        return None

    def ack_store(self) -> AckStore:
        return self.store

    def broadcast(self, message: str | bytes, path: str | None) -> None:
        return None

    def publish(self, channel: str, data: Any, sender: int | None) -> None:
        return None

    def ack_broadcast(self, data: Any, event_id: str | None = None) -> int:
        return lab.call(self.ack_broadcast_now, data, event_id, what="ack_broadcast")

    def ack_broadcast_now(self, data: Any, event_id: str | None = None) -> int:
        """Number ``data``, keep it for replay and send it to the local ``/ack`` clients
        (nothing again for an ``event_id`` already numbered)."""
        text = json.dumps(data, separators=(",", ":"))
        before = self.store.event_seq
        seq = self.store.add_event_now(text, event_id)
        if seq > before:
            self.host.ack_event(seq, event_message(seq, text))
        return seq

