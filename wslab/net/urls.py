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

from ..protocol.uri import host_for_url
from . import public_url

__all__ = ["ServerURLs"]


class ServerURLs:
    """Mixin: the routes of a server at ``self.host``:``self.port`` (``self.tls``: wss/https)."""

    host: str
    port: int
    tls: bool

    def ws_route(self, path: str) -> str:
        """The direct WebSocket URL of ``path`` (kernel-side clients dial it)."""
        if not path.startswith("/"):
            raise ValueError(f"a route path starts with '/', got {path!r}")
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{host_for_url(self.host)}:{self.port}{path}"

    @property
    def url(self) -> str:
        """The echo route, ``ws://host:port/echo``."""
        return self.ws_route("/echo")

    @property
    def chat_url(self) -> str:
        """The chat route, ``ws://host:port/chat``."""
        return self.ws_route("/chat")

    @property
    def ack_url(self) -> str:
        """The exactly-once route for ReconnectingClient, ``ws://host:port/ack``."""
        return self.ws_route("/ack")

    @property
    def pubsub_url(self) -> str:
        """The channels route, ``ws://host:port/pubsub``."""
        return self.ws_route("/pubsub")

    @property
    def origin(self) -> str:
        """The server's own origin, ``http://host:port`` (``https`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{host_for_url(self.host)}:{self.port}"

    @property
    def page_url(self) -> str:
        """The browser client page: ``http://host:port/``, or in a notebook under a Jupyter
        server ``<base_url>proxy/<port>/`` through it (see :mod:`wslab.net.public_url`);
        add ``?path=/chat`` for the chat.  ``url`` and the other ws URLs stay direct."""
        return public_url.http_url(self.origin, self.port, "/", host=self.host, tls=self.tls)

    def browser_url(self, path: str = "/echo") -> str:
        """The WebSocket URL a *browser* dials for ``path``: the direct one, or the route
        through the Jupyter server's proxy in a notebook under one."""
        return public_url.ws_url(self.ws_route(path), self.port, path, host=self.host,
                                 tls=self.tls)
