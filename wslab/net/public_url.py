"""Browser-facing URLs: straight to the kernel's machine, or through the Jupyter server (layer 2).

A wslab server listens on the kernel's machine (127.0.0.1 by default).  A browser on the
same machine can reach it there.  On a JupyterHub, Binder or any remote Jupyter server the
student's browser reaches the Jupyter server and nothing else, so every URL wslab hands to a
*browser* goes through the Jupyter server, by one of two routes::

    <base_url>wslab/<port>/<path>        e.g. /user/alice/wslab/41234/echo
    <base_url>proxy/<port>/<path>        e.g. /user/alice/proxy/41234/echo

The first is wslab's own hop (:mod:`wslab.net.jupyter_ext`, a Jupyter server extension):
it forwards the browser's request and then bytes, unchanged, so close codes, reasons, the
subprotocol and permessage-deflate are the browser's and the kernel's server's own.  It is
used whenever the Jupyter server that started this kernel runs it (the kernel then has
``WSLAB_HOP_DIR`` in its environment), and each port a browser URL names is listed for it
(:func:`wslab.net.hop_ports.register`).  The second is ``jupyter-server-proxy``, which ends
the browser's WebSocket and opens its own to the kernel's server: it loses close codes and
reasons, answers subprotocol offers itself and negotiates no extension with the browser;
it is used when the hop is not there.  Kernel-side clients (``wslab.connect``), the
terminal server (``python -m wslab serve``) and plain scripts always use the direct URL.

The route is chosen once per process, in this order:

1. ``set_public_url(...)`` or the environment variable ``WSLAB_PUBLIC_URL``: a base such as
   ``https://hub.example.org/user/alice/`` or ``/user/alice/`` (proxied), or ``direct``;
2. not inside a Jupyter kernel (a script, a terminal): direct;
3. JupyterHub (``JUPYTERHUB_SERVICE_PREFIX``, e.g. ``/user/alice/``): proxied under it, with
   the public origin when the hub publishes one (``JUPYTERHUB_PUBLIC_URL``);
4. a Jupyter server that started this kernel (its ``jpserver-<pid>.json`` in the runtime
   directory, found by ``jupyter_server.serverapp.list_running_servers()`` and matched on the
   kernel's parent process): proxied under its ``base_url``;
5. otherwise (nbclient, VS Code, a console): direct.

Proxied URLs take wslab's hop when the kernel has ``WSLAB_HOP_DIR``, else
jupyter-server-proxy (when neither is there: direct); ``set_public_url(..., via=...)``
and the ``via=`` argument of :func:`for_browser`, :func:`ws_url` and :func:`http_url` pick
one (notebook 08 compares the two).

Without a known public origin the proxied URLs are origin-relative paths (``/user/alice/...``):
a link or an iframe in the notebook resolves them against the page's own origin, whatever
host name the browser used; :class:`wslab.ui.BrowserClient` and the client page do the same
for WebSocket URLs.  An absolute URL would break when the browser reached the Jupyter server
as ``localhost`` and the URL said ``127.0.0.1``: the login cookie belongs to one host name.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..protocol.hop import SEGMENT
from . import hop_ports

ENV_VAR = "WSLAB_PUBLIC_URL"
_LOOPBACK_BINDS = {"", "127.0.0.1", "localhost", "0.0.0.0", "::", "::1", "[::1]"}
#: The two routes through a Jupyter server, by the name of what carries them.
HOP, JSP = "wslab", "jupyter-server-proxy"
_SEGMENTS = {HOP: SEGMENT, JSP: "proxy"}


@dataclass(frozen=True)
class Route:
    """How a browser reaches this kernel's servers.

    ``base`` is None for direct URLs, else the Jupyter server's base URL ending in ``/``:
    a path (``/user/alice/``) or an absolute URL (``https://hub.example.org/user/alice/``).
    ``source`` says how it was found, in words; ``via`` what carries browser URLs through
    the Jupyter server: ``"wslab"`` (wslab's hop) or ``"jupyter-server-proxy"``.
    """

    base: str | None
    source: str
    via: str = JSP

    @property
    def proxied(self) -> bool:
        return self.base is not None

    def __str__(self) -> str:
        if self.base is None:
            return f"direct (browser URLs point at the kernel's machine): {self.source}"
        if self.via == HOP:
            return (f"through wslab's hop in the Jupyter server {self.base}{SEGMENT}/<port>/ "
                    f"(bytes unchanged): {self.source}")
        return f"through the Jupyter server's proxy {self.base}proxy/<port>/: {self.source}"


_override: Route | None = None
_detected: Route | None = None


def _parse_base(value: str, source: str, via: str = JSP) -> Route:
    text = value.strip()
    if text.lower() in ("direct", "off", "none", "0"):
        return Route(None, f"{source} says direct")
    parts = urlsplit(text)
    if parts.scheme:
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("a public URL is the Jupyter server's base URL, such as "
                             "'https://hub.example.org/user/alice/' or '/user/alice/', "
                             f"or 'direct'; got {value!r}")
    elif not text.startswith("/"):
        raise ValueError("a public URL is an absolute URL ('https://host/user/alice/'), a path "
                         f"starting with '/' ('/user/alice/'), or 'direct'; got {value!r}")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return Route(base, source, via)


def _check_via(via: str | None) -> None:
    if via is not None and via not in _SEGMENTS:
        raise ValueError(f"via is {HOP!r} (wslab's hop), {JSP!r} or None (the hop when the "
                         f"Jupyter server runs it), got {via!r}")


def _default_via(env: Mapping[str, str]) -> str:
    return HOP if hop_ports.hop_dir(dict(env)) is not None else JSP


def set_public_url(url: str | None, *, via: str | None = None) -> Route:
    """Say how a browser reaches this kernel's servers, for setups detection gets wrong.

    ``url`` is the Jupyter server's base URL as the browser sees it
    (``"https://hub.example.org/user/alice/"`` or ``"/user/alice/"``), ``"direct"`` for
    URLs straight to the kernel's machine, or None to detect again.  ``via``: ``"wslab"``
    (wslab's hop), ``"jupyter-server-proxy"``, or None for the hop when the Jupyter
    server that started this kernel runs it.  Returns the route.  Servers already
    running pick it up: their browser-facing URLs are computed on use.
    """
    global _override, _detected
    _check_via(via)
    if url is None:
        _override, _detected = None, None
        return route()
    if not isinstance(url, str):
        raise ValueError(f"set_public_url takes a URL string, 'direct' or None, got {url!r}")
    _override = _parse_base(url, "set_public_url()", via or _default_via(os.environ))
    return _override


def hop_available() -> bool:
    """Whether the Jupyter server that started this kernel runs wslab's hop (it gave the
    kernel ``WSLAB_HOP_DIR``)."""
    return hop_ports.hop_dir() is not None


def _in_kernel() -> bool:
    ip = sys.modules.get("IPython")
    shell = ip.get_ipython() if ip is not None and hasattr(ip, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _proxy_installed() -> bool:
    try:
        import jupyter_server_proxy  # noqa: F401
    except ImportError:
        return False
    return True


def _find_jupyter_server(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The running Jupyter server that started this kernel, from its runtime-dir file."""
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return None
    try:
        found = list(list_running_servers())
    except OSError:
        return None
    parent = os.getppid()
    for info in found:
        if info.get("pid") == parent:
            return dict(info)
    # A kernel provisioner may sit between server and kernel: accept the only server whose
    # session started this kernel (the server sets JPY_SESSION_NAME in the kernel's env).
    if env.get("JPY_SESSION_NAME") and len(found) == 1:
        return dict(found[0])
    return None


def detect(*, in_kernel: bool | None = None,
           environ: Mapping[str, str] | None = None) -> Route:
    """Work the route out from the environment (no cache, no override; see :func:`route`)."""
    env = os.environ if environ is None else environ
    via = _default_via(env)
    value = env.get(ENV_VAR, "").strip()
    if value:
        return _parse_base(value, f"the environment variable {ENV_VAR}", via)
    if not (_in_kernel() if in_kernel is None else in_kernel):
        return Route(None, "not inside a Jupyter kernel (a script or a terminal)")
    if via == JSP and not _proxy_installed():
        return Route(None, "neither wslab's hop (the Jupyter server extension "
                           "wslab.net.jupyter_ext) nor jupyter-server-proxy runs in the Jupyter "
                           "server, so a browser can reach this kernel's servers only on this "
                           "machine")
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", "").strip()
    if prefix:
        public = env.get("JUPYTERHUB_PUBLIC_URL", "").strip()
        if public.startswith(("http://", "https://")):
            return _parse_base(public, "JupyterHub (JUPYTERHUB_PUBLIC_URL)", via)
        return _parse_base(prefix, "JupyterHub (JUPYTERHUB_SERVICE_PREFIX)", via)
    info = _find_jupyter_server(env)
    if info is not None:
        return _parse_base(info.get("base_url") or "/",
                           f"the Jupyter server on port {info.get('port')} (pid {info.get('pid')})",
                           via)
    return Route(None, "no Jupyter server started this kernel (nbclient, a console or another "
                       f"front end); set_public_url() or {ENV_VAR} can say otherwise")


def route() -> Route:
    """The route in force: the override, else what :func:`detect` found (cached)."""
    global _detected
    if _override is not None:
        return _override
    if _detected is None:
        _detected = detect()
    return _detected


def proxy_addresses() -> frozenset[str]:
    """``host:port`` of the Jupyter server a browser reaches this kernel's servers
    through, when the route names one (an absolute base URL); else empty.  Servers
    trust that name in the Host header (their own names are trusted anyway)."""
    base = route().base
    parts = urlsplit(base or "")
    if not parts.hostname:
        return frozenset()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return frozenset({f"{host.lower()}:{port}"})


def proxiable(host: str, *, tls: bool = False) -> bool:
    """Can the Jupyter server's proxy reach a server bound to ``host``?  It dials
    ``localhost`` in plain ``ws://``/``http://``: loopback or wildcard binds, no TLS."""
    return not tls and host.strip("[]") in {h.strip("[]") for h in _LOOPBACK_BINDS}


def _proxy_path(port: int, path: str, via: str | None = None, host: str = "127.0.0.1") -> str:
    """``<base><segment>/<port><path>`` for the route in force (or ``via``); a port named
    in a URL through wslab's hop is listed for the hop (:func:`hop_ports.register`)."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 65535:
        raise ValueError(f"port is an integer 1-65535, got {port!r}")
    if not path.startswith("/"):
        raise ValueError(f"path starts with '/', got {path!r}")
    _check_via(via)
    current = route()
    assert current.base is not None
    chosen = via or current.via
    if chosen == HOP:
        hop_ports.register(port, host)
    return f"{current.base}{_SEGMENTS[chosen]}/{port}{path}"


def _as_ws(url: str) -> str:
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url


def http_url(direct_origin: str, port: int, path: str = "/", *, host: str = "127.0.0.1",
             tls: bool = False, via: str | None = None) -> str:
    """The URL a browser opens for ``path`` on a server at ``direct_origin``:
    ``direct_origin + path`` when direct, ``<base>wslab/<port><path>`` (or
    ``<base>proxy/<port><path>``) when through the Jupyter server."""
    if route().proxied and proxiable(host, tls=tls):
        return _proxy_path(port, path, via, host)
    return direct_origin + path


def ws_url(direct_url: str, port: int, path: str, *, host: str = "127.0.0.1",
           tls: bool = False, via: str | None = None) -> str:
    """The WebSocket URL a browser dials.  Through the Jupyter server:
    ``ws(s)://<public host><base>wslab/<port>/...`` when the public origin is known, else
    the origin-relative path (the page resolves it).  ``via`` picks the route."""
    if not (route().proxied and proxiable(host, tls=tls)):
        return direct_url
    return _as_ws(_proxy_path(port, path, via, host))


def for_browser(url: str, *, via: str | None = None) -> str:
    """Rewrite a direct URL of a server on this machine (``ws://127.0.0.1:PORT/echo``,
    ``http://localhost:PORT/``) into the one a browser must use; other URLs unchanged.
    ``via`` picks the route through the Jupyter server (default: the route in force)."""
    _check_via(via)
    parts = urlsplit(url)
    if not route().proxied or parts.scheme not in ("ws", "http") or parts.port is None:
        return url
    if (parts.hostname or "") not in ("127.0.0.1", "localhost", "::1"):
        return url
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    proxied = _proxy_path(parts.port, path, via, parts.hostname or "127.0.0.1")
    return _as_ws(proxied) if parts.scheme == "ws" else proxied


def direct(url: str) -> str:
    """The inverse of :func:`for_browser`, for a browser or client that runs on the kernel's
    machine (headless Chromium started by a lab): ``<base>wslab/<port>/path`` and
    ``<base>proxy/<port>/path`` become ``http://127.0.0.1:<port>/path`` (``ws://`` for a
    WebSocket URL); other URLs unchanged."""
    base = route().base
    if base is None:
        return url
    parts = urlsplit(url)
    base_path = urlsplit(base).path
    segments = "|".join(re.escape(s) for s in _SEGMENTS.values())
    m = re.match(re.escape(base_path) + rf"(?:{segments})/(\d+)(/.*)?$", parts.path)
    if m is None or (parts.scheme and parts.scheme not in ("http", "https", "ws", "wss")):
        return url
    scheme = "ws" if parts.scheme in ("ws", "wss") else "http"
    rest = (m.group(2) or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{scheme}://127.0.0.1:{m.group(1)}{rest}"


def needs_local_browser() -> str | None:
    """Why a demo that needs two different origins cannot run through the proxy, or None.

    Through the Jupyter server every page has the Jupyter server's origin and the browser's
    cookies for it, so an "evil site" and a "bank" behind the same proxy are one site.
    """
    if not route().proxied:
        return None
    return ("Through the Jupyter server's proxy every page has one origin, the Jupyter "
            "server's, so a second, hostile site cannot be played here: the demo's direct "
            "127.0.0.1 links work only when your browser runs on the kernel's machine "
            "(a local JupyterLab).")
