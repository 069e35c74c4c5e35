"""Layer 1: the sans-I/O WebSocket core (standard library only).

Frames, the opening handshake, close codes, message assembly and the
connection state table.  Nothing here opens a socket, starts a loop or reads a
clock, so every byte rule can be tested on its own.
"""

from .errors import HandshakeError, NeedMoreData, ProtocolError, WSLabError

__all__ = ["HandshakeError", "NeedMoreData", "ProtocolError", "WSLabError"]
