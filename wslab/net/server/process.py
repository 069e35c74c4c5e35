"""``serve(process=True)``: the lab server in a child process, with the same API (layer 2).

An in-kernel server shares the kernel's GIL: while a cell computes in pure
Python, every round trip waits for the GIL (about one switch interval, 5 ms).
In a child process the server has an interpreter of its own and keeps its
sub-millisecond round trips whatever the notebook does.

The parent keeps a :class:`ProcessServer` with the LabServer facade (urls,
``events``, ``clients``, ``send``, ``broadcast``, ``close_client``,
``drop_client``, ``stop``) and talks to the child (:mod:`.process_child`, a
:class:`~wslab.net.children.Child`) over its stdin/stdout in JSON lines; every
call crosses through the one table :data:`~.process_calls.CALLS`.  It takes every
option of ``serve()`` (a :class:`~.options.ServerOptions`, sent as plain data):
with ``tls=True`` the child makes the certificate and :attr:`ProcessServer.ca_file`
names its CA; ``auth`` is checked in the child.  A handler crosses the process
boundary either by name (``handler="package.module:function"``) or by value: a
function (one defined in a notebook included) is pickled with cloudpickle,
together with the globals it uses, and loaded in the child, both for
``serve(process=True, handler=fn)`` and for ``@server.on_message``.  What cannot
cross (a lock, a socket, an open file it closes over; a module the child cannot
import) raises :class:`~wslab.net.errors.HandlerNotSendable` naming it.  The
handler runs in the child: ``print`` there goes to the child's stderr
(``stderr_tail``), and the globals it sees are copies taken when it was sent.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import loop as lab
from .. import public_url
from ..children import ChildExited, python_argv, spawn
from ..errors import HandlerNotSendable, LabTimeout, ServerStartError
from ..events import EventList
from ..urls import ServerURLs
from . import registry
from .connection import ClientInfo
from .options import ServerOptions
from .process_calls import CALLS, handler_option, pack

__all__ = ["ProcessServer", "handler_option"]

CHILD_MODULE = "wslab.net.server.process_child"
_ERRORS: dict[str, Callable[[str], Exception]] = {
    "start": ServerStartError, "handler": HandlerNotSendable, "exit": ServerStartError}


def _raise(reply: dict[str, Any]) -> None:
    if "error" in reply:
        raise _ERRORS.get(reply.get("kind", ""), ValueError)(reply["error"])


class ProcessServer(ServerURLs):
    """The parent's handle on a LabServer running in a child process (layer 2)."""

    _stop_order = 2

    def __init__(self, options: ServerOptions, *, handler: dict[str, str] | None = None,
                 timeout: float) -> None:
        """Start the child with ``options`` and ``handler`` (a :func:`handler_option`) and
        wait ``timeout`` seconds for it to listen."""
        self.options = options
        self.name = options.name
        self.host = options.host
        self.tls = options.tls
        self.timeout = timeout
        self._lock = threading.Lock()
        self._calls = 0  # each call's id, echoed in its reply
        self._child = spawn(python_argv(CHILD_MODULE), what=f"server {self.name!r} (process)")
        try:
            # the child is no kernel: it trusts the Jupyter server's address the kernel found
            trusted = (*options.trusted_proxies, *public_url.proxy_addresses())
            self._child.write_line(json.dumps({"options": options.replace(
                                                   trusted_proxies=trusted).to_plain(),
                                               "handler": handler}))
            hello = self._reply(timeout)
            _raise(hello)
        except BaseException:
            self._child.stop(5)
            raise
        self.port: int = hello["port"]
        #: with ``tls=True``: the PEM file of the child's local CA (clients must trust it)
        self.ca_file: str | None = hello.get("ca_file")
        self.pid = self._child.pid
        self.running = True
        lab.register(self)
        atexit.register(self._end)

    # --- plumbing ---------------------------------------------------------------
    @property
    def stderr_tail(self) -> list[str]:
        """The last lines the child printed on stderr (a handler's ``print`` too)."""
        return self._child.tail_lines(200)

    def _reply(self, timeout: float, call_id: int | None = None) -> dict[str, Any]:
        """The next reply (the one to ``call_id``: a late answer to an earlier call that
        timed out is skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            try:
                reply: dict[str, Any] = json.loads(self._child.readline(left))
            except ChildExited as exc:
                return {"error": str(exc), "kind": "exit"}
            except LabTimeout:
                raise LabTimeout(f"the server process did not answer within {timeout} s") \
                    from None
            if call_id is None or reply.get("id") == call_id:
                return reply

    def _forward(self, cmd: str, *, wait: float | None = None, **args: Any) -> Any:
        """Run ``cmd`` (a name in CALLS) in the child and return its result, converted;
        wait ``wait`` seconds for the answer (default: the server's ``timeout``)."""
        if not self.running:
            raise ServerStartError(f"server {self.name!r} (process) is stopped")
        with self._lock:
            self._calls += 1
            self._child.write_line(json.dumps(
                {"id": self._calls, "cmd": cmd, "args": {k: pack(v) for k, v in args.items()}}))
            reply = self._reply(self.timeout if wait is None else wait, self._calls)
        _raise(reply)
        return CALLS[cmd].parent(reply.get("result"))

    # --- the LabServer facade (wslab.net.server.api.ServerLike) ----------------------
    @property
    def events(self) -> EventList:
        events: EventList = self._forward("events")
        return events

    @property
    def clients(self) -> list[ClientInfo]:
        """The child's connected clients, asked of the child now.  A client's ``connect()``
        returns when the 101 arrives, which can be a moment before the child has run the
        connection's ``open()``: right after connecting, a new client may not be listed yet."""
        clients: list[ClientInfo] = self._forward("clients")
        return clients

    def send(self, client_id: int, message: str | bytes) -> None:
        self._forward("send", client_id=client_id, message=_message(message))

    def broadcast(self, message: str | bytes) -> int:
        sent: int = self._forward("broadcast", message=_message(message))
        return sent

    def close_client(self, client_id: int, code: int = 1000, reason: str = "") -> None:
        self._forward("close_client", client_id=client_id, code=code, reason=reason)

    def drop_client(self, client_id: int) -> None:
        self._forward("drop_client", client_id=client_id)

    def on_message(self, fn: Callable[..., Any] | str | None) -> Any:
        """``@server.on_message``: ``fn(conn, message)`` runs in the child process for every
        message on /echo and /chat (None: back to the default).  The function is pickled
        with cloudpickle (by value: one defined in a notebook works); what it uses is
        copied when it is sent.  Returns ``fn``, so it works as a decorator."""
        self._forward("on_message", fn=handler_option(fn))
        return fn

    # --- with serve(backplane=...) ------------------------------------------------
    def publish(self, channel: str, data: Any) -> int:
        """Send ``data`` to ``channel`` on ``/pubsub``; returns how many clients here got it."""
        count: int = self._forward("publish", channel=channel, data=data)
        return count

    def ack_broadcast(self, data: Any, *, id: str | None = None) -> int:
        """A numbered event for every ``/ack`` client (kept for replay); returns its number.
        A retry with the same ``id`` returns the first number and delivers nothing twice."""
        number: int = self._forward("ack_broadcast", data=data, id=id)
        return number

    @property
    def backplane(self) -> dict[str, Any] | None:
        """The child's backplane state and counters (``None`` without a backplane)."""
        state: dict[str, Any] | None = self._forward("backplane")
        return state

    def stop(self, *, timeout: float = lab.DEFAULT_TIMEOUT, code: int = 1001,
             reason: str = "server stopping", grace: float = 5.0) -> None:
        """Close every client with ``code`` (1001; 1012 before a restart) and end the
        child process.  Safe twice.

        The child gets ``grace`` seconds (at most ``timeout``) to close its clients and
        exit; a child that has not answered by then (a handler stuck in a long call)
        gets SIGTERM, and SIGKILL ``grace`` seconds later, so a stop takes at most about
        twice ``grace``."""
        if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not grace >= 0:
            raise ValueError(f"grace is a number of seconds >= 0, got {grace!r}")
        grace = min(float(grace), timeout)
        answered = False
        if self.running:
            try:
                self._forward("stop", wait=grace, code=code, reason=reason)
                answered = True
            except (ValueError, LabTimeout, OSError):
                pass
            self.running = False
        self._end(max(grace, 0.5), close_stdin=answered)

    def kill(self) -> None:
        """SIGKILL the child: no close frames, no goodbye (what a crash looks like)."""
        self.running = False
        self._child.kill()
        self._end()

    def _end(self, timeout: float = 5.0, *, close_stdin: bool = True) -> None:
        self.running = False
        self._child.stop(min(timeout, 5.0), close_stdin=close_stdin)
        lab.unregister(self)
        registry.forget(self)

    def __repr__(self) -> str:
        return (f"<ProcessServer {self.name!r} pid={self.pid} "
                f"{'running' if self.running else 'stopped'} {self.url}>")


def _message(message: str | bytes) -> str | bytes:
    if isinstance(message, (str, bytes)):
        return message
    raise ValueError(f"a message is str (text) or bytes (binary), got {type(message).__name__}")
