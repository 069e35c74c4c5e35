"""The in-kernel WebSocket server (layer 2, I/O): :func:`serve` and :class:`LabServer`.

A Tornado application on the lab loop.  The package is split by concern:

* :mod:`.serve`       ``serve()`` (start or restart a server by name), ``servers()``;
* :mod:`.lab_server`  :class:`LabServer`: clients, events, hooks, policies, start/stop;
* :mod:`.routes`      one handler class per WebSocket route: ``/echo``, ``/chat``,
  ``/pubsub``, ``/ack``;
* :mod:`.pages`       the HTML pages: ``/`` (browser client), ``/login``, ``/demo/hijack``;
* :mod:`.connection`  :class:`Connection` (what ``on_message`` receives) and the send path;
* :mod:`.strict`      RFC-strict frame receiving; :mod:`.ack`, :mod:`.pubsub`,
  :mod:`.admission` the route protocols and admission policy;
* :mod:`.options`     :class:`ServerOptions`: every option of ``serve()``, checked once;
* :mod:`.process`     ``serve(process=True)``: the same server in a child process
  (:mod:`.process_child` its main, :mod:`.process_calls` the calls it forwards);
* :mod:`.api`         :class:`ServerLike`, what both kinds of server offer;
* :mod:`.registry`    the running servers by name.

Every open, message, ping, pong and close becomes an :class:`~wslab.net.events.Event`
in ``server.events``.  A learner replaces the default behaviour of ``/echo`` and
``/chat`` with ``@server.on_message``.  This module only re-exports.
"""

from __future__ import annotations

from .admission import TokenAuth
from .api import ServerLike
from .connection import ClientInfo, Connection, app_pong, check_close_args
from .lab_server import CLOSE_GRACE, LabServer
from .options import ServerOptions
from .serve import serve, servers

__all__ = ["CLOSE_GRACE", "ClientInfo", "Connection", "LabServer", "ServerLike", "ServerOptions",
           "TokenAuth",
           "app_pong", "check_close_args", "serve", "servers"]
