"""The opening handshake, byte by byte (layer 1 (protocol)): RFC 6455 section 4.

A client sends an HTTP/1.1 GET with ``Upgrade: websocket`` and a random
``Sec-WebSocket-Key`` (section 4.1); the server proves it read the key by
answering ``101 Switching Protocols`` with ``Sec-WebSocket-Accept`` =
base64(SHA-1(key + GUID)) (sections 1.3, 4.2.2).  This module builds and checks
both messages as bytes; it never opens a socket.

Errors are :class:`HandshakeError` with ``status`` (the HTTP status a server
should answer: 400 malformed, 403 forbidden origin, 426 wrong version; for
:func:`check_response`, the status the server sent, 0 if unreadable), ``rule`` (which rule broke,
in words) and ``rfc`` (the section).  An incomplete header block raises
:class:`NeedMoreData`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from .errors import HandshakeError, NeedMoreData

__all__ = [
    "GUID",
    "HandshakeError",
    "Headers",
    "NeedMoreData",
    "Request",
    "Response",
    "accept_key",
    "build_error_response",
    "build_request",
    "build_response",
    "check_response",
    "content_length",
    "make_key",
    "parse_request",
    "split_head",
    "split_header_list",
    "status_of",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
MAX_HEADER_BYTES = 65536  # a header block larger than this is refused (431)

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 7230 section 3.2.6


def make_key() -> str:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64-encoded (RFC 6455 section 4.1)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept for ``key`` (RFC 6455 sections 1.3, 4.2.2 item 5.4).

    base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")):

    >>> accept_key("dGhlIHNhbXBsZSBub25jZQ==")
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    if isinstance(key, (bytes, bytearray)):
        key = bytes(key).decode("ascii", errors="strict")
    if not isinstance(key, str):
        raise ValueError("key must be a str (the Sec-WebSocket-Key value), "
                         f"not {type(key).__name__}")
    digest = hashlib.sha1((key + GUID).encode("latin-1")).digest()
    return base64.b64encode(digest).decode("ascii")


def _valid_key(key: str) -> bool:
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return len(raw) == 16


# ---------------------------------------------------------------------------
# Headers


class Headers(Mapping[str, str]):
    """HTTP header fields in order, names case-insensitive (RFC 7230 section 3.2).

    ``headers["upgrade"]`` / ``get()`` join repeated fields with ", " (RFC 7230
    section 3.2.2), ``get_all()`` lists them, ``items()`` gives the raw pairs in
    order, as they were on the wire.
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = tuple((str(k), str(v)) for k, v in pairs)
        # lower-cased name -> values in order, made once (a handshake looks up ~8 names)
        self._by_name: dict[str, list[str]] = {}
        for k, v in self._pairs:
            self._by_name.setdefault(k.lower(), []).append(v)

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order ([] when absent)."""
        return list(self._by_name.get(name.lower(), ()))

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, str] = {}
        for k, _ in self._pairs:
            seen.setdefault(k.lower(), k)
        return iter(seen.values())

    def __len__(self) -> int:
        return len({k.lower() for k, _ in self._pairs})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        """The raw (name, value) pairs, in wire order, repeats included."""
        return list(self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._pairs == other._pairs
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({list(self._pairs)!r})"


def split_header_list(value: str) -> list[str]:
    """Split a comma-separated header value, keeping commas inside quoted strings.

    >>> split_header_list('permessage-deflate; a="1,2", x-foo')
    ['permessage-deflate; a="1,2"', 'x-foo']
    """
    if '"' not in value:  # no quoted string: every comma separates (the common case)
        return [item for item in (part.strip() for part in value.split(",")) if item]
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _tokens(headers: Headers, name: str) -> list[str]:
    return [t.lower() for v in headers.get_all(name) for t in split_header_list(v)]


def _header_pairs(headers: object) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        pairs = list(headers.items())
    elif isinstance(headers, Iterable) and not isinstance(headers, (str, bytes)):
        pairs = list(headers)
    else:
        raise ValueError("headers must be a mapping or a list of (name, value) pairs, not "
                         f"{type(headers).__name__}")
    out = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(f"each header must be a (name, value) pair, not {pair!r}")
        out.append(_check_field(*pair))
    return out


def _check_field(name: object, value: object) -> tuple[str, str]:
    if not isinstance(name, str) or not _TOKEN.match(name):
        raise ValueError(f"a header name must be a token (letters, digits, !#$%&'*+-.^_`|~), "
                         f"not {name!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        raise ValueError(f"the value of {name} must be a str without CR, LF or NUL, not {value!r}")
    return name, value


def _join_lines(first: str, pairs: list[tuple[str, str]]) -> bytes:
    lines = [first] + [f"{k}: {v}" for k, v in pairs]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _str_list(values: object, what: str) -> list[str]:
    if isinstance(values, str):
        raise ValueError(f"{what} must be a list of strings, not one string; write ({values!r},)")
    if not isinstance(values, Iterable):
        raise ValueError(f"{what} must be a list of strings, not {type(values).__name__}")
    items: list[str] = []
    for item in values:
        if not isinstance(item, str) or not item.strip() or any(c in item for c in "\r\n\0"):
            raise ValueError(f"each of {what} must be a non-empty str without CR/LF, not {item!r}")
        items.append(item)
    return items


# ---------------------------------------------------------------------------
# Client side: the request


def build_request(*, host: str, path: str = "/", key: str | None, origin: str | None = None,
                  subprotocols: Iterable[str] = (), extensions: Iterable[str] = (),
                  headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
                  version: int | None = 13) -> bytes:
    """The client's opening handshake as exact bytes (RFC 6455 section 4.1).

    ``key=None`` or ``version=None`` leave that header out, and ``version`` may be
    any int, so a learner can send a request the server must refuse.
    ``extensions`` are offers such as ``"permessage-deflate; client_max_window_bits"``.
    """
    _check_field("Host", host)
    if not host:
        raise ValueError("host must not be empty (RFC 6455 4.1 item 4)")
    if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in " \r\n\0"):
        raise ValueError(f"path must start with '/' and contain no spaces or CR/LF, not {path!r}")
    pairs = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade")]
    if key is not None:
        pairs.append(_check_field("Sec-WebSocket-Key", key))
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"version must be an int (13 is the only valid one) or None, "
                             f"not {version!r}")
        pairs.append(("Sec-WebSocket-Version", str(version)))
    if origin is not None:
        pairs.append(_check_field("Origin", origin))
    protocols = _str_list(subprotocols, "subprotocols")
    if protocols:
        pairs.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    offers = _str_list(extensions, "extensions")
    if offers:
        pairs.append(("Sec-WebSocket-Extensions", ", ".join(offers)))
    pairs += _header_pairs(headers)
    return _join_lines(f"GET {path} HTTP/1.1", pairs)


@dataclass(frozen=True)
class Request:
    """A parsed, valid opening handshake request (RFC 6455 section 4.2.1).

    ``size`` is the number of bytes of the header block (bytes after it, if any,
    are already frames).
    """

    method: str
    path: str
    headers: Headers
    key: str
    version: int
    origin: str | None
    host: str
    subprotocols: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    size: int = 0

    def get(self, name: str, default: str | None = None) -> str | None:
        """A header value (case-insensitive name), repeats joined with ", "."""
        return self.headers.get(name, default)


@dataclass(frozen=True)
class Response:
    """A parsed opening handshake response (RFC 6455 section 4.2.2).

    ``size`` is the number of bytes of the header block (bytes after it are
    frames, or the body of an error response).
    """

    status: int
    reason: str
    headers: Headers
    accept: str | None = None
    subprotocol: str | None = None
    extensions: tuple[str, ...] = ()
    size: int = 0

    def get(self, name: str, default: str | None = None) -> str | None:
        """A header value (case-insensitive name), repeats joined with ", "."""
        return self.headers.get(name, default)


def _fail(message: str, *, status: int, rule: str, rfc: str,
          headers: tuple[tuple[str, str], ...] = (), response: Response | None = None
          ) -> HandshakeError:
    return HandshakeError(f"{message} (RFC 6455 {rfc})", status=status, rule=rule, rfc=rfc,
                          headers=headers, response=response)


def split_head(buf: bytes | bytearray, *, limit: int = MAX_HEADER_BYTES
               ) -> tuple[bytes, bytes] | None:
    """Cut an HTTP head off ``buf``: ``(head, rest)``, or None while its blank line is missing.

    ``head`` ends with the empty line (CRLF CRLF) that closes an HTTP/1.1
    header block (RFC 7230 section 3); ``rest`` is what follows (frames after a
    101, or a body).  A head longer than ``limit`` bytes, or ``limit`` bytes
    without its end, raises :class:`HandshakeError` (status 431, rule "header
    block too large").
    """
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise ValueError(f"buf must be bytes, not {type(buf).__name__}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 4:
        raise ValueError(f"limit must be an int >= 4 (bytes), not {limit!r}")
    if isinstance(buf, memoryview):
        buf = bytes(buf)
    end = buf.find(b"\r\n\r\n")
    if end + 4 > limit if end >= 0 else len(buf) >= limit:
        raise _fail(f"the HTTP header block is larger than {limit} bytes", status=431,
                    rule="header block too large", rfc="4.2.1 / RFC 6585 5")
    if end < 0:
        return None
    return bytes(buf[:end + 4]), bytes(buf[end + 4:])


def status_of(head: bytes) -> int | None:
    """The status code of an HTTP response head (``HTTP/1.1 101 ...``), or None if it is not one."""
    match = re.match(rb"HTTP/\d\.\d (\d{3})(?:[ \r]|$)", bytes(head))
    return int(match.group(1)) if match else None


def content_length(head: bytes) -> int:
    """The Content-Length of an HTTP head, 0 when absent (RFC 7230 section 3.3.2).

    Raises :class:`HandshakeError` (400) when the value is not a number.
    """
    for line in bytes(head).split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            if not value.strip().isdigit():
                raise _fail(f"Content-Length {value.strip()!r} is not a number", status=400,
                            rule="malformed Content-Length", rfc="4.1 / RFC 7230 3.3.2")
            return int(value)
    return 0


def _split_head(data: bytes, what: str) -> tuple[str, list[str], int]:
    """Cut the header block off ``data``: (start line, header lines, size)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    try:
        cut = split_head(data)
    except HandshakeError:
        raise _fail(f"the {what} header block is larger than {MAX_HEADER_BYTES} bytes",
                    status=431, rule="header block too large", rfc="4.2.1 / RFC 6585 5") from None
    if cut is None:
        if b"\n\n" in data:
            raise _fail(f"the {what} lines must end with CRLF, not a bare LF", status=400,
                        rule="lines must end with CRLF", rfc="4.1 / RFC 7230 3")
        raise NeedMoreData(f"the {what} header block ends with an empty line (CRLF CRLF); "
                           f"not seen yet in {len(data)} bytes")
    head = cut[0]
    lines = head[:-4].decode("latin-1").split("\r\n")
    return lines[0], lines[1:], len(head)


#: a control character in a header value (tab is allowed; RFC 7230 section 3.2)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _parse_fields(lines: list[str], what: str) -> Headers:
    pairs = []
    for line in lines:
        if not line or line[0] in " \t":
            raise _fail(f"{what} header line {line!r} is folded or empty", status=400,
                        rule="malformed header line", rfc="4.1 / RFC 7230 3.2.4")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name):
            raise _fail(f"{what} header line {line!r} is not 'Name: value'", status=400,
                        rule="malformed header line", rfc="4.1 / RFC 7230 3.2")
        value = value.strip(" \t")
        if _CONTROL.search(value):
            raise _fail(f"{what} header {name} holds a control character", status=400,
                        rule="malformed header line", rfc="4.1 / RFC 7230 3.2")
        pairs.append((name, value))
    return Headers(pairs)


def _check_origins(allowed_origins: object) -> set[str] | None:
    if allowed_origins is None:
        return None
    if isinstance(allowed_origins, str):
        raise ValueError("allowed_origins must be a list of origins, not one string; "
                         f"write [{allowed_origins!r}]")
    try:
        origins = list(allowed_origins)  # type: ignore[call-overload]
    except TypeError:
        raise ValueError("allowed_origins must be None or a list of origin strings such as "
                         "'http://127.0.0.1:8888'") from None
    if not all(isinstance(o, str) for o in origins):
        raise ValueError(f"allowed_origins must hold strings, not {origins!r}")
    return {o.lower().rstrip("/") for o in origins}


def parse_request(data: bytes, *, allowed_origins: Iterable[str] | None = None) -> Request:
    """Parse and check a client's opening handshake (RFC 6455 section 4.2.1).

    Returns a :class:`Request`, or raises :class:`HandshakeError` with the status
    to answer: 400 when malformed (not ``GET``, not HTTP/1.1, no Host, no
    ``Upgrade: websocket``, ``Connection`` without ``Upgrade``, a key that is
    not 16 bytes in base64), 426 when ``Sec-WebSocket-Version`` is not 13 (the
    answer must carry ``Sec-WebSocket-Version: 13``, section 4.4; see
    :func:`build_error_response`), 403 when ``allowed_origins`` is given and the
    ``Origin`` is not in it (section 10.2; a request without Origin comes from a
    non-browser client and is accepted).  Raises :class:`NeedMoreData` while the
    header block is incomplete.
    """
    origins = _check_origins(allowed_origins)
    start, lines, size = _split_head(data, "request")
    parts = start.split(" ")
    if len(parts) != 3:
        raise _fail(f"the request line {start!r} is not 'GET /path HTTP/1.1'", status=400,
                    rule="malformed request line", rfc="4.1 / RFC 7230 3.1.1")
    method, path, version = parts
    if method != "GET":
        raise _fail(f"the method is {method!r}; the handshake must be a GET", status=400,
                    rule="method is not GET", rfc="4.1 item 2 / 4.2.1 item 1")
    if version != "HTTP/1.1":
        raise _fail(f"the HTTP version is {version!r}; the handshake needs HTTP/1.1", status=400,
                    rule="HTTP version is not 1.1", rfc="4.1 item 2 / 4.2.1 item 1")
    if not (path.startswith("/") or "://" in path):
        raise _fail(f"the request target {path!r} is neither a path nor an absolute URI",
                    status=400, rule="malformed request target", rfc="4.1 item 3")
    headers = _parse_fields(lines, "request")
    hosts = headers.get_all("Host")
    if len(hosts) != 1 or not hosts[0]:
        raise _fail("the request must carry exactly one non-empty Host header", status=400,
                    rule="missing Host", rfc="4.1 item 4 / 4.2.1 item 2")
    if "websocket" not in _tokens(headers, "Upgrade"):
        raise _fail("the request lacks 'Upgrade: websocket'", status=400,
                    rule="missing Upgrade: websocket", rfc="4.1 item 5 / 4.2.1 item 3")
    if "upgrade" not in _tokens(headers, "Connection"):
        raise _fail("the Connection header does not contain the token 'Upgrade'", status=400,
                    rule="Connection header lacks Upgrade", rfc="4.1 item 6 / 4.2.1 item 4")
    keys = headers.get_all("Sec-WebSocket-Key")
    if not keys:
        raise _fail("the request has no Sec-WebSocket-Key", status=400,
                    rule="missing Sec-WebSocket-Key", rfc="4.1 item 7 / 4.2.1 item 5")
    if len(keys) != 1 or not _valid_key(keys[0]):
        raise _fail(f"Sec-WebSocket-Key {', '.join(keys)!r} is not 16 bytes in base64",
                    status=400, rule="Sec-WebSocket-Key is not 16 bytes in base64",
                    rfc="4.1 item 7 / 4.2.1 item 5")
    versions = headers.get_all("Sec-WebSocket-Version")
    if versions != ["13"]:
        got = ", ".join(versions) if versions else "missing"
        raise _fail(f"Sec-WebSocket-Version is {got!r}; this server speaks version 13",
                    status=426, rule="Sec-WebSocket-Version is not 13",
                    rfc="4.2.1 item 6 / 4.4", headers=(("Sec-WebSocket-Version", "13"),))
    origin = headers.get("Origin")
    if origins is not None and origin is not None and origin.lower().rstrip("/") not in origins:
        raise _fail(f"origin {origin!r} is not allowed (allowed: {sorted(origins)})",
                    status=403, rule="origin not allowed", rfc="4.2.1 item 7 / 10.2")
    return Request(
        method=method, path=path, headers=headers, key=keys[0], version=13, origin=origin,
        host=hosts[0],
        subprotocols=tuple(t for v in headers.get_all("Sec-WebSocket-Protocol")
                           for t in split_header_list(v)),
        extensions=tuple(t for v in headers.get_all("Sec-WebSocket-Extensions")
                         for t in split_header_list(v)),
        size=size,
    )


# ---------------------------------------------------------------------------
# Server side: the response


def build_response(*, key: str, subprotocol: str | None = None, extensions: Iterable[str] = (),
                   headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> bytes:
    """The server's ``101 Switching Protocols`` for the client's ``key`` (RFC 6455 4.2.2).

    ``subprotocol`` is the one chosen among the client's offers (or None),
    ``extensions`` the accepted extensions with their parameters.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be the client's Sec-WebSocket-Key (a str), not {key!r}")
    pairs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
             ("Sec-WebSocket-Accept", accept_key(key))]
    if subprotocol is not None:
        if not isinstance(subprotocol, str) or not _TOKEN.match(subprotocol):
            raise ValueError(f"subprotocol must be a token str or None, not {subprotocol!r}")
        pairs.append(("Sec-WebSocket-Protocol", subprotocol))
    accepted = _str_list(extensions, "extensions")
    if accepted:
        pairs.append(("Sec-WebSocket-Extensions", ", ".join(accepted)))
    pairs += _header_pairs(headers)
    return _join_lines("HTTP/1.1 101 Switching Protocols", pairs)


def build_error_response(status: int, reason: str, *,
                         headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
                         ) -> bytes:
    """An HTTP error answer to a refused handshake, ``reason`` as a text body (RFC 6455 4.2.2).

    A 426 answer automatically carries ``Sec-WebSocket-Version: 13`` (section
    4.4).  Typical use: ``build_error_response(exc.status, exc.rule)``.
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 300 <= status <= 599:
        raise ValueError(f"status must be an int in 300..599 (an HTTP error), not {status!r}")
    if not isinstance(reason, str):
        raise ValueError(f"reason must be a str, not {type(reason).__name__}")
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = (reason + "\n").encode("utf-8")
    pairs = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
             ("Connection", "close")]
    if status == 426:
        pairs.append(("Sec-WebSocket-Version", "13"))
    pairs += _header_pairs(headers)
    return _join_lines(f"HTTP/1.1 {status} {phrase}", pairs) + body


def check_response(data: bytes, key: str, *, subprotocols: Iterable[str] = (),
                   extensions: Iterable[str] = ()) -> Response:
    """Check the server's answer to a request sent with ``key`` (RFC 6455 section 4.1).

    ``subprotocols`` and ``extensions`` are what the client offered.  Returns a
    :class:`Response`, raises :class:`NeedMoreData` while the header block is
    incomplete, or :class:`HandshakeError` whose ``rule`` names the broken rule:
    "malformed status line", "status is not 101", "missing Upgrade: websocket",
    "Connection header lacks Upgrade", "missing Sec-WebSocket-Accept",
    "Sec-WebSocket-Accept does not match the key", "server chose a subprotocol
    the client did not offer", "server chose more than one subprotocol",
    "server accepted an extension the client did not offer".  Its ``status`` is
    the status the server sent and ``response`` the parsed response, when the
    status line could be read.
    """
    if not isinstance(key, str):
        raise ValueError(f"key must be the Sec-WebSocket-Key the client sent (a str), not {key!r}")
    offered_protocols = _str_list(subprotocols, "subprotocols")
    offered_ext = {item.split(";")[0].strip().lower()
                   for e in _str_list(extensions, "extensions") for item in split_header_list(e)}
    start, lines, size = _split_head(data, "response")
    match = re.fullmatch(r"(HTTP/\d\.\d) (\d{3})(?: (.*))?", start)
    if not match:
        raise _fail(f"the status line {start!r} is not 'HTTP/1.1 101 Switching Protocols'",
                    status=0, rule="malformed status line", rfc="4.1 / RFC 7230 3.1.2")
    http_version, status, reason = match.group(1), int(match.group(2)), match.group(3) or ""
    headers = _parse_fields(lines, "response")
    protocols = [t for v in headers.get_all("Sec-WebSocket-Protocol")
                 for t in split_header_list(v)]
    ext = tuple(t for v in headers.get_all("Sec-WebSocket-Extensions")
                for t in split_header_list(v))
    accept = headers.get("Sec-WebSocket-Accept")
    response = Response(status=status, reason=reason, headers=headers, accept=accept,
                        subprotocol=protocols[0] if len(protocols) == 1 else None,
                        extensions=ext, size=size)

    def fail(message: str, rule: str, rfc: str) -> HandshakeError:
        return _fail(message, status=status, rule=rule, rfc=rfc, response=response)

    if http_version != "HTTP/1.1":
        raise fail(f"the response is {http_version}, not HTTP/1.1", "status line is not HTTP/1.1",
                   "4.1 / 4.2.2")
    if status != 101:
        raise fail(f"the server answered {status} {reason!r}, not 101 Switching Protocols",
                   "status is not 101", "4.1 (client item 1) / 4.2.2")
    if "websocket" not in _tokens(headers, "Upgrade"):
        raise fail("the response lacks 'Upgrade: websocket'", "missing Upgrade: websocket",
                   "4.1 (client item 2)")
    if "upgrade" not in _tokens(headers, "Connection"):
        raise fail("the response's Connection header does not contain 'Upgrade'",
                   "Connection header lacks Upgrade", "4.1 (client item 3)")
    if accept is None:
        raise fail("the response has no Sec-WebSocket-Accept", "missing Sec-WebSocket-Accept",
                   "4.1 (client item 4)")
    expected = accept_key(key)
    if len(headers.get_all("Sec-WebSocket-Accept")) != 1 or accept.strip() != expected:
        raise fail(f"Sec-WebSocket-Accept is {accept!r}; for key {key!r} it must be "
                   f"{expected!r} = base64(SHA-1(key + GUID))",
                   "Sec-WebSocket-Accept does not match the key", "4.1 (client item 4) / 4.2.2")
    for name in ext:
        ext_name = name.split(";")[0].strip().lower()
        if ext_name not in offered_ext:
            raise fail(f"the server accepted extension {ext_name!r}, which the client did not "
                       f"offer (offered: {sorted(offered_ext)})",
                       "server accepted an extension the client did not offer",
                       "4.1 (client item 5) / 9.1")
    if len(protocols) > 1:
        raise fail(f"the server chose several subprotocols {protocols}; it must pick one",
                   "server chose more than one subprotocol", "4.1 (client item 6) / 4.2.2")
    if protocols and protocols[0] not in offered_protocols:
        raise fail(f"the server chose subprotocol {protocols[0]!r}, which the client did not "
                   f"offer (offered: {offered_protocols})",
                   "server chose a subprotocol the client did not offer",
                   "4.1 (client item 6)")
    return response
