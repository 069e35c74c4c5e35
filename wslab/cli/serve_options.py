"""``python -m wslab serve``: command-line options made from ServerOptions' own fields.

Each field of :class:`~wslab.net.server.options.ServerOptions` becomes one option: its name
with dashes (``--ping-interval``), its type read from the field's annotation (a flag pair
``--tls/--no-tls`` for a bool, a number, a comma-separated list for a tuple; ``none`` turns
an optional limit off), its default the field's own.  Values are checked by ServerOptions
alone, so a bad value fails with the same message as ``serve()``'s.  This table adds only
what a terminal needs and the options cannot say: a help line and a group per field, and the
fields a terminal has no use for.  A field missing from both fails the CLI tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from typing import Any

from ..net.server.options import ServerOptions

__all__ = ["AUTH_ENV", "CLI_DEFAULTS", "GROUPS", "HELP", "NOT_ON_THE_COMMAND_LINE",
           "add_server_options", "flag", "server_options"]

AUTH_ENV = "WSLAB_AUTH_TOKEN"  # read when --auth is not given (a token in argv shows in ps)
CLI_DEFAULTS = {"port": 8080, "name": "cli"}  # a terminal server listens on a known port
NOT_ON_THE_COMMAND_LINE = {
    "name": "the terminal runs one server",
    "responsive": "keeps a Jupyter kernel's loop responsive; a terminal has none",
}
GROUPS = ("listening", "negotiation", "admission", "limits", "heartbeat", "scaling out",
          "memory")
# field -> (group, metavar, help): plain text, no markup (argparse prints it as it is)
HELP: dict[str, tuple[str, str, str]] = {
    "host": ("listening", "ADDRESS", "address to listen on; anything but loopback only when "
             "you ask for it"),
    "port": ("listening", "PORT", "port to listen on, 0 for any free one"),
    "tls": ("listening", "", "wss:// with a certificate from a local CA made on the spot; "
            "its file is printed, for clients to trust"),
    "compression": ("negotiation", "", "accept permessage-deflate (RFC 7692) when a client "
                    "offers it"),
    "subprotocols": ("negotiation", "NAMES", "subprotocols the server speaks, in its order "
                     "of preference, e.g. chat.v2,chat.v1 (RFC 6455 section 1.9)"),
    "origins": ("admission", "ORIGINS", "page origins allowed besides the server's own, "
                "e.g. http://localhost:8888; * allows any (demos only)"),
    "auth": ("admission", "TOKEN", f"require this token at the handshake (query ?token=, "
             f"Authorization: Bearer, or cookie); also read from ${AUTH_ENV}"),
    "trusted_proxies": ("admission", "HOSTS", "host:port of proxies in front whose name the "
                        "Host header may carry"),
    "paths": ("admission", "PATHS", "the only routes served, e.g. /,/chat (default: all)"),
    "max_connections": ("limits", "N", "clients at once; more are answered 503"),
    "max_per_address": ("limits", "N", "clients at once from one address"),
    "max_message_size": ("limits", "BYTES", "largest message accepted; larger closes with "
                         "1009"),
    "rate_limit": ("limits", "N", "messages per second per client; faster closes with 1008"),
    "send_buffer_max": ("limits", "BYTES", "bytes queued for one client before it is "
                        "closed with 1013 (none: no limit)"),
    "handshake_timeout": ("limits", "SECONDS", "time a client has to send its whole "
                          "opening handshake"),
    "fd_reserve": ("limits", "N", "file descriptors kept free for the rest of the process"),
    "ping_interval": ("heartbeat", "SECONDS", "send a Ping this often (default: never)"),
    "ping_timeout": ("heartbeat", "SECONDS", "close a client whose Pong is this late"),
    "app_heartbeat": ("heartbeat", "", 'answer JSON {"type": "ping"} messages with '
                      '{"type": "pong"} on every route'),
    "backplane": ("scaling out", "URL", "join the servers sharing this Redis, e.g. "
                  "redis://127.0.0.1:6379/0"),
    "events_max": ("memory", "N", "events kept for the log"),
    "events_level": ("memory", "LEVEL", "what the log records: lifecycle (opens, closes, "
                     "errors), messages (and every message) or all (and pings, pongs)"),
    "ack_session_ttl": ("memory", "SECONDS", "how long an /ack session without a "
                        "connection is remembered"),
}
_OFF = ("none", "off")


def flag(name: str) -> str:
    """``ping_interval`` -> ``--ping-interval``."""
    return "--" + name.replace("_", "-")


def _base(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of an ``X | None`` or plain annotation."""
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _converter(kind: Any, optional: bool, name: str) -> Any:
    """A function from the option's text to the field's type (argparse reports failures)."""
    def convert(text: str) -> Any:
        if typing.get_origin(kind) is tuple:
            return tuple(item.strip() for item in text.split(",") if item.strip())
        if optional and text.lower() in _OFF:
            return None
        if kind in (int, float):
            return kind(text)
        return text  # strings, and the auth token (ServerOptions makes it a TokenAuth)

    convert.__name__ = {int: "integer", float: "number"}.get(kind, name)
    return convert


def add_server_options(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """One option per ServerOptions field (see the module's docstring), in argument groups;
    returns the groups by name (``GROUPS``), for options that are not ServerOptions'."""
    hints = typing.get_type_hints(ServerOptions)
    groups = {g: parser.add_argument_group(f"{g} options") for g in GROUPS}
    for field in dataclasses.fields(ServerOptions):
        if field.name in NOT_ON_THE_COMMAND_LINE:
            continue
        group, metavar, text = HELP[field.name]
        default = CLI_DEFAULTS.get(field.name, field.default)
        kind, optional = _base(hints[field.name])
        if default is True:
            text += " (on by default)"
        elif default not in (None, (), False):
            text += f" (default: {_shown(default)})"
        common: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS,
                                  "help": text}
        if kind is bool:
            groups[group].add_argument(flag(field.name), action=argparse.BooleanOptionalAction,
                                       **common)
            continue
        names = [flag(field.name)]
        if field.name == "origins":
            names.append("--origin")  # the older spelling
        if typing.get_origin(kind) is tuple:  # repeatable, each a comma-separated list
            common["action"] = "extend"
        groups[group].add_argument(*names, metavar=metavar,
                                   type=_converter(kind, optional, field.name), **common)
    return groups


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1 << 20 \
            and value % (1 << 20) == 0:
        return f"{value >> 20} MiB"
    return str(value)


def server_options(args: argparse.Namespace) -> ServerOptions:
    """The ServerOptions the parsed arguments ask for (ValueError naming the option)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServerOptions)
             if hasattr(args, f.name)}
    if "auth" not in given and os.environ.get(AUTH_ENV):
        given["auth"] = os.environ[AUTH_ENV]
    try:
        return ServerOptions(**{**CLI_DEFAULTS, **given})
    except ValueError as exc:
        text = str(exc)
        for field in sorted(ServerOptions.names(), key=len, reverse=True):
            if text.startswith(field + " ") or text.startswith(field + ":"):
                text = flag(field) + text[len(field):]
                break
        raise ValueError(text) from None
