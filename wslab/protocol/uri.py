"""WebSocket URIs (layer 1 (protocol)): RFC 6455 section 3.

::

    ws-URI  = "ws:" "//" host [ ":" port ] path [ "?" query ]
    wss-URI = "wss:" "//" host [ ":" port ] path [ "?" query ]

The port defaults to 80 for ``ws`` and 443 for ``wss``; the *resource name*
is the path (``/`` when empty) plus ``?query`` when present; a fragment
identifier (``#...``) is not allowed (section 3).  :func:`parse_ws_uri` turns a
URI into a :class:`WsUri`, the one place wslab reads a WebSocket URL.  The
helpers :func:`origin_of` (an origin, RFC 6454) and :func:`host_for_url` (a
bind address as the host of a URL) live here too.  Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["DEFAULT_PORTS", "WsUri", "host_for_url", "origin_of", "parse_ws_uri"]

DEFAULT_PORTS = {"ws": 80, "wss": 443, "http": 80, "https": 443}


@dataclass(frozen=True)
class WsUri:
    """A parsed ws:// or wss:// URI (RFC 6455 section 3).

    ``host`` is as written, without brackets for an IPv6 literal (``::1``);
    ``port`` is explicit or the default (80, 443); ``resource`` is the resource
    name sent in the request line (path and query, RFC 6455 section 4.1).
    ``scheme`` is ``ws`` or ``wss`` (``http``/``https`` only when allowed).
    """

    secure: bool
    host: str
    port: int
    resource: str
    scheme: str = "ws"

    @property
    def host_header(self) -> str:
        """The Host header field for the handshake: brackets for IPv6, port when not default
        (RFC 6455 section 4.1 item 4, RFC 7230 section 5.4)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == DEFAULT_PORTS[self.scheme]:
            return host
        return f"{host}:{self.port}"

    @property
    def netloc(self) -> str:
        """``host:port`` with brackets around an IPv6 literal, port always written."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URI written back, with its port."""
        return f"{self.scheme}://{self.netloc}{self.resource}"


def parse_ws_uri(url: str, *, schemes: tuple[str, ...] = ("ws", "wss")) -> WsUri:
    """Parse a WebSocket URI per RFC 6455 section 3; raise ``ValueError`` saying what is wrong.

    ``schemes`` lists the schemes accepted (``("ws", "http")`` for a plain TCP
    tool that also speaks HTTP).  Refused: another scheme, a relative URI, a
    missing host, a port that is not a number in 1..65535, a fragment
    (``#...``, section 3), spaces or control characters.

    >>> parse_ws_uri("ws://example.com/chat?room=1")
    WsUri(secure=False, host='example.com', port=80, resource='/chat?room=1', scheme='ws')
    >>> parse_ws_uri("wss://[::1]:8443").resource
    '/'
    """
    if not isinstance(url, str):
        raise ValueError(f"a WebSocket URL is a str such as 'ws://127.0.0.1:8888/echo', "
                         f"not {type(url).__name__}")
    allowed = " or ".join(f"{s}://" for s in schemes)
    if any(ord(c) <= 32 or c == "\x7f" for c in url):
        raise ValueError(f"a WebSocket URL has no spaces or control characters, got {url!r}")
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in schemes:
        raise ValueError(f"a WebSocket URL starts with {allowed} (RFC 6455 section 3), "
                         f"got {url!r}")
    if "#" in url:
        raise ValueError(f"a WebSocket URL must not have a fragment ('#...', RFC 6455 "
                         f"section 3), got {url!r}")
    netloc = url[len(scheme) + 3:].split("/", 1)[0].split("?", 1)[0]
    if "@" in netloc:
        raise ValueError(f"a WebSocket URL has no user:password@ part, got {url!r}")
    bracketed = netloc.startswith("[")
    if bracketed and "]" not in netloc or not bracketed and netloc.count(":") > 1:
        raise ValueError(f"an IPv6 host is written in brackets, e.g. 'ws://[::1]:8888/', "
                         f"got {url!r}")
    parts = urlsplit(url)
    try:
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise ValueError(f"the port of a WebSocket URL is a number in 1..65535, got {url!r}"
                         ) from None
    if not host:
        raise ValueError(f"a WebSocket URL needs a host, e.g. 'ws://127.0.0.1:8888/', "
                         f"got {url!r}")
    if port == 0 or netloc.endswith(":"):
        raise ValueError(f"the port of a WebSocket URL is a number in 1..65535, got {url!r}")
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return WsUri(secure=scheme in ("wss", "https"), host=host,
                 port=port if port is not None else DEFAULT_PORTS[scheme],
                 resource=resource, scheme=scheme)


def host_for_url(host: str) -> str:
    """The host part of a URL for a bind address (IPv6 in brackets, wildcard -> loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL or origin string, lower-cased, default ports dropped
    (the serialisation of an origin, RFC 6454 section 6.2)."""
    if not isinstance(url, str):
        raise ValueError(f"an origin looks like 'http://host:port', got {url!r}")
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"an origin looks like 'http://host:port', got {url!r}")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"the port of an origin is a number in 0..65535, got {url!r}") from None
    default = DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")
