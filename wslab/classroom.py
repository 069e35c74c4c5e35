"""``wslab.classroom()``: the browser page for a whole class, with a join token.

Everything else in wslab listens on loopback only.  A classroom is the one
place where students' laptops must reach the teacher's kernel, so it listens on
one network interface: the one the teacher names, or else the one with the
default route (printed when it starts).  Every WebSocket needs the join token (in
the join URL the students open), and a classroom serves only the join page and
its chat route.  Each student is bounded (connections per address, message size,
messages a second, bytes queued), and the connections all students may hold stop
short of the kernel's file-descriptor limit, so the teacher can always open files.
Students' connections appear in a ServerPanel like any other client.

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
import os
import resource
import secrets
import socket
import sys
import types
from dataclasses import dataclass
from typing import Any

from .net import public_url
from .net.server import LabServer, ServerOptions, serve
from .net.server.admission import TokenAuth

#: Per-student bounds a classroom starts with (each a keyword of :func:`classroom`).
MAX_PER_ADDRESS = 4            # connections one student's address may hold
MAX_MESSAGE_SIZE = 64 * 1024   # bytes in one message
RATE_LIMIT = 20                # messages a second per connection (more: closed with 1008)
SEND_BUFFER_MAX = 1 << 20      # bytes queued for one slow student before 1013
#: File descriptors kept for the teacher's kernel: at least this many, or 10 % of the limit.
FD_RESERVE_MIN = 64
#: Descriptors the server itself opens after the budget is measured (listening sockets,
#: event loop, wake-up pipes): students' connections end this far below the reserve, so
#: the last one is refused by the connection limit (a clean 503) before the reserve is hit.
SERVER_FDS = 16
#: A routable address that is never contacted: connect() on a UDP socket only picks the
#: route (RFC 5737 documentation range), no packet leaves.
_ROUTE_PROBE = ("192.0.2.1", 9)


def local_addresses() -> list[str]:
    """This machine's IPv4 addresses as the resolver knows them (no traffic is sent)."""
    try:
        names = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        names = []
    return sorted(set(names) | {"127.0.0.1"})


def lan_address() -> str | None:
    """The IPv4 address of the interface with the default route, or None.

    Found without traffic: ``connect()`` on a UDP socket sends nothing, it only makes
    the kernel choose the route and so the source address.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(_ROUTE_PROBE)
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith(("0.", "127.")) else address


def fd_reserve(soft_limit: int) -> int:
    """Descriptors kept free for the teacher: ``FD_RESERVE_MIN`` or 10 % of the limit."""
    return max(FD_RESERVE_MIN, soft_limit // 10)


def fd_budget() -> tuple[int, int]:
    """(connections the classroom may hold, descriptors reserved): ``RLIMIT_NOFILE``'s
    soft limit minus the descriptors open now minus the reserve (``ValueError`` when
    nothing is left for students)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    try:
        open_now = len(os.listdir("/proc/self/fd"))
    except OSError:
        open_now = 0
    reserve = fd_reserve(soft)
    budget = soft - open_now - SERVER_FDS - reserve
    if budget < 1:
        raise ValueError(f"no file descriptors left for students: limit {soft}, {open_now} open, "
                         f"{reserve} kept for the kernel; raise the limit (ulimit -n)")
    return budget, reserve


def choose_host() -> str:
    """The LAN address, printed; 127.0.0.1 with a note when there is none."""
    found = lan_address()
    if found is None:
        print("classroom: no network interface with a default route; listening on 127.0.0.1, "
              "which only this computer reaches. Name one: classroom(host=...); this "
              f"machine's addresses: {local_addresses()}")
        return "127.0.0.1"
    hint = (" (under this Jupyter server, classroom(host='jupyter') lets users it admits join "
            "through it)" if public_url.route().proxied else "")
    print(f"classroom: listening on {found}, the address of the interface with the default "
          f"route; students on that network can reach it{hint}")
    return found


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
              path: str = "/chat", name: str = "classroom",
              max_connections: int | None = None,
              max_per_address: int | None = MAX_PER_ADDRESS,
              max_message_size: int = MAX_MESSAGE_SIZE, rate_limit: int = RATE_LIMIT,
              send_buffer_max: int = SEND_BUFFER_MAX) -> Classroom:
    """Serve the browser page to a class on the interface ``host``, with a join token.

    ``host`` not given: the address of the interface with the default route (printed;
    127.0.0.1 with a note when there is none).  Every WebSocket needs ``token`` (random
    if not given) in the join URL or a cookie.  ``host="jupyter"``: listen on 127.0.0.1
    and let students join through the Jupyter server (a JupyterHub the teacher's server
    is shared on; see the module docstring for what that shares and what cannot work).

    Only the join page and ``path`` are served.  Per-student bounds: ``max_per_address``
    connections per client address (None: no cap; with ``host="jupyter"`` every student
    comes from the Jupyter server's address, so there is none), ``max_message_size``
    bytes a message, ``rate_limit`` messages a second, ``send_buffer_max`` bytes queued
    for a slow reader.  File descriptors stay for the teacher: at most ``RLIMIT_NOFILE`` minus
    those open minus a reserve (64 or 10 %) connections (``max_connections`` may lower
    it), and a connection that would use a reserved descriptor gets 503 at once.
    """
    if path not in ("/chat", "/pubsub", "/echo"):
        raise ValueError(f"path is one of '/chat', '/pubsub', '/echo', got {path!r}")
    if host is None:
        host = choose_host()
    budget, reserve = fd_budget()
    if max_connections is not None:
        budget = min(budget, max_connections)
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
        listen = "127.0.0.1"
        # every student arrives from the Jupyter server's own address: no cap per address
        max_per_address = None
    else:
        auth = TokenAuth(token, places=("query", "cookie"))
        listen = host
    options = ServerOptions(
        host=listen, port=port, name=name, auth=auth, paths=("/", "/login", path),
        max_connections=budget, max_per_address=max_per_address, fd_reserve=reserve,
        max_message_size=max_message_size, rate_limit=rate_limit,
        send_buffer_max=send_buffer_max)
    server = serve(options)
    if host == "jupyter":
        join = f"{server.page_url}?path={path}&wslab_token={token}"
        return Classroom(server, token, join, via="jupyter")
    shown = f"[{host}]" if ":" in host else host
    join = f"http://{shown}:{server.port}/?path={path}&token={token}"
    return Classroom(server, token, join)


class _CallableModule(types.ModuleType):
    """``import wslab.classroom`` gives this module, and ``wslab.classroom(...)`` still
    starts a classroom: calling the module calls :func:`classroom`."""

    def __call__(self, **kwargs: Any) -> Classroom:
        return classroom(**kwargs)


sys.modules[__name__].__class__ = _CallableModule
