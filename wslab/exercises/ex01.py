"""Checks for 01_handshake.ipynb (layer 4, exercises)."""

from __future__ import annotations

import base64
import hashlib

from ..labs.wire import send_upgrade
from ..net.server import LabServer
from ..protocol import handshake as hs
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, first_difference, takes

solution = solution_function("ex01")

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _accept_mistake(key: str, got: object) -> str:
    """What a wrong Sec-WebSocket-Accept most likely did."""
    digest = hashlib.sha1((key + hs.GUID).encode()).digest()
    if isinstance(got, (bytes, bytearray)):
        return "return a str (the header's text): .decode('ascii') the base64 bytes"
    if not isinstance(got, str):
        return f"return the base64 text as a str, not {type(got).__name__}"
    if got == digest.hex():
        return "that is the SHA-1 in hex; base64-encode the 20 raw bytes (.digest()) instead"
    decoded = base64.b64decode(key) + hs.GUID.encode()
    if got == base64.b64encode(hashlib.sha1(decoded).digest()).decode():
        return "you base64-decoded the key first; use the key exactly as the text it is"
    if got == base64.b64encode(hashlib.sha1(key.encode()).digest()).decode():
        return f"the GUID {hs.GUID} is missing: hash key + GUID"
    return ""


def check_accept_key(fn: object) -> Result:
    """Exercise 1: ``fn(key)`` returns Sec-WebSocket-Accept; RFC vector, then random keys."""
    name = "Exercise 1 (accept key)"
    keys = [SAMPLE_KEY] + [hs.make_key() for _ in range(20)]
    try:
        takes(fn, 1, what="accept_key")
        for key in keys:
            got = call(fn, key, what="accept_key")
            want = hs.accept_key(key)
            if got == want:
                continue
            case = "the RFC's sample key (section 1.3)" if key == SAMPLE_KEY else "a random key"
            why = _accept_mistake(key, got) or (
                f"{first_difference(str(got).encode(), want.encode())} (as text)")
            return hint(name, f"accept_key({key!r}), {case}, returned {got!r}; expected "
                              f"{want!r}. {why}")
    except StudentError as exc:
        return hint(name, exc.hint)
    return passed(name, f"{SAMPLE_ACCEPT} for the RFC's key, and 20 random keys match the "
                        "server's computation (RFC 6455 4.2.2)")


def check_upgrade_request(fn: object, server: LabServer) -> Result:
    """Exercise 2: ``fn(host, port, path, key)`` returns the upgrade request as bytes.

    The bytes are parsed as a server would (RFC 6455 4.2.1), then sent unchanged to
    the live ``server`` over a plain socket; the check reports its real answer.
    """
    name = "Exercise 2 (upgrade request)"
    key = hs.make_key()
    host, port, path = server.host, server.port, "/echo"
    try:
        takes(fn, 4, what="upgrade_request")
        data = call(fn, host, port, path, key, what="upgrade_request")
    except StudentError as exc:
        return hint(name, exc.hint)
    if isinstance(data, str):
        return hint(name, "return bytes: the wire carries bytes, so .encode('ascii') the text")
    if not isinstance(data, (bytes, bytearray)):
        return hint(name, f"return the request as bytes, not {type(data).__name__}")
    data = bytes(data)
    if b"\n" in data and b"\r\n" not in data:
        return hint(name, "each line of an HTTP request ends with CRLF, '\\r\\n', not only "
                          "'\\n' (RFC 9112 2.1)")
    if not data.endswith(b"\r\n\r\n"):
        return hint(name, "the request must end with an empty line: the last header's "
                          "'\\r\\n' followed by one more '\\r\\n' (RFC 9112 2.1)")
    try:
        request = hs.parse_request(data)
    except hs.HandshakeError as exc:
        return hint(name, f"a server would answer {exc.status}: {exc}")
    except hs.NeedMoreData:
        return hint(name, "the header block never ends: end it with '\\r\\n\\r\\n'")
    if request.key != key:
        return hint(name, f"Sec-WebSocket-Key is {request.key!r}; send the key you were given, "
                          f"{key!r}")
    if request.path != path:
        return hint(name, f"the request line asks for {request.path!r}; use the path argument "
                          f"{path!r}")
    if request.host != f"{host}:{port}":
        return hint(name, f"Host is {request.host!r}; it carries the host and the port, "
                          f"'{host}:{port}' (RFC 6455 4.1 item 4, RFC 9112 3.2)")
    exchange = send_upgrade(server.url, data)
    if exchange.status != 101:
        body = exchange.body.decode("utf-8", "replace").strip()
        return hint(name, f"the live server answered {exchange.status_line!r}"
                          + (f": {body}" if body else ""))
    try:
        hs.check_response(exchange.head, key)
    except hs.HandshakeError as exc:  # the server's fault, not the learner's
        return hint(name, f"the server's 101 failed the client's checks: {exc}")
    return passed(name, f"the live server answered {exchange.status_line!r} with the right "
                        f"Sec-WebSocket-Accept; then a Close 1000 ended it cleanly "
                        f"({len(data)} request bytes, all yours)")


# which header each rule of handshake.check_response is about
_RULE_HEADER = {
    "missing Upgrade: websocket": "Upgrade",
    "Connection header lacks Upgrade": "Connection",
    "missing Sec-WebSocket-Accept": "Sec-WebSocket-Accept",
    "Sec-WebSocket-Accept does not match the key": "Sec-WebSocket-Accept",
    "server chose a subprotocol the client did not offer": "Sec-WebSocket-Protocol",
    "server chose more than one subprotocol": "Sec-WebSocket-Protocol",
    "server accepted an extension the client did not offer": "Sec-WebSocket-Extensions",
}


def broken_rule(answer: object, response: bytes, key: str) -> Result:
    """Exercise 3: name the header a bad 101 response gets wrong."""
    name = "Exercise 3 (a bad answer)"
    try:
        hs.check_response(response, key)
    except hs.HandshakeError as exc:
        rule = exc.rule
    else:
        return hint(name, "this response is actually valid")
    header = _RULE_HEADER.get(rule)
    if header is None:
        return hint(name, f"this response breaks a rule about its status line: {rule}")
    if not isinstance(answer, str) or not answer.strip():
        return hint(name, "answer with a header's name, e.g. 'Upgrade'")
    if answer.strip().rstrip(":").lower() != header.lower():
        return hint(name, f"{answer.strip()!r} is fine in this answer; compare each header with "
                          "what the client expects for its key (RFC 6455 4.1, client checks)")
    return passed(name, f"{header}: check_response says '{rule}' (RFC 6455 4.1); a client "
                        "must fail the connection")

