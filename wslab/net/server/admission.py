"""Who may open a connection, checked before the upgrade (layer 2, I/O).

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
from dataclasses import dataclass
from typing import Any

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
