"""The connection's states and the events between them (layer 1 (protocol)): RFC 6455 4, 7.

One table, :data:`TRANSITIONS`, is the single source of truth: the code moves
through it with :func:`next_state` / :class:`ConnectionStateMachine`, and the
notebooks draw their state diagram from the same rows.  State numbers match
the browser's ``WebSocket.readyState`` (0 CONNECTING, 1 OPEN, 2 CLOSING, 3
CLOSED).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from .errors import IllegalTransition

__all__ = [
    "CLOSE_RECEIVED",
    "CLOSE_SENT",
    "CLOSE_TIMEOUT",
    "HANDSHAKE_FAILED",
    "HANDSHAKE_SUCCEEDED",
    "PROTOCOL_ERROR",
    "TCP_CLOSED",
    "TCP_LOST",
    "TRANSITIONS",
    "ConnectionStateMachine",
    "State",
    "Transition",
    "allowed_events",
    "next_state",
]


class State(enum.IntEnum):
    """The states of a WebSocket connection (RFC 6455 sections 4.1, 7.1; HTML readyState)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


@dataclass(frozen=True)
class Transition:
    """One row of the state table: ``source --event--> target``, with its RFC section."""

    source: State
    event: str
    target: State
    rfc: str
    note: str

    def __str__(self) -> str:
        return f"{self.source.name} --{self.event}--> {self.target.name} (RFC 6455 {self.rfc})"


# Events: what happened, from the point of view of one endpoint.
HANDSHAKE_SUCCEEDED = "101 received/sent"
HANDSHAKE_FAILED = "handshake failed"
CLOSE_SENT = "close frame sent"
CLOSE_RECEIVED = "close frame received"
PROTOCOL_ERROR = "protocol error detected"
TCP_CLOSED = "TCP connection closed"
TCP_LOST = "TCP connection lost"
CLOSE_TIMEOUT = "close timeout"

_S = State
TRANSITIONS: tuple[Transition, ...] = (
    Transition(_S.CONNECTING, HANDSHAKE_SUCCEEDED, _S.OPEN, "4.1, 4.2.2",
               "the client received a valid 101 / the server sent its 101: the connection is "
               "established and frames may flow"),
    Transition(_S.CONNECTING, HANDSHAKE_FAILED, _S.CLOSED, "4.1",
               "a non-101 answer, a wrong Sec-WebSocket-Accept or a refused request: "
               "fail the WebSocket connection (close code 1006 reported locally)"),
    Transition(_S.CONNECTING, TCP_LOST, _S.CLOSED, "4.1, 7.1.5",
               "the TCP connection dropped before the handshake finished (1006)"),
    Transition(_S.OPEN, CLOSE_SENT, _S.CLOSING, "7.1.2",
               "start the closing handshake: send a Close frame, then send no more data"),
    Transition(_S.OPEN, CLOSE_RECEIVED, _S.CLOSING, "5.5.1, 7.1.3",
               "the peer started the closing handshake: reply with a Close frame "
               "(usually echoing its code)"),
    Transition(_S.OPEN, PROTOCOL_ERROR, _S.CLOSING, "7.1.7",
               "fail the connection: send a Close frame with 1002, 1007 or 1009, then close TCP"),
    Transition(_S.OPEN, TCP_LOST, _S.CLOSED, "7.1.5",
               "the TCP connection dropped without a closing handshake: close code 1006"),
    Transition(_S.CLOSING, CLOSE_RECEIVED, _S.CLOSED, "7.1.1, 7.1.4",
               "our Close was answered: both sides are done; CLOSED once TCP is closed "
               "(the server closes TCP first)"),
    Transition(_S.CLOSING, CLOSE_SENT, _S.CLOSED, "5.5.1, 7.1.4",
               "we answered the peer's Close: both sides are done; CLOSED once TCP is closed"),
    Transition(_S.CLOSING, TCP_CLOSED, _S.CLOSED, "7.1.4",
               "the TCP connection closed during the closing handshake"),
    Transition(_S.CLOSING, TCP_LOST, _S.CLOSED, "7.1.5",
               "the TCP connection dropped before the Close frames were exchanged: 1006"),
    Transition(_S.CLOSING, CLOSE_TIMEOUT, _S.CLOSED, "7.1.1",
               "the peer never answered our Close in time: drop the TCP connection (1006)"),
)

_TABLE = {(t.source, t.event): t for t in TRANSITIONS}
EVENTS: tuple[str, ...] = tuple(dict.fromkeys(t.event for t in TRANSITIONS))


def allowed_events(state: State) -> list[str]:
    """The events that can happen in ``state``, in table order."""
    state = State(state)
    return [t.event for t in TRANSITIONS if t.source == state]


def _find(state: State, event: str) -> Transition:
    try:
        state = State(state)
    except ValueError:
        raise IllegalTransition(f"state must be one of {[s.name for s in State]}, "
                                f"not {state!r}") from None
    row = _TABLE.get((state, event))
    if row is None:
        allowed = allowed_events(state)
        if not allowed:
            raise IllegalTransition(f"{state.name} is final: no event leads out of it "
                                    f"(got {event!r})")
        raise IllegalTransition(f"no transition from {state.name} on {event!r}; allowed events: "
                         + ", ".join(repr(e) for e in allowed))
    return row


def next_state(state: State, event: str) -> State:
    """The state after ``event`` in ``state``, from :data:`TRANSITIONS`.

    Raises :class:`~wslab.protocol.errors.IllegalTransition` (a ValueError) listing the
    allowed events when the table has no such row.
    """
    return _find(state, event).target


class ConnectionStateMachine:
    """Track one connection's state and the transitions it took (RFC 6455 sections 4, 7).

    ``on_transition(row)``, when given, is called after every step with the row taken.
    A step the table has no row for raises
    :class:`~wslab.protocol.errors.IllegalTransition`: an endpoint that follows the
    RFC never asks for one.
    """

    __slots__ = ("history", "on_transition", "state")

    def __init__(self, state: State = State.CONNECTING, *,
                 on_transition: Callable[[Transition], None] | None = None) -> None:
        self.state = State(state)
        self.history: list[Transition] = []
        self.on_transition = on_transition

    def handle(self, event: str) -> State:
        """Apply ``event``; return the new state (IllegalTransition if not allowed now)."""
        row = _find(self.state, event)
        self.history.append(row)
        self.state = row.target
        if self.on_transition is not None:
            self.on_transition(row)
        return self.state

    def allowed_events(self) -> list[str]:
        """The events that can happen now."""
        return allowed_events(self.state)

    def __repr__(self) -> str:
        return f"<ConnectionStateMachine {self.state.name} after {len(self.history)} event(s)>"
