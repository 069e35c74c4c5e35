"""What a server's handlers and pages may ask of it (layer 2, I/O).

:class:`ServerContext` is the narrow, public face of a server toward the code
that serves its requests: the route handlers (:mod:`.routes`), the pages
(:mod:`.pages`) and what they share.  It holds the event log, the admission
rules as a value (:class:`~.admission.Admission`), the options a handler reads,
the learner's hooks run with the server's error handling, the table of
connected clients (attach/detach), delivery to local clients, and the
bookkeeping of handshakes in progress.  :class:`~.lab_server.LabServer`
implements it; handlers and pages type against it and nothing else, so they
never reach into the server's own state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..events import EventLog
from .ack import AckRoute
from .admission import Admission
from .connection import Connection, ConnectionHandler
from .pubsub import PubSub

__all__ = ["MessageHook", "ServerContext"]

#: the learner's ``@server.on_message`` function: ``fn(conn, message)``, maybe async
MessageHook = Callable[[Connection, "str | bytes"], Any]


class ServerContext(Protocol):
    """A server as its handlers and pages see it (all on the lab loop)."""

    # --- the event log and the rules ---------------------------------------------
    @property
    def event_log(self) -> EventLog:
        """The server's event log: every open, message, ping, pong, close, error."""

    @property
    def admission(self) -> Admission:
        """The admission rules now in force (Origin, Host, limit, token)."""

    def admit(self, request: Any) -> tuple[int, str] | None:
        """None when this upgrade request may go on, else (HTTP status, reason): the
        connection limit, with handshakes in progress counted, then the token."""

    # --- options handlers read -------------------------------------------------------
    @property
    def compression(self) -> bool:
        """Whether permessage-deflate is negotiated (RFC 7692)."""

    @property
    def subprotocols(self) -> Sequence[str]:
        """The subprotocols the server speaks, in its order of preference."""

    @property
    def app_heartbeat(self) -> bool:
        """Whether JSON application pings are answered by the server itself."""

    @property
    def rate_limit(self) -> int | None:
        """Messages a second one client may send (None: no limit)."""

    @property
    def send_buffer_max(self) -> int | None:
        """Bytes that may wait to be sent to one client (None: no limit)."""

    # --- route state -------------------------------------------------------------------
    @property
    def pubsub(self) -> PubSub:
        """The channels of ``/pubsub``."""

    @property
    def ack_route(self) -> AckRoute:
        """The ``/ack`` connections and their exactly-once protocol over the session store."""

    # --- handshakes in progress ----------------------------------------------------------
    def handshake_begin(self, stream: Any) -> None:
        """A TCP connection arrived: its handshake is in progress."""

    def handshake_done(self, stream: Any) -> None:
        """The handshake on ``stream`` completed or failed (safe to call twice)."""

    # --- clients -------------------------------------------------------------------------
    def attach(self, handler: ConnectionHandler) -> Connection:
        """A handshake completed: the new client's :class:`Connection`, now listed."""

    def detach(self, conn: Connection) -> None:
        """``conn`` closed: no longer listed (safe to call twice)."""

    def broadcast_local(self, message: str | bytes, path: str | None = None) -> int:
        """Send ``message`` to every client of this server (on ``path`` if given), one
        event for all; returns how many got it."""

    def send_local(self, client_id: int, text: str) -> None:
        """Send ``text`` to one client of this server now, if it is still connected."""

    # --- the learner's hooks -------------------------------------------------------------
    @property
    def message_hook(self) -> MessageHook | None:
        """The ``@server.on_message`` function, or None for the route's default."""

    def run_open_hook(self, conn: Connection) -> None:
        """Run ``@server.on_open`` for ``conn``; an exception becomes an ``error`` event."""

    def run_close_hook(self, conn: Connection) -> None:
        """Run ``@server.on_close`` for ``conn``; an exception becomes an ``error`` event."""
