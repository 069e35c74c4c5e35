"""The one exception tree of wslab (layer 1, standard library only).

Every error wslab raises on purpose derives from :class:`WSLabError`, so a
notebook can catch them all with one ``except wslab.WSLabError``.  The protocol
layer defines the tree's root and its byte-level errors; the I/O layer adds its
own subclasses in :mod:`wslab.net.errors`.
"""

from __future__ import annotations


class WSLabError(Exception):
    """Root of every error wslab raises on purpose."""


class NeedMoreData(WSLabError):
    """The bytes so far are a valid *prefix*; feed more before decoding (not an error of the peer)."""


class ProtocolError(WSLabError):
    """The peer broke a rule of RFC 6455.

    ``close_code`` is the close code the receiver must answer with (RFC 6455
    section 7.4.1): 1002 protocol error, 1007 invalid payload data (bad UTF-8),
    1009 message too big.  ``offset`` is the byte offset of the first wrong byte
    when known, ``bit`` the bit number inside the frame when known.
    """

    def __init__(self, message: str, *, close_code: int = 1002, offset: int | None = None,
                 bit: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.offset = offset
        self.bit = bit


class HandshakeError(WSLabError):
    """An opening handshake broke a rule of RFC 6455 section 4.

    ``status`` is the HTTP status a server should answer with (400 malformed,
    403 forbidden origin, 426 wrong version); ``rule`` names the rule that was
    broken in words a learner can read.
    """

    def __init__(self, message: str, *, status: int = 400, rule: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.rule = rule or message
