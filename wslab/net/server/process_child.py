"""The child side of ``serve(process=True)``: ``python -m wslab.net.server.process_child``.

It reads one JSON line from stdin, ``{"options": ServerOptions.to_plain(), "handler":
handler_option(...)}``, starts a LabServer with those options (``serve()`` in this
process) and answers ``{"port": ..., "ca_file": ...}``, or ``{"error": ..., "kind":
"start" | "handler"}`` and exits 2.  Then every line on stdin is one call of
:data:`~.process_calls.CALLS`, answered with one line.  When stdin ends (the parent
stopped or went away) the server stops.  Replies go to the real stdout; anything
else printed here (a handler's ``print``) goes to stderr, which the parent drains.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, TextIO

from ..errors import HandlerNotSendable, ServerStartError
from .lab_server import LabServer
from .options import ServerOptions
from .process_calls import CALLS, load_handler
from .serve import serve


def _errors_as_events(server: LabServer) -> None:
    """Every error logged here (asyncio, Tornado, a handler's logging) becomes an
    ``error`` event the parent sees in ``events``, not only a stderr line."""

    class ToEvents(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                text = record.getMessage()
                if record.exc_info and record.exc_info[1] is not None:
                    exc = record.exc_info[1]
                    text += f" ({type(exc).__name__}: {exc})"
                server.event_log.record("error", None, reason=text[:500],
                                        extra={"logger": record.name, "child": True})
            except Exception:  # noqa: BLE001 - logging must never raise
                self.handleError(record)

    logging.getLogger().addHandler(ToEvents(level=logging.ERROR))


def _start(spec: dict[str, Any]) -> LabServer:
    """The server ``spec`` asks for, with its handler (ServerStartError, HandlerNotSendable
    or ValueError when it cannot start)."""
    fn = load_handler(spec.get("handler"))
    server = serve(ServerOptions.from_plain(spec["options"]))
    if fn is not None:
        server.on_message(fn)
    return server


def _answer(server: LabServer, line: str) -> tuple[dict[str, Any], bool]:
    """One call, one reply, and whether the server stopped (every failure is a reply,
    never a crash of the child)."""
    try:
        req = json.loads(line)
        call = CALLS.get(req["cmd"])
        if call is None:
            raise ValueError(f"unknown command {req['cmd']!r}")
        return {"result": call.child(server, req.get("args", {}))}, req["cmd"] == "stop"
    except HandlerNotSendable as exc:
        return {"error": str(exc), "kind": "handler"}, False
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent
        return {"error": f"{type(exc).__name__}: {exc}"}, False


def _call_id(line: str) -> Any:
    try:
        return json.loads(line).get("id")
    except (ValueError, AttributeError):
        return None


def main(stdin: TextIO = sys.stdin) -> int:
    """Run one process server until stdin ends or the parent says ``stop``."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def say(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        server = _start(json.loads(stdin.readline()))
    except HandlerNotSendable as exc:
        say({"error": str(exc), "kind": "handler"})
        return 2
    except (ServerStartError, ValueError, KeyError, TypeError) as exc:
        say({"error": str(exc), "kind": "start"})
        return 2
    _errors_as_events(server)
    say({"port": server.port, "ca_file": server.ca_file})
    for line in stdin:
        reply, stopped = _answer(server, line)
        say({**reply, "id": _call_id(line)})
        if stopped:
            return 0
    server.stop()  # stdin closed: the parent went away
    return 0


if __name__ == "__main__":
    sys.exit(main())
