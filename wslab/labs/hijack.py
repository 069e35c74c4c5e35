"""Cross-site WebSocket hijacking, and a handshake check you write (layer 3).

:class:`AdmitWith` plugs a function ``admit(origin, token, site) -> status``
into a server's handshake, before the upgrade: 101 accepts, 401 and 403 refuse
(with that HTTP status; no WebSocket is opened).  ``origin`` is the request's
``Origin`` header (None when absent: non-browser clients usually send none),
``token`` the session cookie's value (None when absent), ``site`` the server's
own origin.

:func:`forged_handshake` sends a hand-built upgrade request over a raw socket
with whatever ``Origin`` and ``Cookie`` it is given: a non-browser client can
claim any origin, which is why Origin protects browser users only and never
replaces the token (RFC 6455 section 10.2).

:func:`token_places` asks headless Chromium where a page can put a token: the
query string and a cookie work, an ``Authorization`` header cannot be sent by
``new WebSocket(url, protocols)`` at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..i18n import _
from ..net import loop as lab
from ..net.raw import open_websocket
from ..net.server import serve
from ..net.server.admission import TokenAuth
from ..protocol.errors import WSLabError
from ..protocol.handshake import status_of

STATUSES = (101, 401, 403)


@dataclass(frozen=True)
class AdmitWith(TokenAuth):
    """A TokenAuth (cookie only) whose decision is ``decide(origin, token, site)``."""

    decide: Callable[[str | None, str | None, str], object] | None = None
    site: str = ""
    errors: list = field(default_factory=list)  # what decide() raised or wrongly returned

    def check(self, request: Any) -> tuple[int, str] | None:
        origin = request.headers.get("Origin")
        got = self.presented(request)
        token = got[1] if got else None
        try:
            status = self.decide(origin, token, self.site) if self.decide else 101
        except Exception as exc:  # noqa: BLE001 - the learner's function: recorded, answered 500
            self.errors.append(exc)
            return 500, f"admit() raised {type(exc).__name__}"
        if status == 101 and not isinstance(status, bool):
            return None
        if status in (401, 403) and not isinstance(status, bool):
            return int(status), f"refused by admit(): {status}"
        self.errors.append(ValueError(f"admit() returned {status!r}; return one of {STATUSES}"))
        return 500, "admit() returned no status"


def forged_handshake(url: str, *, origin: str | None = None, cookie: str | None = None,
                     timeout: float = 5.0) -> int | None:
    """The HTTP status a server answers to a raw upgrade request with these headers."""
    headers = {"Cookie": cookie} if cookie is not None else None

    async def run() -> int | None:
        conn, _req, head, _key = await open_websocket(url, origin=origin, headers=headers,
                                                      timeout=timeout)
        await conn.close()
        return status_of(head)

    return lab.run(run(), timeout=timeout + 5, what=f"forged handshake to {url}")


@dataclass(frozen=True)
class TokenPlaces:
    """What a page in headless Chromium managed with a token in each place.

    ``opened[place]``: whether ``new WebSocket(...)`` opened against a server that takes
    the token only there; ``refused[place]``: the server's reason when it did not.
    ``skipped``: why nothing was measured (no Chromium here), else None.
    """

    opened: dict[str, bool]
    refused: dict[str, str]
    measured_at: float
    skipped: str | None = None

    def summary(self) -> str:
        if self.skipped:
            return _("not measured: {why}").format(why=self.skipped)
        return "; ".join(f"{p}: " + (_("opened") if ok else _("refused ({why})").format(
                             why=self.refused.get(p, "?")))
                         for p, ok in self.opened.items())

    def __str__(self) -> str:
        return self.summary()


def token_places(secret: str = "s3cret") -> TokenPlaces:
    """Log in to a cookie server in headless Chromium, then open a WebSocket from that page
    to three servers, each taking the token only in the query, only in an ``Authorization``
    header, only in the cookie (RFC 6455 section 10.5 leaves the choice to the server).
    The page passes ``?token=`` in the query URL and nothing else: it has no way to add a
    header; the browser attaches the cookie itself."""
    from .negotiation import chromium_available, chromium_offer

    at = time.monotonic()
    why = chromium_available()
    if why:
        return TokenPlaces({}, {}, at, skipped=why)
    cookie = serve(name="places-cookie", auth=TokenAuth(secret, places=("cookie",)))
    others = {p: serve(name=f"places-{p}", auth=TokenAuth(secret, places=(p,)),
                       origins=[cookie.origin]) for p in ("query", "header")}
    servers = {"query": others["query"], "header": others["header"], "cookie": cookie}
    urls = {"query": f"{others['query'].url}?token={secret}", "header": others["header"].url,
            "cookie": cookie.url}
    try:
        try:
            seen = chromium_offer(f"{cookie.origin}/login?token={secret}",
                                  [(urls[p], []) for p in servers])
        except WSLabError as exc:
            return TokenPlaces({}, {}, at, skipped=str(exc))
        opened = {p: s.opened for p, s in zip(servers, seen, strict=True)}
        refused = {}
        for p, srv in servers.items():
            rejects = srv.events.of("reject")
            if rejects:
                refused[p] = f"HTTP {rejects[-1].code}: {rejects[-1].reason}"
    finally:
        for srv in servers.values():
            srv.stop()
    return TokenPlaces(opened, refused, at)
