"""Who may open a connection, checked before the upgrade (layer 2, I/O).

:class:`Admission` holds every rule as a value (no socket, no clock): the page
origins a server accepts, the names its Host header may carry, the connection
limit and the token.  A server keeps one and replaces it when a rule changes.

* the Origin, compared by scheme, host and port (RFC 6454 section 4);
* the Host header, which must name this server (against DNS rebinding), or be
  exactly the ``host:port`` of a proxy the server was told to trust;
* a token, in a query parameter, an ``Authorization: Bearer`` header or a
  cookie: missing -> 401, wrong -> 403, and no upgrade happens;
* a maximum number of simultaneous connections: further handshakes get 503.

Browsers cannot set custom headers on ``new WebSocket(url)`` (the API takes
only a URL and subprotocols), so a page sends its token in the URL or relies on
a cookie; scripts and servers can use the header.  A token in the URL ends up
in logs and history: prefer a short-lived ticket (RFC 6455 section 10.5 leaves
authentication to the application).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ...protocol.uri import host_for_url, origin_of

__all__ = ["PLACES", "Admission", "TokenAuth", "is_ip", "make_auth", "normalise_origins",
           "normalise_proxies"]

PLACES = ("query", "header", "cookie")


@dataclass(frozen=True)
class TokenAuth:
    """Accept a handshake only with the right token in one of ``places``."""

    token: str
    places: tuple[str, ...] = PLACES
    query_param: str = "token"
    cookie: str = "wslab_token"

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token:
            raise ValueError("auth token is a non-empty string")
        bad = [p for p in self.places if p not in PLACES]
        if bad or not self.places:
            raise ValueError(f"token places are some of {PLACES}, got {self.places!r}")

    def presented(self, request: Any) -> tuple[str, str] | None:
        """(place, token) the request carries, or None."""
        if "query" in self.places:
            values = request.query_arguments.get(self.query_param)
            if values:
                return "query", values[0].decode("utf-8", "replace")
        if "header" in self.places:
            auth = request.headers.get("Authorization", "")
            if auth.lower().startswith("bearer "):
                return "header", auth[7:].strip()
        if "cookie" in self.places:
            morsel = request.cookies.get(self.cookie)
            if morsel is not None:
                return "cookie", morsel.value
        return None

    def check(self, request: Any) -> tuple[int, str] | None:
        """None when admitted, else (HTTP status, reason)."""
        got = self.presented(request)
        if got is None:
            where = {"query": f"?{self.query_param}=...", "header": "Authorization: Bearer ...",
                     "cookie": f"cookie {self.cookie}"}
            return 401, "no token: send it as " + " or ".join(where[p] for p in self.places)
        place, token = got
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return 403, f"wrong token (sent in the {place})"
        return None


def make_auth(auth: str | TokenAuth | None) -> TokenAuth | None:
    if auth is None or isinstance(auth, TokenAuth):
        return auth
    if isinstance(auth, str):
        return TokenAuth(auth)
    raise ValueError(f"auth is a token string, a TokenAuth or None, got {type(auth).__name__}")


def normalise_origins(origins: Iterable[str]) -> frozenset[str]:
    """Origins in their serialised form (RFC 6454 section 6.2); ``"*"`` stays ``"*"``."""
    if isinstance(origins, str):
        origins = [origins]
    return frozenset("*" if o == "*" else origin_of(o) for o in origins)


def is_ip(text: str) -> bool:
    """True if ``text`` is an IPv4 or IPv6 address (without brackets)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def normalise_proxies(proxies: Iterable[str]) -> frozenset[str]:
    """Trusted proxies as lower-case ``host:port`` (IPv6 in brackets, the default port
    of a URL's scheme filled in).  Each is ``host:port`` or a URL such as
    ``https://hub.example.org/``; anything else is a ``ValueError``."""
    if isinstance(proxies, str):
        proxies = [proxies]
    out = set()
    for text in proxies:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"a trusted proxy is 'host:port' or a URL, got {text!r}")
        value = text.strip().lower()
        try:
            parts = urlsplit(value if "//" in value else f"//{value}")
            port = parts.port
        except ValueError:
            port, parts = None, urlsplit("")
        if port is None and parts.scheme in ("http", "https", "ws", "wss"):
            port = 443 if parts.scheme in ("https", "wss") else 80
        name = (parts.hostname or "").rstrip(".")
        if not name or port is None:
            raise ValueError(f"a trusted proxy is 'host:port' or a URL, got {text!r}")
        out.add(f"{host_for_url(name)}:{port}")
    return frozenset(out)


_HOST_VERDICTS_MAX = 256  # Host values whose verdict an Admission keeps


@dataclass(frozen=True)
class Admission:
    """A server's admission rules as a value: every method is pure.

    ``origins``: page origins allowed besides the server's own (``"*"``: any, and the
    Host rule off); ``hosts``: extra names the Host header may carry; ``proxies``:
    ``host:port`` of trusted proxies (see :func:`normalise_proxies`); ``bound_host``,
    ``port`` and ``tls``: where and how the server listens; ``machine_name``: this
    machine's host name (lower case); ``max_connections`` and ``auth``: the limit and
    the token checked by :meth:`check`.
    """

    bound_host: str = "127.0.0.1"
    port: int = 0
    tls: bool = False
    origins: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    proxies: frozenset[str] = frozenset()
    machine_name: str = ""
    max_connections: int | None = None
    auth: TokenAuth | None = None
    max_per_address: int | None = None
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    # Host header -> host_allowed's verdict: the rules are fixed for this value, and most
    # handshakes carry the same Host; bounded (a hostile client may vary it)
    _host_verdicts: dict[str, tuple[bool, str]] = field(init=False, repr=False, compare=False,
                                                        hash=False)

    def __post_init__(self) -> None:
        names = {self.bound_host.strip("[]").lower(), self.machine_name.lower(), *self.hosts}
        names |= {urlsplit(o).hostname or "" for o in self.origins}
        names.discard("")
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_host_verdicts", {})

    # --- values derived from the rules ------------------------------------------
    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``: the scheme of this server's own pages."""
        return "https" if self.tls else "http"

    @property
    def own_origin(self) -> str:
        """This server's own origin, ``http://host:port`` (RFC 6454 section 6.2)."""
        return origin_of(f"{self.scheme}://{host_for_url(self.bound_host)}:{self.port}")

    # --- changed rules: new values -----------------------------------------------
    def with_origin(self, origin: str) -> Admission:
        """These rules, with ``origin`` also allowed (``ValueError`` if it is no origin)."""
        return replace(self, origins=self.origins | normalise_origins([origin]))

    def with_host(self, name: str) -> Admission:
        """These rules, with ``name`` also accepted in the Host header.

        ``name`` is a host name or an IP address (IPv6 with or without brackets);
        anything else, a port included, is a ``ValueError``.
        """
        if not isinstance(name, str) or not name or (
                ":" in name.strip("[]") and not is_ip(name.strip("[]"))):
            raise ValueError(f"a host name such as 'teacher.local', got {name!r}")
        return replace(self, hosts=self.hosts | {name.strip("[]").lower().rstrip(".")})

    def with_port(self, port: int) -> Admission:
        """These rules for a server that listens on ``port`` (known once it is bound)."""
        return replace(self, port=port)

    # --- the rules ----------------------------------------------------------------
    def origin_allowed(self, origin: str, host_header: str) -> tuple[bool, str]:
        """Whether a page of ``origin`` may connect, and why (RFC 6454 section 4).

        Allowed: this server's own origin; the origin the Host header names when that
        Host has this server's port and the same scheme; the origin the Host names when
        that Host has another port (a page of a proxy in front of this server, e.g. the
        Jupyter server's ``<base_url>proxy/<port>/`` route); an origin in ``origins``,
        or any with ``"*"``.  Anything else, an unparsable Origin included, is refused.
        """
        try:
            normal = origin_of(origin)
        except ValueError:
            return False, f"Origin {origin!r} is not a valid origin"
        if normal == self.own_origin:
            return True, "same origin"  # (also a page of ours reached via a relay)
        parts = urlsplit(normal)
        if parts.netloc == host_header.lower():
            try:
                own_port = urlsplit(f"//{host_header}").port == self.port
            except ValueError:
                own_port = False
            if not own_port:
                # The page's origin is the host the browser asked for, but that is not
                # this server's address: a page of a proxy in front of us.  The same
                # Origin sent straight here is refused (its Host names our port).
                return True, f"same origin as the Host {host_header} (through a proxy)"
            if parts.scheme == self.scheme:  # same host and port: the scheme must match too
                return True, "same origin"
            return False, (f"Origin {origin} has the scheme {parts.scheme}, "
                           f"this server's is {self.scheme}: another origin")
        if "*" in self.origins or normal in self.origins:
            return True, "allowed by serve(origins=...)"
        return False, (f"Origin {origin} is not this server's origin and not in "
                       f"serve(origins=...) (allowed: {sorted(self.origins) or 'none'})")

    def host_allowed(self, host_header: str) -> tuple[bool, str]:
        """Whether a request's Host header may reach this server, and why (DNS rebinding).

        A page on ``http://evil.example:PORT`` whose name an attacker re-points at
        127.0.0.1 reaches this server (or a proxy in front of it, which passes the
        Host on) with Origin and Host both ``evil.example:PORT``: the same origin as
        far as the browser knows.  So the Host must name this server: an IP address
        (on this server's port, one it listens on: any address when it listens on all
        of them; loopback addresses on loopback), ``localhost``, the machine's host
        name, the bound host, the host of an allowed origin, or one of ``hosts``.
        Another name is accepted only as the exact ``host:port`` of a trusted proxy
        (``proxies``: the cluster's nginx, the Jupyter server a browser reaches
        through its public name).  A proxy's own headers (``X-Forwarded-Host``) are
        not trusted: any client can send them.  ``origins`` holding ``"*"`` turns the
        rule off.  (A verdict is kept per Host value: the rules of this value never change.)
        """
        known = self._host_verdicts.get(host_header)
        if known is not None:
            return known
        verdict = self._host_verdict(host_header)
        if len(self._host_verdicts) >= _HOST_VERDICTS_MAX:
            self._host_verdicts.clear()
        self._host_verdicts[host_header] = verdict
        return verdict

    def _host_verdict(self, host_header: str) -> tuple[bool, str]:
        text = host_header.strip().lower()
        try:
            parts = urlsplit(f"//{text}")
            port = parts.port
        except ValueError:
            return False, f"Host {host_header!r} is not host[:port]"
        name = (parts.hostname or "").rstrip(".")
        # no port: the default of the scheme the browser used, which may be the proxy's
        ports = (80, 443) if port is None else (port,)
        port = port if port is not None else 443 if self.tls else 80
        if "*" in self.origins:
            return True, "any origin allowed (serve(origins=['*'])): the Host rule is off"
        if name and any(f"{host_for_url(name)}:{p}" in self.proxies for p in ports):
            return True, "a trusted proxy"
        if port == self.port and is_ip(name):
            return self._address_allowed(name, host_header)
        if is_ip(name):
            return True, "an IP address on another port (a relay in front of us: no DNS name)"
        if name == "localhost" or name.endswith(".localhost"):
            return True, "localhost"
        if name in self._names:
            return True, "a name of this server"
        return False, (f"Host {host_header} is not a name of this server nor a trusted proxy: "
                       f"a page whose DNS name was re-pointed here (DNS rebinding) is refused; "
                       f"server.allow_host({name!r}) or serve(trusted_proxies=[...]) accepts it")

    def _address_allowed(self, name: str, host_header: str) -> tuple[bool, str]:
        ip = ipaddress.ip_address(name)
        bound = self.bound_host.strip("[]")
        if ip.is_loopback or not is_ip(bound) or ipaddress.ip_address(bound).is_unspecified \
                or ip == ipaddress.ip_address(bound):
            return True, "an address of this server"
        return False, (f"Host {host_header} is not an address this server listens on "
                       f"({self.bound_host})")

    def check(self, request: Any, *, connections: int, pending: int,
              from_address: int = 0) -> tuple[int, str] | None:
        """None when a handshake may go on, else (HTTP status, reason).

        ``connections``: clients connected now; ``pending``: other handshakes in
        progress, which count toward ``max_connections`` too (503 when full);
        ``from_address``: connections from the request's client address (503 at
        ``max_per_address``); then the token (401 missing, 403 wrong).
        """
        if self.max_connections is not None and connections + pending >= self.max_connections:
            return 503, (f"server full: {connections} connections and {pending} "
                         f"handshakes in progress (max_connections={self.max_connections})")
        if self.max_per_address is not None and from_address >= self.max_per_address:
            return 503, (f"too many connections from this address: {from_address} "
                         f"(max_per_address={self.max_per_address})")
        if self.auth is not None:
            return self.auth.check(request)
        return None
