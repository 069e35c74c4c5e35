"""``serve()``: start (or restart) a lab server by name; ``servers()`` lists them (layer 2, I/O)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from .. import loop as lab
from . import registry
from .admission import TokenAuth
from .api import ServerLike
from .lab_server import LabServer
from .options import HANDSHAKE_TIMEOUT, SEND_BUFFER_MAX, SESSION_TTL, ServerOptions

if TYPE_CHECKING:  # imported when used: a process server's imports stay out of the kernel
    from .process import ProcessServer

__all__ = ["serve", "servers"]


@overload
def serve(options: ServerOptions | None = None, *, process: Literal[False] = False,
          handler: None = None, timeout: float = ..., **option: Any) -> LabServer: ...


@overload
def serve(options: ServerOptions | None = None, *, process: Literal[True],
          handler: str | Callable[..., Any] | None = None, timeout: float = ...,
          **option: Any) -> ProcessServer: ...


# The overloads choose the return type by ``process`` alone and leave the option keywords to
# the implementation's signature (written once, below); mypy wants each overload's
# ``**option`` accepted literally, hence the ignore.
def serve(  # type: ignore[misc]
          options: ServerOptions | None = None, *, host: str = "127.0.0.1", port: int = 0,
          name: str = "default", origins: Iterable[str] = (), subprotocols: Iterable[str] = (),
          compression: bool = False, events_max: int = 10_000, events_level: str = "all",
          ping_interval: float | None = None, ping_timeout: float | None = None,
          max_message_size: int | None = None, app_heartbeat: bool = True,
          auth: str | TokenAuth | None = None, max_connections: int | None = None,
          rate_limit: int | None = None, send_buffer_max: int | None = SEND_BUFFER_MAX,
          tls: bool = False, process: bool = False,
          handler: str | Callable[..., Any] | None = None,
          responsive: bool | None = None, backplane: str | None = None,
          handshake_timeout: float = HANDSHAKE_TIMEOUT, ack_session_ttl: float = SESSION_TTL,
          max_per_address: int | None = None, paths: Iterable[str] | None = None,
          fd_reserve: int | None = None, trusted_proxies: Iterable[str] = (),
          timeout: float = lab.DEFAULT_TIMEOUT) -> ServerLike:
    """Start (or restart) the in-kernel server called ``name`` and return it listening.

    Layer 2 (I/O).  Every keyword but ``process``, ``handler`` and ``timeout`` is a
    field of :class:`~.options.ServerOptions`; pass one of those as ``options``
    instead (then leave the option keywords at their defaults).  Bad values raise
    ``ValueError`` naming the option before anything starts.

    Re-running the same cell stops the previous server of that name first, so no
    server leaks and the port is free again.  ``port=0`` picks a free port.  The
    default bind address is loopback; any other ``host`` must be asked for
    explicitly.  ``origins`` lists extra page origins allowed to connect
    (same-origin pages always are; ``"*"`` allows any, for demos only).
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
    connection is remembered (at most 1,000 sessions are).  ``max_per_address``,
    ``paths`` and ``fd_reserve``: see :class:`~.options.ServerOptions`.

    ``trusted_proxies`` lists the ``host:port`` (or URL) of proxies in front of the
    server whose name the Host header may carry although it is not this server's
    (DNS rebinding is refused for every other name); the Jupyter server's public
    address, when a notebook runs behind one, is trusted without being listed.
    """
    given = locals()
    keywords = ServerOptions(**{k: given[k] for k in ServerOptions.names()})
    if options is None:
        options = keywords
    elif not isinstance(options, ServerOptions):
        raise ValueError(f"options is a ServerOptions, got {type(options).__name__}")
    elif keywords != ServerOptions():
        changed = next(k for k in ServerOptions.names()
                       if getattr(keywords, k) != getattr(ServerOptions(), k))
        raise ValueError(f"give {changed}= inside options= (options.replace({changed}=...)), "
                         "not beside it")
    if handler is not None and not process:
        raise ValueError("handler= is for serve(process=True); in the kernel "
                         "use @server.on_message")
    if process:
        return _serve_process(options, handler, timeout)
    return _serve_here(options, timeout)


def _serve_process(options: ServerOptions, handler: str | Callable[..., Any] | None,
                   timeout: float) -> ProcessServer:
    from .process import ProcessServer, handler_option

    sent = handler_option(handler)  # a handler that cannot be sent fails before the old stops
    options.to_plain()  # and so do options that cannot cross (an auth with rules of its own)
    _stop_old(options.name, timeout)
    server = ProcessServer(options, handler=sent, timeout=timeout)
    registry.remember(options.name, server)
    return server


def _serve_here(options: ServerOptions, timeout: float) -> LabServer:
    responsive = _in_kernel() if options.responsive is None else options.responsive
    if responsive:
        lab.keep_responsive()
    server = LabServer(options=options)
    _stop_old(options.name, timeout)
    lab.run(server.astart(),
            timeout=timeout, what=f"starting server {options.name!r}")
    registry.remember(options.name, server)
    lab.register(server)
    return server


def _stop_old(name: str, timeout: float) -> None:
    old = registry.take(name)
    if old is not None:
        old.stop(timeout=timeout)


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (not in a plain script or a terminal IPython)."""
    ip = sys.modules.get("IPython")
    shell = ip.get_ipython() if ip is not None and hasattr(ip, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def servers() -> dict[str, ServerLike]:
    """The running servers by name."""
    return registry.running()
