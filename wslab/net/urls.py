"""The URLs of a lab server, built in one place for every kind of server (layer 2, I/O).

A server in the kernel (:class:`~wslab.net.server.LabServer`), one in a child process
(:class:`~wslab.net.server.process.ProcessServer`) and a cluster behind nginx
(:class:`~wslab.net.cluster.Cluster`) all listen at ``host:port``, plain or with TLS,
and offer the same routes.  :class:`ServerURLs` turns those three facts into URLs:

* kernel-side URLs are direct: ``ws://host:port/echo`` (``wss://`` with TLS), the
  origin ``http://host:port``;
* browser-facing URLs (``page_url``, :meth:`ServerURLs.browser_url`) go through
  :mod:`wslab.net.public_url`, so a notebook under a Jupyter server reaches every kind
  of server through the Jupyter server's proxy.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from ..protocol.uri import host_for_url
from . import public_url

__all__ = ["Located", "ServerURLs", "redact_url", "ws_route"]


class Located(Protocol):
    """Where a server listens: what :class:`ServerURLs` needs of the class it is mixed into
    (plain attributes or properties)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def tls(self) -> bool: ...


def ws_route(where: Located, path: str) -> str:
    """The direct WebSocket URL of ``path`` on ``where`` (kernel-side clients dial it)."""
    if not path.startswith("/"):
        raise ValueError(f"a route path starts with '/', got {path!r}")
    scheme = "wss" if where.tls else "ws"
    return f"{scheme}://{host_for_url(where.host)}:{where.port}{path}"


def origin(where: Located) -> str:
    """``http://host:port`` (``https`` with TLS)."""
    return f"{'https' if where.tls else 'http'}://{host_for_url(where.host)}:{where.port}"


class ServerURLs:
    """Mixin: the routes of a server at ``self.host``:``self.port`` (``self.tls``: wss/https)."""

    def ws_route(self: Located, path: str) -> str:
        """The direct WebSocket URL of ``path`` (kernel-side clients dial it)."""
        return ws_route(self, path)

    @property
    def url(self: Located) -> str:
        """The echo route, ``ws://host:port/echo``."""
        return ws_route(self, "/echo")

    @property
    def chat_url(self: Located) -> str:
        """The chat route, ``ws://host:port/chat``."""
        return ws_route(self, "/chat")

    @property
    def ack_url(self: Located) -> str:
        """The exactly-once route for ReconnectingClient, ``ws://host:port/ack``."""
        return ws_route(self, "/ack")

    @property
    def pubsub_url(self: Located) -> str:
        """The channels route, ``ws://host:port/pubsub``."""
        return ws_route(self, "/pubsub")

    @property
    def origin(self: Located) -> str:
        """The server's own origin, ``http://host:port`` (``https`` with TLS)."""
        return origin(self)

    @property
    def page_url(self: Located) -> str:
        """The browser client page: ``http://host:port/``, or in a notebook under a Jupyter
        server ``<base_url>proxy/<port>/`` through it (see :mod:`wslab.net.public_url`);
        add ``?path=/chat`` for the chat.  ``url`` and the other ws URLs stay direct."""
        return public_url.http_url(origin(self), self.port, "/", host=self.host, tls=self.tls)

    def browser_url(self: Located, path: str = "/echo") -> str:
        """The WebSocket URL a *browser* dials for ``path``: the direct one, or the route
        through the Jupyter server's proxy in a notebook under one."""
        return public_url.ws_url(ws_route(self, path), self.port, path, host=self.host,
                                 tls=self.tls)


def redact_url(url: str) -> str:
    """``url`` without its password and key: what events and reprs show."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.password is not None:
        netloc = ":***@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
