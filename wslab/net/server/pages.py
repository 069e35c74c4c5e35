"""The HTML pages a LabServer serves next to its WebSocket routes (layer 2, I/O).

* ``/``             the browser client page of the classic tutorial (``static/client.html``);
* ``/login``        sets the token cookie, as a real login would (notebook 09);
* ``/demo/hijack``  an attacker's page for the cross-site WebSocket hijacking demo.
"""

from __future__ import annotations

import hmac
import traceback
from importlib import resources
from types import TracebackType

import tornado.log
import tornado.web

from .context import ServerContext

__all__ = ["ClientPage", "HijackPage", "LoginPage", "static_text"]


def static_text(name: str) -> str:
    """The text of ``wslab/net/server/static/<name>``."""
    return resources.files("wslab.net.server").joinpath("static").joinpath(name).read_text("utf-8")


class _Quiet(tornado.web.RequestHandler):
    """A page handler whose errors never log the query (``?token=``) or the headers."""

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        if value is None or isinstance(value, tornado.web.HTTPError):
            return
        lab: ServerContext | None = getattr(self, "lab", None)
        if lab is not None:
            lab.event_log.record("error", None, reason=f"{type(value).__name__}: {value}",
                                 data="".join(traceback.format_exception(typ, value, tb)),
                                 extra={"path": self.request.path})
            return
        tornado.log.app_log.error("Uncaught exception %s %s", self.request.method,
                                  self.request.path, exc_info=value)

    def on_finish(self) -> None:
        lab: ServerContext | None = getattr(self, "lab", None)
        if lab is not None:  # a request has completed: no handshake in progress
            lab.handshake_done(getattr(self.request.connection, "stream", None))


class _Page(_Quiet):
    def initialize(self, server: ServerContext | None = None) -> None:
        self.lab = server

    def send_html(self, html: str) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.write(html)


class ClientPage(_Page):
    """``/``: the browser client page (connects back to this server's ``/echo``)."""

    def get(self) -> None:
        self.send_html(static_text("client.html"))


class HijackPage(_Page):
    """``/demo/hijack?target=ws://...``: an attacker's page (for notebook 09 and its test)."""

    def get(self) -> None:
        self.send_html(static_text("hijack.html"))


class LoginPage(_Quiet):
    """``/login?token=...``: sets the ``wslab_token`` cookie, as a real login would."""

    def initialize(self, server: ServerContext) -> None:
        self.lab = server

    def get(self) -> None:
        token = self.get_argument("token", "")
        auth = self.lab.admission.auth
        if auth is None or "cookie" not in auth.places:
            self.set_status(404)
            self.finish("this server takes no cookie login (serve(auth=...) with the cookie place)")
            return
        if not hmac.compare_digest(token.encode("utf-8"), auth.token.encode("utf-8")):
            self.set_status(403)
            self.finish("wrong token")
            return
        self.set_cookie(auth.cookie, token, httponly=True, samesite="Lax", path="/")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish("<p>logged in: the browser now sends the session cookie with every "
                    "request to this host, WebSocket handshakes included.</p>")
