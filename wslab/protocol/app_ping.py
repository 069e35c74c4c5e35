"""The application heartbeat: JSON pings in data frames (layer 1 (protocol)).

A browser's WebSocket API has no ``ping()``: a page cannot send a ping frame
(RFC 6455 section 5.5.2), so applications exchange small text messages instead.
wslab's form is ``{"type": "ping", "t": <anything>}``, answered with
``{"type": "pong", "t": <the same t>, "server_time": <the answerer's clock>}``:
the sender computes the round trip with its own clock from ``t``.  This module
only recognises and builds those messages; the caller supplies the clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["AppPing", "build_app_ping", "build_app_pong", "maybe_app_ping", "parse_app_ping",
           "parse_app_pong"]

#: how far into a text message ``"ping"`` must appear for it to be worth parsing
_SNIFF = 40


@dataclass(frozen=True, slots=True)
class AppPing:
    """An application ping: ``t`` is whatever the sender put there (echoed back)."""

    t: object


def parse_app_ping(message: str) -> AppPing | None:
    """The application ping ``message`` carries, or None when it is anything else.

    Anything else includes text that is not JSON, JSON nested too deep to parse,
    and JSON whose top level is not an object with ``"type": "ping"``.
    """
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):  # (RecursionError: JSON nested thousands deep)
        return None
    if not isinstance(data, dict) or data.get("type") != "ping":
        return None
    return AppPing(data.get("t"))


def maybe_app_ping(message: str | bytes) -> AppPing | None:
    """:func:`parse_app_ping` for a received message, cheap for the usual case.

    Binary messages are never pings, and a text message is parsed only when it
    starts like a JSON object and names ``"ping"`` near its start, so ordinary
    traffic costs two slices, not a JSON parse.
    """
    if isinstance(message, bytes) or message[:1] != "{" or '"ping"' not in message[:_SNIFF]:
        return None
    return parse_app_ping(message)


def parse_app_pong(message: str) -> AppPing | None:
    """The ``t`` of the application pong ``message`` carries (as an :class:`AppPing`, the
    ping it answers), or None when it is anything else."""
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("type") != "pong":
        return None
    return AppPing(data.get("t"))


def build_app_ping(t: object) -> str:
    """An application ping carrying ``t`` (JSON-serialisable; usually the sender's clock)."""
    return json.dumps({"type": "ping", "t": t})


def build_app_pong(ping: AppPing, *, server_time: float) -> str:
    """The answer to ``ping``: its ``t`` and the answerer's clock reading ``server_time``."""
    return json.dumps({"type": "pong", "t": ping.t, "server_time": server_time})
