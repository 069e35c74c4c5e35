"""What every lab server offers, in the kernel or in a child process (layer 2, I/O).

``serve()`` returns a :class:`~.lab_server.LabServer`; ``serve(process=True)``
a :class:`~.process.ProcessServer`, which runs a LabServer in a child process
and forwards to it.  Both satisfy :class:`ServerLike`, so code (a panel, a
lab, a notebook cell) written against it works with either
(``tests/test_server_layout.py`` checks each member on both classes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .. import loop as lab
from ..events import EventList
from .connection import ClientInfo

__all__ = ["ServerLike"]


@runtime_checkable
class ServerLike(Protocol):
    """The server facade shared by LabServer and ProcessServer."""

    name: str
    host: str
    port: int
    running: bool

    @property
    def url(self) -> str:
        """The echo route, ``ws://host:port/echo``."""

    @property
    def chat_url(self) -> str:
        """The chat route, ``ws://host:port/chat``."""

    @property
    def ack_url(self) -> str:
        """The exactly-once route, ``ws://host:port/ack``."""

    @property
    def pubsub_url(self) -> str:
        """The channels route, ``ws://host:port/pubsub``."""

    @property
    def page_url(self) -> str:
        """The browser client page, ``http://host:port/``."""

    @property
    def origin(self) -> str:
        """The server's own origin, ``http://host:port``."""

    @property
    def events(self) -> EventList:
        """Every event still in the ring, oldest first."""

    @property
    def clients(self) -> list[ClientInfo]:
        """The connected clients."""

    def send(self, client_id: int, message: str | bytes) -> None:
        """Send one message to one client."""

    def broadcast(self, message: str | bytes) -> int:
        """Send a message to every connected client; returns how many."""

    def close_client(self, client_id: int, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake with one client."""

    def drop_client(self, client_id: int) -> None:
        """Cut one client's TCP connection without a Close frame."""

    def on_message(self, fn: Callable[..., Any] | None) -> Any:
        """Replace the echo/chat behaviour (a process server sends the function to its
        child with cloudpickle; ``HandlerNotSendable`` if it cannot be sent)."""

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT) -> None:
        """Close every client with 1001 and stop listening.  Safe to call twice."""
