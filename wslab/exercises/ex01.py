"""Checks for 01_handshake.ipynb."""

from __future__ import annotations

from ..protocol import handshake as hs
from ._result import Result, hint, passed

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3


def accept_for_sample(answer: object) -> Result:
    """Exercise 1: Sec-WebSocket-Accept for the RFC's sample key, computed by hand."""
    name = "Exercise 1 (accept key)"
    truth = hs.accept_key(SAMPLE_KEY)
    if isinstance(answer, bytes):
        answer = answer.decode("ascii", "replace")
    if not isinstance(answer, str):
        return hint(name, "answer with the base64 text, e.g. 'abc...='")
    if answer == truth:
        return passed(name, f"{truth}, exactly as RFC 6455 section 1.3 prints it")
    if len(answer) == 40:
        return hint(name, "that looks like the SHA-1 in hex; base64-encode the 20 raw bytes "
                          "(hashlib.sha1(...).digest()) instead")
    return hint(name, "concatenate the key *as text* with the GUID "
                      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11, SHA-1 it, base64 the digest")


def version_status(answer: object) -> Result:
    """Exercise 2: the HTTP status for a request with the wrong Sec-WebSocket-Version."""
    name = "Exercise 2 (wrong version)"
    if answer == 426:
        return passed(name, "426 Upgrade Required, with Sec-WebSocket-Version: 13 so the "
                            "client knows what to speak (RFC 6455 section 4.4)")
    if answer == 400:
        return hint(name, "400 is for a malformed request; a well-formed request for an "
                          "unsupported version gets a more specific status")
    return hint(name, "run the wrong_version variant above and read the status line")


def broken_rule(answer: object, response: bytes, key: str) -> Result:
    """Exercise 3: name the rule a bad 101 response breaks (as check_response says)."""
    name = "Exercise 3 (a bad answer)"
    try:
        hs.check_response(response, key)
    except hs.HandshakeError as exc:
        rule = exc.rule
    else:
        return hint(name, "this response is actually valid")
    if isinstance(answer, str) and answer.strip().lower() in rule.lower():
        return passed(name, f"check_response says: {rule}")
    return hint(name, "call handshake.check_response(response, key) and read the error's .rule")
