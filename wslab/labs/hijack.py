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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..net import loop as lab
from ..net.raw import open_websocket
from ..net.server.admission import TokenAuth
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
