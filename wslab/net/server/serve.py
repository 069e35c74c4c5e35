"""``serve()``: start (or restart) a lab server by name; ``servers()`` lists them (layer 2, I/O)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from .. import loop as lab
from . import registry
from .ack import SESSION_TTL
from .admission import TokenAuth, make_auth
from .api import ServerLike
from .lab_server import HANDSHAKE_TIMEOUT, LabServer

if TYPE_CHECKING:  # imported when used: ``python -m wslab.net.server.process`` runs it
    from .process import ProcessServer

__all__ = ["serve", "servers"]


@overload
def serve(*, host: str = "127.0.0.1", port: int = 0, name: str = "default",
          origins: Iterable[str] = (), subprotocols: Iterable[str] = (),
          compression: bool = False, events_max: int = 10_000,
          ping_interval: float | None = None, ping_timeout: float | None = None,
          max_message_size: int | None = None, app_heartbeat: bool = True,
          auth: str | TokenAuth | None = None, max_connections: int | None = None,
          rate_limit: int | None = None, send_buffer_max: int | None = 8 << 20,
          tls: bool = False, process: Literal[False] = False,
          handler: None = None, responsive: bool | None = None,
          backplane: str | None = None, handshake_timeout: float = HANDSHAKE_TIMEOUT,
          ack_session_ttl: float = SESSION_TTL, timeout: float = lab.DEFAULT_TIMEOUT) -> LabServer: ...


@overload
def serve(*, host: str = "127.0.0.1", port: int = 0, name: str = "default",
          origins: Iterable[str] = (), subprotocols: Iterable[str] = (),
          compression: bool = False, events_max: int = 10_000,
          ping_interval: float | None = None, ping_timeout: float | None = None,
          max_message_size: int | None = None, app_heartbeat: bool = True,
          auth: str | TokenAuth | None = None, max_connections: int | None = None,
          rate_limit: int | None = None, send_buffer_max: int | None = 8 << 20,
          tls: bool = False, process: Literal[True],
          handler: str | Callable[..., Any] | None = None, responsive: bool | None = None,
          backplane: str | None = None, handshake_timeout: float = HANDSHAKE_TIMEOUT,
          ack_session_ttl: float = SESSION_TTL, timeout: float = lab.DEFAULT_TIMEOUT) -> ProcessServer: ...


@overload
def serve(*, host: str = "127.0.0.1", port: int = 0, name: str = "default",
          origins: Iterable[str] = (), subprotocols: Iterable[str] = (),
          compression: bool = False, events_max: int = 10_000,
          ping_interval: float | None = None, ping_timeout: float | None = None,
          max_message_size: int | None = None, app_heartbeat: bool = True,
          auth: str | TokenAuth | None = None, max_connections: int | None = None,
          rate_limit: int | None = None, send_buffer_max: int | None = 8 << 20,
          tls: bool = False, process: bool = False,
          handler: str | Callable[..., Any] | None = None, responsive: bool | None = None,
          backplane: str | None = None, handshake_timeout: float = HANDSHAKE_TIMEOUT,
          ack_session_ttl: float = SESSION_TTL, timeout: float = lab.DEFAULT_TIMEOUT) -> ServerLike: ...


def serve(*, host: str = "127.0.0.1", port: int = 0, name: str = "default",
          origins: Iterable[str] = (), subprotocols: Iterable[str] = (),
          compression: bool = False, events_max: int = 10_000,
          ping_interval: float | None = None, ping_timeout: float | None = None,
          max_message_size: int | None = None, app_heartbeat: bool = True,
          auth: str | TokenAuth | None = None, max_connections: int | None = None,
          rate_limit: int | None = None, send_buffer_max: int | None = 8 << 20,
          tls: bool = False, process: bool = False,
          handler: str | Callable[..., Any] | None = None,
          responsive: bool | None = None, backplane: str | None = None,
          handshake_timeout: float = HANDSHAKE_TIMEOUT, ack_session_ttl: float = SESSION_TTL,
          timeout: float = lab.DEFAULT_TIMEOUT) -> ServerLike:
    """Start (or restart) the in-kernel server called ``name`` and return it listening.

    Layer 2 (I/O).  Re-running the same cell stops the previous server of that
    name first, so no server leaks and the port is free again.  ``port=0`` picks
    a free port.  The default bind address is loopback; any other ``host`` must
    be asked for explicitly.  ``origins`` lists extra page origins allowed to
    connect (same-origin pages always are; ``"*"`` allows any, for demos only).
    ``ping_interval``/``ping_timeout`` (seconds) turn on protocol pings from the
    server; ``app_heartbeat`` answers JSON ``{"type": "ping", "t": ...}``
    messages with ``{"type": "pong", "t": ...}`` on every route.

    ``process=True`` runs the server in a child process (its own GIL) and
    returns a :class:`~.process.ProcessServer`; both kinds satisfy
    :class:`~.api.ServerLike`.  It takes every option above (``tls``: the child
    makes the certificate and ``server.ca_file`` names its CA; ``auth``...), and
    ``handler``: a function (one defined in a notebook too: it is sent to the
    child with cloudpickle; :class:`~wslab.net.errors.HandlerNotSendable` if it
    cannot be) or ``"package.module:function"``; ``@server.on_message`` works
    the same way.

    ``backplane="redis://host:port/0"`` joins the servers sharing that Redis
    (:mod:`wslab.net.backplane`): ``broadcast``, ``/chat`` and ``/pubsub`` reach
    every client of every such server exactly once, and ``/ack`` sessions resume
    on any of them.  Without it nothing changes (and Redis is never imported).

    ``handshake_timeout`` (seconds, 10) is how long a client may take to send its
    opening handshake; handshakes in progress count toward ``max_connections``.
    ``ack_session_ttl`` (seconds, 600) is how long an ``/ack`` session with no
    connection is remembered (at most 1,000 sessions are).
    """
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port is an integer 0-65535 (0 = any free port), got {port!r}")
    if not isinstance(host, str) or not host:
        raise ValueError(f"host is an address string such as '127.0.0.1' or '::1', got {host!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name is a non-empty string, got {name!r}")
    for label, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(f"{label} is a number of seconds > 0 or None, got {value!r}")
    for label, value in (("handshake_timeout", handshake_timeout),
                         ("ack_session_ttl", ack_session_ttl)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{label} is a number of seconds > 0, got {value!r}")
    for label, value in (("max_message_size", max_message_size), ("rate_limit", rate_limit),
                         ("max_connections", max_connections), ("send_buffer_max", send_buffer_max)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{label} is a positive integer or None, got {value!r}")
    if backplane is not None and (not isinstance(backplane, str) or not backplane.startswith(
            ("redis://", "rediss://", "unix://"))):
        raise ValueError("backplane is a Redis URL such as 'redis://127.0.0.1:6379/0' or None, "
                         f"got {backplane!r}")
    if handler is not None and not process:
        raise ValueError("handler= is for serve(process=True); in the kernel "
                         "use @server.on_message")
    if process:
        from .process import ProcessServer, handler_option
        options = {"handler": handler_option(handler), "auth": _auth_option(make_auth(auth)),
                   "tls": bool(tls), "responsive": responsive}
        old = registry.take(name)
        if old is not None:
            old.stop(timeout=timeout)
        options |= {"host": host, "port": port, "name": name, "origins": list(origins),
                    "subprotocols": list(subprotocols), "compression": compression,
                    "events_max": events_max, "ping_interval": ping_interval,
                    "ping_timeout": ping_timeout, "max_message_size": max_message_size,
                    "app_heartbeat": app_heartbeat, "max_connections": max_connections,
                    "rate_limit": rate_limit, "send_buffer_max": send_buffer_max,
                    "backplane": backplane,
                    "handshake_timeout": handshake_timeout, "ack_session_ttl": ack_session_ttl}
        proc_server = ProcessServer(options, timeout=timeout)
        registry.remember(name, proc_server)
        return proc_server
    if responsive is None:
        responsive = _in_kernel()
    if responsive:
        lab.keep_responsive()
    server = LabServer(host=host, port=port, name=name, origins=origins,
                       subprotocols=subprotocols, compression=compression,
                       events_max=events_max, ping_interval=ping_interval,
                       ping_timeout=ping_timeout, max_message_size=max_message_size,
                       app_heartbeat=app_heartbeat, auth=make_auth(auth),
                       max_connections=max_connections, rate_limit=rate_limit,
                       send_buffer_max=send_buffer_max, tls=tls, backplane=backplane,
                       handshake_timeout=handshake_timeout, ack_session_ttl=ack_session_ttl)
    old = registry.take(name)
    if old is not None:
        old.stop(timeout=timeout)
    lab.run(server._astart(port), timeout=timeout, what=f"starting server {name!r}")
    registry.remember(name, server)
    lab.register(server)
    return server


def _auth_option(auth: TokenAuth | None) -> dict[str, Any] | None:
    """A TokenAuth as JSON for the child process (None stays None)."""
    return None if auth is None else dataclasses.asdict(auth)


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (not in a plain script or a terminal IPython)."""
    ip = sys.modules.get("IPython")
    shell = ip.get_ipython() if ip is not None and hasattr(ip, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def servers() -> dict[str, ServerLike]:
    """The running servers by name."""
    return registry.running()
