"""Model solutions for 08_compression_and_subprotocols.ipynb (shown by ``ex08.solution(name)``)."""

from __future__ import annotations

SUPPORTED = ["chat.json.v1", "chat.bin.v1"]   # this server's order of preference


def select(offered):
    for mine in SUPPORTED:          # the server's preference decides...
        if mine in offered:         # ...among what the client offered (exact names)
            return mine
    return None                     # nothing in common: no Sec-WebSocket-Protocol header
