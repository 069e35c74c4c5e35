"""``ServerOptions``: every option of ``serve()``, checked once (layer 2, I/O).

One frozen value travels everywhere a server is configured: ``serve()`` builds it
from its keyword arguments (or takes ``options=``), :class:`~.lab_server.LabServer`
reads it, a process server sends its plain-data form (:meth:`ServerOptions.to_plain`,
JSON; ``auth`` as one dict) to the child, which rebuilds it with
:meth:`ServerOptions.from_plain`, and ``cluster()`` derives one per server with
:meth:`ServerOptions.replace`.  A bad value raises ``ValueError`` naming the option and
the value, before anything starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from ..events import check_level
from .ack import SESSION_TTL
from .admission import TokenAuth, normalise_proxies

__all__ = ["HANDSHAKE_TIMEOUT", "SEND_BUFFER_MAX", "ServerOptions"]

HANDSHAKE_TIMEOUT = 10.0   # seconds a client has to send its whole opening handshake
SEND_BUFFER_MAX = 8 << 20  # bytes queued for one client before it is closed with 1013
BACKPLANE_SCHEMES = ("redis://", "rediss://", "unix://")


def _seconds(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        extra = " or None" if optional else ""
        raise ValueError(f"{name} is a number of seconds > 0{extra}, got {value!r}")


def _count(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        extra = " or None" if optional else ""
        raise ValueError(f"{name} is a positive integer{extra}, got {value!r}")


def _flag(name: str, value: object, *, optional: bool = False) -> None:
    if not (isinstance(value, bool) or (optional and value is None)):
        extra = ", or None" if optional else ""
        raise ValueError(f"{name} is True or False{extra}, got {value!r}")


def _strings(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} is a list of strings, got {value!r}")
    items = tuple(value)
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise ValueError(f"{name} is a list of strings, got {bad[0]!r} in it")
    return items


def _proxies(value: object) -> tuple[str, ...]:
    try:
        return tuple(sorted(normalise_proxies(_strings("trusted_proxies", value))))
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith("trusted_proxies") else
                         f"trusted_proxies: {text}") from None


def _auth(value: object) -> TokenAuth | None:
    if value is None or isinstance(value, TokenAuth):
        return value
    if isinstance(value, str):
        return TokenAuth(value)
    raise ValueError(f"auth is a token string, a TokenAuth or None, got {type(value).__name__}")


@dataclass(frozen=True)
class ServerOptions:
    """How a lab server listens, whom it admits and what it bounds (see ``serve()``).

    Every field has ``serve()``'s default.  ``auth`` may be given as a token string; it
    is kept as a :class:`~.admission.TokenAuth`.  ``origins`` and ``subprotocols`` are
    kept as tuples.  ``max_per_address``: connections one client address may hold;
    ``paths``: the routes served (None: all; ``"/"`` is the client page); ``fd_reserve``:
    file descriptors kept free for the rest of the process (a connection that would use
    one of them is answered 503 and closed at once); ``events_level``: what the event log
    records, ``"lifecycle"`` (opens, closes, errors, rejections), ``"messages"`` (and every
    message) or ``"all"`` (and every ping and pong; the default): a message costs nearly
    nothing until the log is read, and nothing at all at ``"lifecycle"``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    name: str = "default"
    origins: tuple[str, ...] = field(default=())
    subprotocols: tuple[str, ...] = field(default=())
    compression: bool = False
    events_max: int = 10_000
    events_level: str = "all"
    ping_interval: float | None = None
    ping_timeout: float | None = None
    max_message_size: int | None = None
    app_heartbeat: bool = True
    auth: TokenAuth | None = None
    max_connections: int | None = None
    rate_limit: int | None = None
    send_buffer_max: int | None = SEND_BUFFER_MAX
    tls: bool = False
    responsive: bool | None = None
    backplane: str | None = None
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    ack_session_ttl: float = SESSION_TTL
    max_per_address: int | None = None
    paths: tuple[str, ...] | None = None
    fd_reserve: int | None = None
    trusted_proxies: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the accepted forms once, here
        set_(self, "origins", _strings("origins", self.origins))
        set_(self, "subprotocols", _strings("subprotocols", self.subprotocols))
        set_(self, "auth", _auth(self.auth))
        if self.paths is not None:
            set_(self, "paths", _strings("paths", self.paths))
        set_(self, "trusted_proxies", _proxies(self.trusted_proxies))
        if isinstance(self.port, bool) or not isinstance(self.port, int) \
                or not 0 <= self.port <= 65535:
            raise ValueError(f"port is an integer 0-65535 (0 = any free port), got {self.port!r}")
        if not isinstance(self.host, str) or not self.host:
            raise ValueError("host is an address string such as '127.0.0.1' or '::1', "
                             f"got {self.host!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name is a non-empty string, got {self.name!r}")
        for name in ("compression", "app_heartbeat", "tls"):
            _flag(name, getattr(self, name))
        _flag("responsive", self.responsive, optional=True)
        for name in ("ping_interval", "ping_timeout"):
            _seconds(name, getattr(self, name), optional=True)
        for name in ("handshake_timeout", "ack_session_ttl"):
            _seconds(name, getattr(self, name), optional=False)
        _count("events_max", self.events_max, optional=False)
        check_level(self.events_level)
        for name in ("max_message_size", "rate_limit", "max_connections", "send_buffer_max",
                     "max_per_address", "fd_reserve"):
            _count(name, getattr(self, name), optional=True)
        if self.backplane is not None and (not isinstance(self.backplane, str)
                                           or not self.backplane.startswith(BACKPLANE_SCHEMES)):
            raise ValueError("backplane is a Redis URL such as 'redis://127.0.0.1:6379/0' or "
                             f"None, got {self.backplane!r}")

    def replace(self, **changes: Any) -> ServerOptions:
        """A copy with ``changes`` (checked like the original)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ValueError(f"no server option {unknown[0]!r}; the options are "
                             f"{', '.join(self.names())}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in ``serve()``'s order."""
        return tuple(f.name for f in fields(cls))

    def to_plain(self) -> dict[str, Any]:
        """JSON-ready data for another process: lists for tuples, ``auth`` as a dict of
        TokenAuth's fields (only a plain TokenAuth can cross: a subclass's own rules
        cannot be rebuilt from its fields)."""
        data = {name: getattr(self, name) for name in self.names()}
        data["origins"] = list(self.origins)
        data["subprotocols"] = list(self.subprotocols)
        data["paths"] = None if self.paths is None else list(self.paths)
        data["trusted_proxies"] = list(self.trusted_proxies)
        if self.auth is not None:
            if type(self.auth) is not TokenAuth:
                raise ValueError(f"auth of type {type(self.auth).__name__} cannot be sent to a "
                                 "server process; give a token string or a TokenAuth")
            data["auth"] = {**dataclasses.asdict(self.auth), "places": list(self.auth.places)}
        return data

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> ServerOptions:
        """The inverse of :meth:`to_plain` (checked like any other ServerOptions)."""
        if not isinstance(data, dict):
            raise ValueError(f"server options are a dict, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.names()))
        if unknown:
            raise ValueError(f"no server option {unknown[0]!r}")
        auth = data.get("auth")
        if isinstance(auth, dict):
            auth = TokenAuth(**{**auth, "places": tuple(auth.get("places", ()))})
        return cls(**{**data, "auth": auth})
