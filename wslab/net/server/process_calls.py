"""What a process server forwards to its child, in one table (layer 2, I/O).

:class:`~.process.ProcessServer` (the parent) and :mod:`.process_child` (the child)
speak JSON lines: ``{"cmd": name, "args": {...}}`` one way, ``{"result": ...}`` or
``{"error": ..., "kind": ...}`` back.  :data:`CALLS` names every call and how it
crosses: how the child runs it on its LabServer and turns the result into JSON
(``child``), and how the parent turns that JSON back into a value (``parent``).
Arguments cross through :func:`pack`/:func:`unpack` (bytes as base64); a handler
function crosses as :func:`handler_option` (by name or pickled with cloudpickle).
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import HandlerNotSendable
from ..events import Event, EventList
from .connection import ClientInfo

__all__ = ["CALLS", "Call", "handler_option", "load_handler", "pack", "unpack"]

_BYTES = "__wslab_bytes__"


def pack(value: Any) -> Any:
    """A value as JSON data: bytes become ``{"__wslab_bytes__": base64}``."""
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode()}
    return value


def unpack(value: Any) -> Any:
    """The inverse of :func:`pack`."""
    if isinstance(value, dict) and set(value) == {_BYTES}:
        return base64.b64decode(value[_BYTES])
    return value


def _event_out(e: Event) -> dict[str, Any]:
    return {**{f.name: getattr(e, f.name) for f in dataclasses.fields(e)},
            "data": pack(e.data), "extra": dict(e.extra)}


def _event_in(d: dict[str, Any]) -> Event:
    return Event(**{**d, "data": unpack(d["data"])})


def handler_option(handler: Callable[..., Any] | str | None) -> dict[str, str] | None:
    """A handler as JSON for the child: ``{"import": "module:function"}`` or
    ``{"pickle": base64}`` (cloudpickle, by value); None stays None."""
    if handler is None:
        return None
    if isinstance(handler, str):
        mod, sep, fn = handler.partition(":")
        if not (mod and sep and fn):
            raise ValueError("handler is a function or 'package.module:function', "
                             f"got {handler!r}")
        return {"import": handler}
    if not callable(handler):
        raise ValueError("handler is a function fn(conn, message) or 'package.module:function',"
                         f" got {type(handler).__name__}")
    import cloudpickle

    name = getattr(handler, "__qualname__", repr(handler))
    try:
        data = cloudpickle.dumps(handler)
    except Exception as exc:  # pickling can fail with many types
        raise HandlerNotSendable(
            f"the handler {name} cannot be sent to the server's process: {type(exc).__name__}: "
            f"{exc}. A process server runs it in another interpreter, so everything it uses "
            "is copied there; create locks, sockets and files inside the handler, or give "
            "handler='package.module:function'") from exc
    return {"pickle": base64.b64encode(data).decode()}


def load_handler(option: dict[str, str] | None) -> Callable[..., Any] | None:
    """In the child: the function :func:`handler_option` sent (HandlerNotSendable if it
    cannot be loaded)."""
    if option is None:
        return None
    try:
        if "import" in option:
            mod, _, fn = option["import"].partition(":")
            loaded: Callable[..., Any] = getattr(importlib.import_module(mod), fn)
            return loaded
        import cloudpickle
        fn_value: Callable[..., Any] = cloudpickle.loads(base64.b64decode(option["pickle"]))
        return fn_value
    except Exception as exc:  # reported to the parent
        raise HandlerNotSendable(f"the server's process could not load the handler: "
                                 f"{type(exc).__name__}: {exc}") from exc


def _same(value: Any) -> Any:
    return value


def _method(name: str) -> Callable[[Any, dict[str, Any]], Any]:
    """Run the LabServer's method ``name`` with the unpacked arguments."""
    def run(server: Any, args: dict[str, Any]) -> Any:
        return pack(getattr(server, name)(**{k: unpack(v) for k, v in args.items()}))
    return run


@dataclass(frozen=True)
class Call:
    """One forwarded call: ``child(server, args)`` -> JSON result; ``parent(json)`` -> value."""

    child: Callable[[Any, dict[str, Any]], Any]
    parent: Callable[[Any], Any] = _same


def _on_message(server: Any, args: dict[str, Any]) -> None:
    server.on_message(load_handler(args["fn"]))


def _backplane(server: Any, _args: dict[str, Any]) -> Any:
    bp = server.backplane
    return None if bp is None else bp.snapshot()


CALLS: dict[str, Call] = {
    "events": Call(lambda s, _: [_event_out(e) for e in s.events],
                   lambda r: EventList(_event_in(d) for d in r)),
    "clients": Call(lambda s, _: [dataclasses.asdict(c) for c in s.clients],
                    lambda r: [ClientInfo(**c) for c in r]),
    "backplane": Call(_backplane),
    "on_message": Call(_on_message),
    **{name: Call(_method(name)) for name in (
        "send", "broadcast", "close_client", "drop_client", "publish", "ack_broadcast", "stop")},
}
