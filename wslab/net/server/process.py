"""``serve(process=True)``: the lab server in a child process, with the same API (layer 2).

An in-kernel server shares the kernel's GIL: while a cell computes in pure
Python, every round trip waits for the GIL (about one switch interval, 5 ms).
In a child process the server has an interpreter of its own and keeps its
sub-millisecond round trips whatever the notebook does.

The parent keeps a :class:`ProcessServer` with the LabServer facade (urls,
``events``, ``clients``, ``send``, ``broadcast``, ``close_client``,
``drop_client``, ``stop``) and talks to the child over its stdin/stdout in JSON
lines.  It takes every option of ``serve()``: with ``tls=True`` the child makes
the certificate and :attr:`ProcessServer.ca_file` names its CA; ``auth`` is
checked in the child.  A handler crosses the process boundary either by name
(``handler="package.module:function"``) or by value: a function (one defined
in a notebook included) is pickled with cloudpickle, together with the globals
it uses, and loaded in the child, both for ``serve(process=True, handler=fn)``
and for ``@server.on_message``.  What cannot cross (a lock, a socket, an open
file it closes over; a module the child cannot import) raises
:class:`~wslab.net.errors.HandlerNotSendable` naming it.  The handler runs in
the child: ``print`` there goes to the child's stderr (``stderr_tail``), and
the globals it sees are copies taken when it was sent.
"""

from __future__ import annotations

import atexit
import base64
import collections
import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from .. import loop as lab
from ..errors import HandlerNotSendable, LabTimeout, ServerStartError
from ..events import Event, EventList
from . import registry
from .connection import ClientInfo


def _encode_event(e: Event) -> dict[str, Any]:
    data = e.data
    if isinstance(data, bytes):
        data = {"b64": base64.b64encode(data).decode()}
    return {"t_ns": e.t_ns, "kind": e.kind, "client_id": e.client_id, "direction": e.direction,
            "opcode": e.opcode, "size": e.size, "code": e.code, "reason": e.reason,
            "data": data, "extra": dict(e.extra)}


def _decode_event(d: dict[str, Any]) -> Event:
    data = d["data"]
    if isinstance(data, dict) and "b64" in data:
        data = base64.b64decode(data["b64"])
    return Event(d["t_ns"], d["kind"], d["client_id"], d["direction"], d["opcode"], d["size"],
                 d["code"], d["reason"], data, d["extra"])


class ProcessServer:
    """The parent's handle on a LabServer running in a child process (layer 2)."""

    _stop_order = 2

    def __init__(self, options: dict[str, Any], *, timeout: float) -> None:
        self.name = options.get("name", "default")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "wslab.net.server.process", json.dumps(options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1)
        self._reader = threading.Thread(target=self._read, name="wslab-process-server",
                                        daemon=True)
        self._reader.start()
        # the child's stderr is read too: a pipe nobody reads fills at ~64 KiB and blocks it
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True,
                                               name="wslab-process-server-stderr")
        self._stderr_reader.start()
        hello = self._reply(timeout)
        if "error" in hello:
            self._proc.wait(5)
            kind = hello.get("kind")
            raise ServerStartError(hello["error"]) if kind == "start" \
                else HandlerNotSendable(hello["error"]) if kind == "handler" \
                else ValueError(hello["error"])
        self._urls: dict[str, str] = hello["urls"]
        self.port: int = hello["port"]
        #: with ``tls=True``: the PEM file of the child's local CA (clients must trust it)
        self.ca_file: str | None = hello.get("ca_file")
        self.tls = bool(options.get("tls"))
        self.host = options.get("host", "127.0.0.1")
        self.pid = self._proc.pid
        self.running = True
        lab.register(self)
        atexit.register(self._kill)

    # --- plumbing ---------------------------------------------------------------
    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                self._replies.put(json.loads(line))
            except ValueError:
                continue
        self._replies.put({"error": "the server process exited", "kind": "exit"})

    def _read_stderr(self) -> None:
        try:
            for line in self._proc.stderr:
                self.stderr_tail.append(line.rstrip("\n"))
        except (OSError, ValueError):
            pass

    def _reply(self, timeout: float) -> dict[str, Any]:
        try:
            return self._replies.get(timeout=timeout)
        except queue.Empty:
            raise LabTimeout(f"the server process did not answer within {timeout} s") from None

    def _call(self, cmd: str, **args: Any) -> Any:
        if not self.running:
            raise ServerStartError(f"server {self.name!r} (process) is stopped")
        with self._lock:
            self._proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
            self._proc.stdin.flush()
            reply = self._reply(self.timeout)
        if "error" in reply:
            if reply.get("kind") == "handler":
                raise HandlerNotSendable(reply["error"])
            raise ValueError(reply["error"])
        return reply.get("result")

    # --- the LabServer facade (wslab.net.server.api.ServerLike) ----------------------
    @property
    def url(self) -> str:
        """The echo route, ``ws://host:port/echo``."""
        return self._urls["url"]

    @property
    def chat_url(self) -> str:
        return self._urls["chat_url"]

    @property
    def ack_url(self) -> str:
        return self._urls["ack_url"]

    @property
    def pubsub_url(self) -> str:
        return self._urls["pubsub_url"]

    @property
    def page_url(self) -> str:
        """The browser client page, ``http://host:port/``."""
        return self._urls["page_url"]

    @property
    def origin(self) -> str:
        return self._urls["origin"]

    @property
    def events(self) -> EventList:
        return EventList(_decode_event(d) for d in self._call("events"))

    @property
    def clients(self) -> list[ClientInfo]:
        """The child's connected clients, asked of the child now.  A client's ``connect()``
        returns when the 101 arrives, which can be a moment before the child has run the
        connection's ``open()``: right after connecting, a new client may not be listed yet."""
        return [ClientInfo(**c) for c in self._call("clients")]

    def send(self, client_id: int, message: str | bytes) -> None:
        self._call("send", id=client_id, **_wire(message))

    def broadcast(self, message: str | bytes) -> int:
        return self._call("broadcast", **_wire(message))

    def close_client(self, client_id: int, code: int = 1000, reason: str = "") -> None:
        self._call("close_client", id=client_id, code=code, reason=reason)

    def drop_client(self, client_id: int) -> None:
        self._call("drop_client", id=client_id)

    def on_message(self, fn: Callable[..., Any] | str | None) -> Any:
        """``@server.on_message``: ``fn(conn, message)`` runs in the child process for every
        message on /echo and /chat (None: back to the default).  The function is pickled
        with cloudpickle (by value: one defined in a notebook works); what it uses is
        copied when it is sent.  Returns ``fn``, so it works as a decorator."""
        self._call("on_message", handler=handler_option(fn))
        return fn

    # --- with serve(backplane=...) ------------------------------------------------
    def publish(self, channel: str, data: Any) -> int:
        """Send ``data`` to ``channel`` on ``/pubsub``; returns how many clients here got it."""
        return self._call("publish", channel=channel, data=data)

    def ack_broadcast(self, data: Any) -> int:
        """A numbered event for every ``/ack`` client (kept for replay); returns its number."""
        return self._call("ack_broadcast", data=data)

    @property
    def backplane(self) -> dict[str, Any] | None:
        """The child's backplane state and counters (``None`` without a backplane)."""
        return self._call("backplane")

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT, code: int = 1001,
             reason: str = "server stopping") -> None:
        """Close every client with ``code`` (1001; 1012 before a restart) and end the
        child process.  Safe twice."""
        if self.running:
            try:
                self._call("stop", code=code, reason=reason)
            except (ValueError, LabTimeout, OSError):
                pass
            self.running = False
        self._kill(timeout)
        lab.unregister(self)
        registry.forget(self)

    def kill(self) -> None:
        """SIGKILL the child: no close frames, no goodbye (what a crash looks like)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self.running = False
        self._kill(5.0)
        lab.unregister(self)
        registry.forget(self)

    def _kill(self, timeout: float = 5.0) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(5)
        for t in (self._reader, self._stderr_reader):  # they end at EOF, the child is gone
            if t is not threading.current_thread():
                t.join(5)
        for f in (self._proc.stdout, self._proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __repr__(self) -> str:
        return (f"<ProcessServer {self.name!r} pid={self.pid} "
                f"{'running' if self.running else 'stopped'} {self.url}>")


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
    except Exception as exc:  # noqa: BLE001 - pickling can fail with many types
        raise HandlerNotSendable(
            f"the handler {name} cannot be sent to the server's process: {type(exc).__name__}: "
            f"{exc}. A process server runs it in another interpreter, so everything it uses "
            "is copied there; create locks, sockets and files inside the handler, or give "
            "handler='package.module:function'") from exc
    return {"pickle": base64.b64encode(data).decode()}


def _load_handler(option: dict[str, str]) -> Callable[..., Any]:
    """In the child: the function ``handler_option`` sent (HandlerNotSendable if it fails)."""
    import importlib

    try:
        if "import" in option:
            mod, _, fn = option["import"].partition(":")
            return getattr(importlib.import_module(mod), fn)
        import cloudpickle
        return cloudpickle.loads(base64.b64decode(option["pickle"]))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        raise HandlerNotSendable(f"the server's process could not load the handler: "
                                 f"{type(exc).__name__}: {exc}") from exc


def _wire(message: str | bytes) -> dict[str, Any]:
    if isinstance(message, bytes):
        return {"b64": base64.b64encode(message).decode()}
    if isinstance(message, str):
        return {"text": message}
    raise ValueError(f"a message is str (text) or bytes (binary), got {type(message).__name__}")


def _unwire(args: dict[str, Any]) -> str | bytes:
    return base64.b64decode(args["b64"]) if "b64" in args else args["text"]


def _errors_as_events(server: Any) -> None:
    """In the child: every error logged there (asyncio, Tornado, a handler's logging)
    becomes an ``error`` event the parent sees in ``events``, not only a stderr line
    (which the parent drains into ``stderr_tail``)."""
    import logging

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


def _child(options: dict[str, Any]) -> int:
    """The child's main loop: run a LabServer, answer commands from stdin."""
    from .admission import TokenAuth
    from .serve import serve

    # the replies go to the parent on the real stdout; anything else printed here (a
    # handler's print) goes to stderr, which the parent keeps in stderr_tail
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def say(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    handler = options.pop("handler", None)
    auth = options.pop("auth", None)
    try:
        fn = _load_handler(handler) if handler else None
    except HandlerNotSendable as exc:
        say({"error": str(exc), "kind": "handler"})
        return 2
    try:
        server = serve(**options, auth=None if auth is None else TokenAuth(
            **{**auth, "places": tuple(auth["places"])}))
    except (ServerStartError, ValueError) as exc:
        say({"error": str(exc), "kind": "start"})
        return 2
    if fn is not None:
        server.on_message(fn)
    _errors_as_events(server)
    urls = {k: getattr(server, k) for k in ("url", "chat_url", "ack_url", "pubsub_url",
                                            "page_url", "origin")}
    say({"port": server.port, "urls": urls, "ca_file": server.ca_file})
    for line in sys.stdin:
        try:
            req = json.loads(line)
            cmd = req["cmd"]
            if cmd == "events":
                result: Any = [_encode_event(e) for e in server.events]
            elif cmd == "clients":
                result = [dataclasses.asdict(c) for c in server.clients]
            elif cmd == "send":
                result = server.send(req["id"], _unwire(req))
            elif cmd == "broadcast":
                result = server.broadcast(_unwire(req))
            elif cmd == "close_client":
                result = server.close_client(req["id"], req["code"], req["reason"])
            elif cmd == "drop_client":
                result = server.drop_client(req["id"])
            elif cmd == "publish":
                result = server.publish(req["channel"], req.get("data"))
            elif cmd == "ack_broadcast":
                result = server.ack_broadcast(req.get("data"))
            elif cmd == "on_message":
                try:
                    h = req.get("handler")
                    server.on_message(None if h is None else _load_handler(h))
                except HandlerNotSendable as exc:
                    say({"error": str(exc), "kind": "handler"})
                    continue
                result = None
            elif cmd == "backplane":
                bp = server.backplane
                result = None if bp is None else bp.snapshot()
            elif cmd == "stop":
                server.stop(code=req.get("code", 1001), reason=req.get("reason", "server stopping"))
                say({"result": None})
                return 0
            else:
                raise ValueError(f"unknown command {cmd!r}")
            say({"result": result})
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent
            say({"error": f"{type(exc).__name__}: {exc}"})
    server.stop()  # stdin closed: the parent went away
    return 0


if __name__ == "__main__":
    sys.exit(_child(json.loads(sys.argv[1])))
