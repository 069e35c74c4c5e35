"""The one exception tree of wslab (layer 1, standard library only).

Every error wslab raises on purpose derives from :class:`WSLabError`, so a
notebook can catch them all with one ``except wslab.WSLabError``.  The protocol
layer defines the tree's root and its byte-level errors; the I/O layer adds its
own subclasses in :mod:`wslab.net.errors`.

Code that reacts to an error reads its fields (``rule``, ``close_code``,
``bit``...), never its message: the message is prose for a learner and may be
reworded, a ``rule`` is stable.
"""

from __future__ import annotations

from typing import Any


class WSLabError(Exception):
    """Root of every error wslab raises on purpose."""


class NeedMoreData(WSLabError):
    """The bytes so far are a valid *prefix*; feed more before decoding (not an error of the peer).

    ``needed`` is how many more bytes are needed at least (None when unknown),
    ``frame_size`` the total size of the frame once its header is known.
    """

    def __init__(self, message: str, *, needed: int | None = None,
                 frame_size: int | None = None) -> None:
        super().__init__(message)
        self.needed = needed
        self.frame_size = frame_size


class ProtocolError(WSLabError):
    """The peer broke a rule of RFC 6455.

    ``rule`` names the rule in a few stable words (e.g. ``"unmasked client
    frame"``, ``"reserved opcode"``, ``"message too big"``): short enough to be
    the reason of a Close frame, and what code should test instead of the
    message.  ``close_code`` is the close code the receiver must answer with
    (RFC 6455 section 7.4.1): 1002 protocol error, 1007 invalid payload data
    (bad UTF-8), 1009 message too big.  ``offset`` is the byte offset of the
    first wrong byte when known, ``bit`` the bit number inside the frame when
    known, ``rfc`` the section broken, ``frames`` the frames a stream parser
    completed before the bad one.
    """

    def __init__(self, message: str, *, rule: str = "protocol error", close_code: int = 1002,
                 offset: int | None = None, bit: int | None = None, rfc: str = "",
                 frames: list[Any] | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.close_code = close_code
        self.offset = offset
        self.bit = bit
        self.rfc = rfc
        self.frames = [] if frames is None else frames


class HandshakeError(WSLabError):
    """An opening handshake broke a rule of RFC 6455 section 4.

    ``status`` is the HTTP status a server should answer with (400 malformed,
    403 forbidden origin, 426 wrong version); ``rule`` names the rule that was
    broken in words a learner can read; ``rfc`` the section; ``headers`` extra
    header fields the refusal must carry (426: ``Sec-WebSocket-Version: 13``);
    ``response`` the parsed response when a client's check failed after the
    status line could be read.
    """

    def __init__(self, message: str, *, status: int = 400, rule: str = "", rfc: str = "",
                 headers: tuple[tuple[str, str], ...] = (), response: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.rule = rule or message
        self.rfc = rfc
        self.headers = tuple(headers)
        self.response = response


class IllegalTransition(WSLabError, ValueError):
    """A connection was asked to take a step its state table has no row for.

    Raised by :class:`wslab.protocol.state.ConnectionStateMachine`: an endpoint
    that walks the table of RFC 6455 sections 4 and 7 never asks for a step the
    table lacks, so this is a bug of the caller, never the peer's fault (the
    peer's mistakes are :class:`ProtocolError`).  A ``ValueError`` too.
    """
