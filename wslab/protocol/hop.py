"""What a faithful hop passes on, and the few things it must change (layer 1, sans-I/O).

Under a Jupyter server (a JupyterHub, a remote or local JupyterLab) the learner's
browser reaches the Jupyter server and nothing else.  wslab's hop is a route of the
Jupyter server, ``<base_url>wslab/<port>/<path>``, that carries a browser's request
to a server in the kernel at ``127.0.0.1:<port>``.  It does not speak WebSocket
itself: it forwards the request head, passes the server's answer back as it came, and
then copies bytes both ways unchanged.  Everything the two ends negotiate therefore
stays theirs, as RFC 6455 has it:

* the subprotocol: the browser's ``Sec-WebSocket-Protocol`` offer reaches the server,
  which picks one (section 4.2.2), and its answer reaches the browser;
* the extensions: the ``Sec-WebSocket-Extensions`` offer and answer pass through, so
  permessage-deflate (RFC 7692) is agreed end to end or not at all;
* every frame, masked by the browser with its own keys (section 5.3), and every Close
  frame with its code and reason (sections 5.5.1, 7.4).

A proxy that terminates the WebSocket (jupyter-server-proxy does: it is a server to the
browser and a client to the kernel's server) is an endpoint on each side instead, and
each side then sees only what the proxy chose to send.

This module holds the hop's pure rules: the route's path (:func:`route_path`,
:func:`split_route`) and the request head it writes (:func:`forward_request`), with
the reason for every header it drops (:data:`DROPPED`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["DROPPED", "SEGMENT", "forward_request", "is_upgrade", "route_path", "split_route"]

#: The path segment of the hop's route under the Jupyter server's base URL.
SEGMENT = "wslab"

#: Request headers the hop never forwards, each with the reason (lower-case names).
DROPPED: dict[str, str] = {
    "connection": "hop-by-hop (RFC 7230 6.1); the hop writes its own",
    "keep-alive": "hop-by-hop (RFC 7230 6.1)",
    "proxy-connection": "hop-by-hop (RFC 7230 6.1)",
    "te": "hop-by-hop (RFC 7230 6.1)",
    "trailer": "hop-by-hop (RFC 7230 6.1)",
    "transfer-encoding": "hop-by-hop (RFC 7230 6.1); the hop forwards no body",
    "upgrade": "hop-by-hop (RFC 7230 6.1); the hop writes its own for a WebSocket",
    "content-length": "the hop forwards no body (GET and HEAD only)",
    "proxy-authorization": "a credential for the hop, not for the server behind it",
    "authorization": "the Jupyter server's credential: the kernel's server never sees it",
}
#: Cookies whose name starts with this reach the kernel's server; the others (the
#: Jupyter server's login and XSRF cookies) stay with the Jupyter server.
COOKIE_PREFIX = "wslab_"

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 7230 section 3.2.6
_ROUTE = re.compile(r"^([1-9][0-9]{0,4})(/[^\s]*)?$")


def route_path(base: str, port: int, path: str) -> str:
    """``<base>wslab/<port><path>``: where a browser reaches ``path`` on a kernel's server
    at ``port`` (``base`` is the Jupyter server's base URL and ends with ``/``)."""
    if not base.endswith("/"):
        raise ValueError(f"a base URL ends with '/', got {base!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
        raise ValueError(f"port is an integer 1-65535, got {port!r}")
    if not path.startswith("/"):
        raise ValueError(f"path starts with '/', got {path!r}")
    return f"{base}{SEGMENT}/{port}{path}"


def split_route(rest: str, query: str = "") -> tuple[int, str]:
    """``("41234/echo", "a=1")`` -> ``(41234, "/echo?a=1")``: the port and the request
    target for the kernel's server, from the part of the path after ``<base>wslab/``.

    A port without a path gets ``/``.  Anything else (no port, a port over 65535, a
    leading zero, white space) is a ``ValueError``.
    """
    match = _ROUTE.match(rest)
    if match is None or int(match.group(1)) > 65535:
        raise ValueError(f"the hop's route is <port>/<path> with a port 1-65535, got {rest!r}")
    target = match.group(2) or "/"
    if any(c in query for c in " \r\n\0"):
        raise ValueError(f"a query has no white space, got {query!r}")
    return int(match.group(1)), target + (f"?{query}" if query else "")


def _tokens(value: str) -> set[str]:
    return {t.strip().lower() for t in value.split(",") if t.strip()}


def is_upgrade(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether a request asks for a WebSocket: ``Upgrade: websocket`` and ``Connection``
    listing ``upgrade`` (RFC 6455 section 4.1, items 5 and 6)."""
    upgrade, connection = set(), set()
    for name, value in headers:
        if name.lower() == "upgrade":
            upgrade |= _tokens(value)
        elif name.lower() == "connection":
            connection |= _tokens(value)
    return "websocket" in upgrade and "upgrade" in connection


def _kept_cookies(value: str) -> str:
    kept = [c.strip() for c in value.split(";")
            if c.strip().startswith(COOKIE_PREFIX) and "=" in c]
    return "; ".join(kept)


def forward_request(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The request head the hop writes to the kernel's server, as exact bytes.

    The browser's ``method`` (GET or HEAD) and headers, in their order, for ``target``
    (from :func:`split_route`), with three changes: the headers in :data:`DROPPED` are
    left out, the ``Cookie`` header keeps only ``wslab_*`` cookies, and the hop adds its
    own ``Upgrade: websocket`` / ``Connection: Upgrade`` for a WebSocket request (the
    offer's ``Sec-WebSocket-*`` headers pass unchanged) or ``Connection: close`` for
    anything else (one response, then the hop closes both connections).  ``Host`` and
    ``Origin`` pass unchanged: the kernel's server judges the browser's page by them.
    """
    if method not in ("GET", "HEAD"):
        raise ValueError(f"the hop forwards GET and HEAD only, got {method!r}")
    if not target.startswith("/") or any(c in target for c in " \r\n\0"):
        raise ValueError(f"a request target starts with '/' and has no white space, "
                         f"got {target!r}")
    pairs = list(headers)
    listed = set()  # RFC 7230 6.1: headers the Connection header names are hop-by-hop too
    for name, value in pairs:
        if name.lower() == "connection":
            listed |= _tokens(value)
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in pairs:
        if not _TOKEN.match(name) or any(c in value for c in "\r\n\0"):
            raise ValueError(f"not a header field: {name!r}: {value!r}")
        low = name.lower()
        if low in DROPPED or low in listed:
            continue
        if low == "cookie":
            value = _kept_cookies(value)
            if not value:
                continue
        lines.append(f"{name}: {value}")
    if is_upgrade(pairs):
        lines += ["Upgrade: websocket", "Connection: Upgrade"]
    else:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
