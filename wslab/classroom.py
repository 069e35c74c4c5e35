"""``wslab.classroom()``: the browser page for a whole class, with a join token.

Everything else in wslab listens on loopback only.  A classroom is the one
place where students' laptops must reach the teacher's kernel, so it listens on
a network interface, but only the one the teacher names, and every WebSocket
needs the join token (in the join URL the students open).  Students'
connections appear in a ServerPanel like any other client.
"""

from __future__ import annotations

import html
import secrets
import socket
import sys
import types
from dataclasses import dataclass
from typing import Any

from .net.server import LabServer, serve
from .net.server.admission import TokenAuth


def local_addresses() -> list[str]:
    """This machine's IPv4 addresses as the resolver knows them (no traffic is sent)."""
    try:
        names = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        names = []
    return sorted(set(names) | {"127.0.0.1"})


@dataclass
class Classroom:
    """A running classroom server and how students join it."""

    server: LabServer
    token: str
    join_url: str

    def _repr_html_(self) -> str:
        url = html.escape(self.join_url)
        return (f"<div class='wslab-classroom' style='border:2px solid #1a5fb4;padding:8px'>"
                f"<b>Students join here</b> (same network):<br>"
                f"<a href='{url}' target='_blank' style='font-size:1.3em'>{url}</a><br>"
                f"<small>join token <code>{html.escape(self.token)}</code>; listening on "
                f"{html.escape(self.server.host)} only; connections show up in "
                f"<code>ServerPanel(classroom.server)</code></small></div>")

    def __str__(self) -> str:
        return f"students join: {self.join_url}"

    def stop(self) -> None:
        self.server.stop()


def classroom(*, host: str | None = None, port: int = 8000, token: str | None = None,
              path: str = "/chat", name: str = "classroom") -> Classroom:
    """Serve the browser page to a class on the interface ``host``, with a join token.

    ``host`` must be given explicitly (e.g. the laptop's Wi-Fi address); there is
    no default, so a server never appears on a network by accident.  Every
    WebSocket needs ``token`` (random if not given) in ``?token=`` or a cookie.
    """
    if host is None:
        raise ValueError("say which interface the class can reach: classroom(host=...); this "
                         f"machine's addresses: {local_addresses()} (127.0.0.1 only reaches "
                         "this computer)")
    if path not in ("/chat", "/pubsub", "/echo"):
        raise ValueError(f"path is one of '/chat', '/pubsub', '/echo', got {path!r}")
    token = token or secrets.token_urlsafe(6)
    server = serve(host=host, port=port, name=name,
                   auth=TokenAuth(token, places=("query", "cookie")))
    shown = f"[{host}]" if ":" in host else host
    join = f"http://{shown}:{server.port}/?path={path}&token={token}"
    return Classroom(server, token, join)


class _CallableModule(types.ModuleType):
    """``import wslab.classroom`` gives this module, and ``wslab.classroom(...)`` still
    starts a classroom: calling the module calls :func:`classroom`."""

    def __call__(self, **kwargs: Any) -> Classroom:
        return classroom(**kwargs)


sys.modules[__name__].__class__ = _CallableModule
