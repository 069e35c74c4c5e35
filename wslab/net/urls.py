"""Small URL helpers shared by the I/O layer (layer 2)."""

from __future__ import annotations

from urllib.parse import urlsplit


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
    """``scheme://host[:port]`` of a URL or origin string, lower-cased, default ports dropped."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"an origin looks like 'http://host:port', got {url!r}")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")
