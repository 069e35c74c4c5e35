"""``wslab.classroom()``: the browser page for a whole class, with a join token.

Everything else in wslab listens on loopback only.  A classroom is the one
place where students' laptops must reach the teacher's kernel, so it listens on
a network interface, but only the one the teacher names, and every WebSocket
needs the join token (in the join URL the students open).  Students'
connections appear in a ServerPanel like any other client.

Two ways to run one:

* **LAN mode, a lab room** (``classroom(host="192.168.1.20")``): the teacher runs
  JupyterLab on a laptop on the room's network; students' browsers reach that
  address directly.
* **Through a JupyterHub** (``classroom(host="jupyter")``): the server listens on
  127.0.0.1 and students join through the teacher's Jupyter server,
  ``/user/<teacher>/proxy/<port>/``.  The hub lets only users who may use the
  teacher's server through, so the teacher shares it first (JupyterHub 5+
  sharing, or an admin granting ``access:servers!server=<teacher>/<name>`` to a
  group).  Sharing gives students that *whole* server, terminals and kernels
  included: share a named server kept for the class, with nothing private in it.

What cannot work: ``classroom(host=<address>)`` inside a hub's single-user server.
That server runs in a container or on a node whose addresses students' laptops
cannot route to, and the hub's proxy forwards only ``/user/<name>/`` paths, each
to its owner's server.
"""

from __future__ import annotations

import html
import secrets
import socket
import sys
import types
from dataclasses import dataclass
from typing import Any

from .net import public_url
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
    via: str = "network"   # or "jupyter": through the Jupyter server's proxy

    def _repr_html_(self) -> str:
        url = html.escape(self.join_url)
        where = ("through this Jupyter server: users it admits, e.g. those you shared it with; "
                 "share the address this link opens" if self.via == "jupyter"
                 else "same network")
        return (f"<div class='wslab-classroom' style='border:2px solid #1a5fb4;padding:8px'>"
                f"<b>Students join here</b> ({where}):<br>"
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
    WebSocket needs ``token`` (random if not given) in the join URL or a cookie.
    ``host="jupyter"``: listen on 127.0.0.1 and let students join through the
    Jupyter server (a JupyterHub the teacher's server is shared on; see the module
    docstring for what that shares and what cannot work on a hub).
    """
    if host is None:
        hint = (" Under this Jupyter server, classroom(host='jupyter') lets users it admits "
                "join through it." if public_url.route().proxied else "")
        raise ValueError("say which interface the class can reach: classroom(host=...); this "
                         f"machine's addresses: {local_addresses()} (127.0.0.1 only reaches "
                         "this computer)." + hint)
    if path not in ("/chat", "/pubsub", "/echo"):
        raise ValueError(f"path is one of '/chat', '/pubsub', '/echo', got {path!r}")
    token = token or secrets.token_urlsafe(6)
    if host == "jupyter":
        route = public_url.route()
        if not route.proxied:
            raise ValueError("classroom(host='jupyter') joins through a Jupyter server's proxy, "
                             f"but browser URLs here are direct ({route.source}); name an "
                             "interface instead, or wslab.set_public_url(...)")
        # The Jupyter server and the hub read "?token=" as their own credential too (they try
        # it, then fall back to the login cookie): a name of its own keeps the two apart.
        auth = TokenAuth(token, places=("query", "cookie"), query_param="wslab_token")
        server = serve(host="127.0.0.1", port=port, name=name, auth=auth)
        join = f"{server.page_url}?path={path}&wslab_token={token}"
        return Classroom(server, token, join, via="jupyter")
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
