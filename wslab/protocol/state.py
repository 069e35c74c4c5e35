"""Connection states (layer 1, protocol).  Placeholder; the full state table follows."""

from __future__ import annotations

import enum


class State(enum.IntEnum):
    """The connection's state, numbered like the browser's ``WebSocket.readyState``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3
