"""The running servers by name (layer 2, I/O).

``serve(name=...)`` replaces the server of that name (so re-running a cell
leaks nothing) and ``stop()`` forgets it; :func:`wslab.net.server.servers`
lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import ServerLike

_servers: dict[str, ServerLike] = {}


def remember(name: str, server: ServerLike) -> None:
    """``server`` is now the one called ``name``."""
    _servers[name] = server


def take(name: str) -> ServerLike | None:
    """Remove and return the server called ``name`` (None if there is none)."""
    return _servers.pop(name, None)


def forget(server: ServerLike) -> None:
    """``server`` stopped: forget it if it is still the one under its name."""
    if _servers.get(server.name) is server:
        del _servers[server.name]


def running() -> dict[str, ServerLike]:
    """A copy of the name -> server table."""
    return dict(_servers)
