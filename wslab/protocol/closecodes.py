"""Close codes of RFC 6455 section 7.4 and the IANA registry (layer 1 (protocol)).

A Close frame may carry a 2-byte status code (RFC 6455 section 5.5.1).  Section
7.4.1 defines 1000-1011, IANA registered 1012-1015 later, and section 7.4.2 splits
the rest of the 16-bit space into ranges.  Some registered codes (1005, 1006,
1015) only *describe* a closure locally and must never be sent in a Close frame.
"""

from __future__ import annotations

import enum

__all__ = ["MAX_CLOSE_REASON", "CloseCode", "check_close_args", "describe_close_code",
           "is_valid_close_code_on_wire"]

#: bytes of UTF-8 a close reason may hold: a control frame carries at most 125 bytes
#: (RFC 6455 section 5.5), two of them the code (section 5.5.1)
MAX_CLOSE_REASON = 123


class CloseCode(enum.IntEnum):
    """Every registered close code 1000-1015 (RFC 6455 section 7.4.1 and IANA)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    RESERVED = 1004
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015

    @property
    def meaning(self) -> str:
        """One line saying what the code means."""
        return _MEANINGS[self]

    @property
    def on_wire(self) -> bool:
        """True if an endpoint may put this code in a Close frame (RFC 6455 section 7.4)."""
        return is_valid_close_code_on_wire(self)


_MEANINGS = {
    CloseCode.NORMAL_CLOSURE: "normal closure: the purpose of the connection has been fulfilled",
    CloseCode.GOING_AWAY: "going away: a server going down or a browser leaving the page",
    CloseCode.PROTOCOL_ERROR: "protocol error: the peer broke a rule of the protocol",
    CloseCode.UNSUPPORTED_DATA: "unsupported data: a type of data the endpoint cannot accept "
                                "(e.g. binary for a text-only endpoint)",
    CloseCode.RESERVED: "reserved: no meaning defined yet; never sent",
    CloseCode.NO_STATUS_RCVD: "no status received: the Close frame had no code "
                              "(reported locally, never sent)",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure: the connection dropped without a Close frame "
                                "(reported locally, never sent)",
    CloseCode.INVALID_FRAME_PAYLOAD_DATA: "invalid frame payload data: data not consistent "
                                          "with the message type (e.g. bad UTF-8 in text)",
    CloseCode.POLICY_VIOLATION: "policy violation: a message broke the endpoint's policy",
    CloseCode.MESSAGE_TOO_BIG: "message too big: a message too large to process",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension: the client needed an extension "
                                   "the server did not negotiate",
    CloseCode.INTERNAL_ERROR: "internal error: the server hit an unexpected condition",
    CloseCode.SERVICE_RESTART: "service restart: the server is restarting (IANA)",
    CloseCode.TRY_AGAIN_LATER: "try again later: the server is overloaded (IANA)",
    CloseCode.BAD_GATEWAY: "bad gateway: a gateway got an invalid response upstream (IANA)",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failed: the certificate could not be verified "
                             "(reported locally, never sent)",
}

# Registered codes that must never appear in a Close frame (RFC 6455 section 7.4.1).
_NEVER_ON_WIRE = frozenset({1004, 1005, 1006, 1015})


def _check_code(code: object) -> int:
    if isinstance(code, bool) or not isinstance(code, int):
        raise ValueError(f"a close code must be an int in 0..65535, not {code!r}")
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"a close code must be an int in 0..65535 (2 bytes), not {code}")
    return int(code)


def is_valid_close_code_on_wire(code: int) -> bool:
    """Return True if ``code`` may be sent in a Close frame (RFC 6455 sections 7.4.1, 7.4.2).

    Valid: 1000-1003, 1007-1014 and 3000-4999.  Invalid: below 1000 (unused),
    1004/1005/1006/1015 (reserved or local-only), 1016-2999 (reserved for future
    RFCs) and 5000 and above (outside every range).
    """
    code = _check_code(code)
    if 1000 <= code <= 1015:
        return code not in _NEVER_ON_WIRE
    return 3000 <= code <= 4999


def check_close_args(code: int, reason: str) -> None:
    """Raise ``ValueError`` unless a Close frame may carry ``code`` and ``reason``.

    The code must be valid on the wire (RFC 6455 section 7.4: 1000-1003, 1007-1014,
    3000-4999) and the reason a str of at most 123 bytes of UTF-8 (section 5.5).
    Every endpoint that starts a closing handshake checks its arguments here.
    """
    if not is_valid_close_code_on_wire(code):
        raise ValueError(
            f"close code {code} may not be sent: {describe_close_code(code)}; allowed on the "
            "wire: 1000-1003, 1007-1014 and 3000-4999 (RFC 6455 section 7.4); 1004, 1005, "
            "1006 and 1015 are never sent")
    if not isinstance(reason, str):
        raise ValueError(f"a close reason is a str, not {type(reason).__name__}")
    size = len(reason.encode("utf-8"))
    if size > MAX_CLOSE_REASON:
        raise ValueError(
            f"a close reason is at most {MAX_CLOSE_REASON} bytes of UTF-8, this one is {size} "
            "(control frames carry at most 125 bytes, RFC 6455 section 5.5)")


def describe_close_code(code: int) -> str:
    """Say in one line what ``code`` means, including the ranges of RFC 6455 section 7.4.2.

    >>> describe_close_code(1001)
    '1001 GOING_AWAY: going away: a server going down or a browser leaving the page'
    """
    code = _check_code(code)
    if 1000 <= code <= 1015:
        member = CloseCode(code)
        return f"{code} {member.name}: {member.meaning}"
    if code < 1000:
        return f"{code}: not used (0-999 are not close codes, RFC 6455 7.4.2)"
    if code <= 2999:
        return (f"{code}: reserved for future RFCs / IANA registration "
                "(1016-2999, RFC 6455 7.4.2); not valid on the wire")
    if code <= 3999:
        return (f"{code}: registered with IANA for libraries and frameworks "
                "(3000-3999, RFC 6455 7.4.2)")
    if code <= 4999:
        return f"{code}: private use by applications (4000-4999, RFC 6455 7.4.2)"
    return (f"{code}: not a valid close code "
            "(5000 and above lie outside every range of RFC 6455 7.4.2)")
