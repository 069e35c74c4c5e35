"""permessage-deflate, RFC 7692 (layer 1 (protocol)): compressed messages.

A sender compresses a whole message with DEFLATE, flushes with an empty
stored block and drops its last 4 bytes ``00 00 ff ff`` (RFC 7692 section
7.2.1); the receiver appends them again and inflates (section 7.2.2).  RSV1 on
the first frame marks a compressed message (section 6).  With "context
takeover" (the default) the LZ77 window is kept between messages, so a repeated
message costs a few bytes; ``*_no_context_takeover`` resets it for every message
(section 7.1.1).  Standard library ``zlib`` only.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from .errors import HandshakeError, ProtocolError
from .handshake import split_header_list

__all__ = ["EXTENSION_NAME", "PerMessageDeflate", "parse_extension_offer"]

EXTENSION_NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"  # the end of an empty stored block (RFC 7692 7.2.1)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_PARAMS = ("server_no_context_takeover", "client_no_context_takeover",
           "server_max_window_bits", "client_max_window_bits")


def _bad(message: str) -> HandshakeError:
    return HandshakeError(f"{message} (RFC 6455 9.1, RFC 7692 7.1)", status=400,
                          rule="malformed Sec-WebSocket-Extensions",
                          rfc="RFC 6455 9.1 / RFC 7692 7.1")


def parse_extension_offer(header_value: str) -> list[tuple[str, dict[str, str | None]]]:
    """Parse a Sec-WebSocket-Extensions value into ``[(name, {param: value or None})]``.

    >>> parse_extension_offer("permessage-deflate; client_max_window_bits, x-foo; a=1")
    [('permessage-deflate', {'client_max_window_bits': None}), ('x-foo', {'a': '1'})]

    Grammar of RFC 6455 section 9.1; quoted values are unquoted.  A malformed
    value raises :class:`HandshakeError` (400).
    """
    if not isinstance(header_value, str):
        raise ValueError(f"header_value must be a str, not {type(header_value).__name__}")
    result = []
    for item in split_header_list(header_value):
        parts = [p.strip() for p in item.split(";")]
        name = parts[0]
        if not _TOKEN.match(name):
            raise _bad(f"extension name {name!r} is not a token")
        params: dict[str, str | None] = {}
        for part in parts[1:]:
            key, sep, value = part.partition("=")
            key = key.strip()
            if not _TOKEN.match(key):
                raise _bad(f"extension parameter {part!r} is not 'name' or 'name=value'")
            if key in params:
                raise _bad(f"extension parameter {key!r} appears twice")
            if not sep:
                params[key] = None
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            if not _TOKEN.match(value):
                raise _bad(f"the value of extension parameter {key!r} is not a token: {value!r}")
            params[key] = value
        result.append((name, params))
    return result


def _check_bits(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(f"{name} must be an int in 8..15 (RFC 7692 7.1.2), not {value!r}")
    return value


class PerMessageDeflate:
    """One endpoint's permessage-deflate state (RFC 7692 section 7).

    ``is_server`` says which side we are: a server compresses with the
    ``server_*`` parameters and decompresses with the ``client_*`` ones, a
    client the other way round.  zlib cannot compress with an 8-bit window, so
    8 is refused for our own sending side (decline such an offer); receiving
    with 8 works.
    """

    def __init__(self, *, server_no_context_takeover: bool = False,
                 client_no_context_takeover: bool = False, server_max_window_bits: int = 15,
                 client_max_window_bits: int = 15, is_server: bool,
                 compress_level: int = zlib.Z_DEFAULT_COMPRESSION) -> None:
        if not isinstance(is_server, bool):
            raise ValueError(f"is_server must be True or False, not {is_server!r}")
        if not isinstance(compress_level, int) or not -1 <= compress_level <= 9:
            raise ValueError(f"compress_level must be an int in -1..9, not {compress_level!r}")
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = _check_bits("server_max_window_bits", server_max_window_bits)
        self.client_max_window_bits = _check_bits("client_max_window_bits", client_max_window_bits)
        self.is_server = is_server
        self.compress_level = compress_level
        if is_server:
            self._send_bits, self._send_reset = server_max_window_bits, server_no_context_takeover
            self._recv_bits, self._recv_reset = client_max_window_bits, client_no_context_takeover
        else:
            self._send_bits, self._send_reset = client_max_window_bits, client_no_context_takeover
            self._recv_bits, self._recv_reset = server_max_window_bits, server_no_context_takeover
        if self._send_bits == 8:
            side = "server" if is_server else "client"
            raise ValueError(f"{side}_max_window_bits=8: zlib cannot compress with a 256-byte "
                             "window; decline this offer or use 9..15")
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None

    @classmethod
    def from_params(cls, params: dict[str, str | None], *, is_server: bool) -> PerMessageDeflate:
        """Build from negotiated parameters (as :func:`parse_extension_offer` returns them).

        Unknown or invalid parameters raise :class:`HandshakeError` (RFC 7692 7.1).
        A ``client_max_window_bits`` without value (allowed in an offer) means 15.
        """
        kwargs: dict[str, Any] = {}  # bools and window bits, checked by __init__
        for key, value in params.items():
            if key not in _PARAMS:
                raise _bad(f"unknown permessage-deflate parameter {key!r}")
            if key.endswith("context_takeover"):
                if value is not None:
                    raise _bad(f"{key} takes no value")
                kwargs[key] = True
            elif value is None:
                if key == "server_max_window_bits":
                    raise _bad("server_max_window_bits needs a value 8..15")
                kwargs[key] = 15
            elif not value.isdigit() or not 8 <= int(value) <= 15 or value.startswith("0"):
                raise _bad(f"{key}={value!r}: the window bits must be 8..15")
            else:
                kwargs[key] = int(value)
        try:
            return cls(is_server=is_server, **kwargs)
        except ValueError as exc:
            raise _bad(str(exc)) from None

    def to_header(self) -> str:
        """This configuration as a Sec-WebSocket-Extensions element (RFC 7692 7.1)."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits != 15:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits != 15:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)

    def compress(self, data: bytes) -> bytes:
        """Compress one message; the result goes in frames with RSV1 on the first (7.2.1)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"data must be bytes, not {type(data).__name__}")
        if self._compressor is None or self._send_reset:
            self._compressor = zlib.compressobj(self.compress_level, zlib.DEFLATED,
                                                -self._send_bits)
        out = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(_TAIL) else out

    def decompress(self, data: bytes, *, max_size: int | None = None) -> bytes:
        """Decompress one message's payload (all its frames joined) (RFC 7692 7.2.2).

        Raises :class:`ProtocolError` 1009 when the result exceeds ``max_size``
        and 1007 when the data is not valid DEFLATE.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ValueError(f"data must be bytes, not {type(data).__name__}")
        d = self._decompressor
        if d is None or self._recv_reset or d.eof:
            # A stream ended by a BFINAL block (RFC 7692 7.2.3.4) cannot continue.
            d = self._decompressor = zlib.decompressobj(-max(self._recv_bits, 9))
        limit = 0 if max_size is None else max_size + 1
        try:
            out = d.decompress(bytes(data) + _TAIL, limit)
        except zlib.error as exc:
            self._decompressor = None
            raise ProtocolError(f"the compressed message is not valid DEFLATE ({exc}; "
                                "RFC 7692 7.2.2)", rule="invalid compressed data",
                                rfc="RFC 7692 7.2.2",
                                close_code=1007) from None
        if max_size is not None and len(out) > max_size:
            self._decompressor = None
            raise ProtocolError(f"the message decompresses to more than max_size={max_size} "
                                "bytes (close code 1009, RFC 6455 7.4.1)", rule="message too big",
                                rfc="7.4.1", close_code=1009)
        return out

    def __repr__(self) -> str:
        side = "server" if self.is_server else "client"
        return f"<PerMessageDeflate {side}: {self.to_header()}>"
