"""Channels over one connection: the ``/pubsub`` route (layer 2, I/O).

WebSocket has no notion of rooms or topics: one connection carries whatever
the application puts in it.  Multiplexing is an *application* protocol on top;
this one is a small JSON envelope:

client -> server
    ``{"op": "sub", "channel": C}``      join a channel
    ``{"op": "unsub", "channel": C}``    leave it
    ``{"op": "pub", "channel": C, "data": D}``  send D to every member of C
server -> client
    ``{"op": "msg", "channel": C, "data": D, "from": client_id}``
    ``{"op": "subscribed" | "unsubscribed", "channel": C, "members": n}``
    ``{"op": "error", "error": "...", "got": ...}``  for malformed JSON or an unknown op

A bad message gets an error *message*; the connection stays open.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MAX_CHANNEL = 100
OPS = ("sub", "unsub", "pub")


class PubSub:
    """Channel membership of one LabServer (runs on the lab loop)."""

    def __init__(self) -> None:
        self.channels: dict[str, set[int]] = {}
        self.published = 0
        # relay(channel, data, sender) shares a publication with other servers (the server's
        # relay sets it; alone, there is nobody to share with)
        self.relay: Callable[[str, Any, int | None], None] = _nobody

    def members(self, channel: str) -> set[int]:
        return set(self.channels.get(channel, ()))

    def handle(self, client_id: int, text: str | bytes,
               send: Callable[[int, str], None]) -> None:
        """Process one message from ``client_id``; ``send(id, text)`` delivers replies."""
        def error(why: str) -> None:
            send(client_id, json.dumps({"op": "error", "error": why,
                                        "got": (text[:200] if isinstance(text, str) else None)}))

        if isinstance(text, bytes):
            return error("the /pubsub route speaks JSON text messages, not binary")
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return error(f"not JSON: {type(exc).__name__}: {str(exc)[:100]}")
        if not isinstance(msg, dict):
            return error('expected a JSON object like {"op": "sub", "channel": "news"}')
        op, channel = msg.get("op"), msg.get("channel")
        if op not in OPS:
            return error(f"unknown op {repr(op)[:40]}; ops are {list(OPS)}")
        if not isinstance(channel, str) or not 0 < len(channel) <= MAX_CHANNEL:
            return error(f"channel is a non-empty string of at most {MAX_CHANNEL} characters")
        if op == "sub":
            self.channels.setdefault(channel, set()).add(client_id)
            send(client_id, json.dumps({"op": "subscribed", "channel": channel,
                                        "members": len(self.channels[channel])}))
        elif op == "unsub":
            members = self.channels.get(channel, set())
            members.discard(client_id)
            if not members:
                self.channels.pop(channel, None)
            send(client_id, json.dumps({"op": "unsubscribed", "channel": channel,
                                        "members": len(members)}))
        else:
            self.publish(channel, msg.get("data"), send, sender=client_id)

    def publish(self, channel: str, data: Any, send: Callable[[int, str], None], *,
                sender: int | None = None, relay: bool = True) -> int:
        """Send ``data`` to every member of ``channel``; returns how many (here)."""
        text = json.dumps({"op": "msg", "channel": channel, "data": data, "from": sender})
        members = list(self.channels.get(channel, ()))
        for cid in members:
            send(cid, text)
        self.published += 1
        if relay:
            self.relay(channel, data, sender)
        return len(members)

    def forget(self, client_id: int) -> None:
        """A client left: remove it from every channel."""
        for channel in list(self.channels):
            self.channels[channel].discard(client_id)
            if not self.channels[channel]:
                del self.channels[channel]


def _nobody(channel: str, data: Any, sender: int | None) -> None:
    return None
