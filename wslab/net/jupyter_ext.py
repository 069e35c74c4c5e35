"""wslab's route in the Jupyter server: a faithful hop to the kernel's servers (layer 2).

A Jupyter server extension.  Enabled (``jpserver_extensions`` holds
``wslab.net.jupyter_ext``; the package's ``jupyter_server_config.d`` file does it on
install), it adds one route::

    <base_url>wslab/<port>/<path>     GET and HEAD: a page, or a WebSocket

and ``<base_url>wslab/api/hops`` (JSON: the hops open now and the last ones).  A
request is carried to a server of one of this Jupyter server's kernels at
``127.0.0.1:<port>`` by :func:`wslab.net.hop_relay.carry`: the browser's offer
reaches the kernel's server before the browser is answered, and bytes pass unchanged
after that, so close codes, reasons, the subprotocol and permessage-deflate are the
two ends' own (see :mod:`wslab.protocol.hop` for what the hop changes in the head).

Who may use it is the Jupyter server's own decision, taken before anything is
forwarded: its authentication (an unauthenticated request gets 403, a WebSocket and a
page alike), its authorizer (``execute`` on ``kernels``: whoever may run code in a
kernel may reach the kernel's servers), its Host and Origin checks (a page of another
origin gets 403).  Which port is reachable is :mod:`wslab.net.hop_ports`' decision:
only one a kernel of this server listed, listening in that kernel's process tree.

Loading it also sets ``WSLAB_HOP_DIR`` in the Jupyter server's environment, so every
kernel it starts afterwards knows the hop is there (:mod:`wslab.net.public_url`).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import datetime
import json
import os
import pathlib
import shutil
import tempfile
import time
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import ensure_async, url_path_join
from tornado import web

from ..protocol.hop import SEGMENT, is_upgrade, split_route
from . import hop_ports
from .hop_relay import HopRecord, HopUnreachable, carry

__all__ = ["HOPS_KEPT", "MAX_OPEN", "HopHandler", "HopsHandler"]

MAX_OPEN = 256    # hops open at once (each holds two sockets); more get 503
HOPS_KEPT = 200   # finished hops kept for wslab/api/hops


class _Hops:
    """The hops of this Jupyter server: open now, and the last finished ones."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.open: list[HopRecord] = []
        self.done: collections.deque[HopRecord] = collections.deque(maxlen=HOPS_KEPT)


def _kernel_pids(kernel_manager: Any) -> list[int]:
    pids = []
    for kid in list(kernel_manager.list_kernel_ids()):
        with contextlib.suppress(KeyError):
            pid = getattr(kernel_manager.get_kernel(kid).provisioner, "pid", None)
            if isinstance(pid, int):
                pids.append(pid)
    return pids


class HopHandler(JupyterHandler):
    """``<base_url>wslab/<port>/<path>``: carry the request to a kernel's server."""

    auth_resource = "kernels"

    @property
    def hops(self) -> _Hops:
        return self.settings["wslab_hops"]

    def _where(self, port: int) -> str:
        """The loopback address of a kernel's server at ``port``, or HTTP 403 saying why."""
        for pid in _kernel_pids(self.kernel_manager):
            host = hop_ports.registered(self.hops.directory, pid).get(port)
            if host is None:
                continue
            if hop_ports.owned_by(port, pid) is False:
                raise web.HTTPError(403, f"port {port} is no longer a server of kernel {pid}")
            return host
        raise web.HTTPError(403, f"port {port} is not a wslab server of this Jupyter "
                                 "server's kernels (the hop is no open proxy)")

    def _active(self) -> None:
        """Traffic through the hop is activity of this Jupyter server (as the hub's idle
        culler reads it: ``last_activity_times``, as jupyter-server-proxy records it)."""
        self.settings.setdefault("last_activity_times", {})["wslab"] = \
            datetime.datetime.now(datetime.timezone.utc)

    async def _admit(self) -> None:
        """The Jupyter server's own checks: authenticated, authorized, same origin."""
        user = self.current_user
        if user is None:
            raise web.HTTPError(403, "not authenticated")
        if not await ensure_async(self.authorizer.is_authorized(self, user, "execute",
                                                                "kernels")):
            raise web.HTTPError(403, "not authorized to execute code in kernels")
        if not self.check_origin():
            raise web.HTTPError(403, f"a page of {self.request.headers.get('Origin')} may not "
                                     "use this Jupyter server")

    # The Jupyter server's prepare() would redirect an unauthenticated GET to its login
    # page; _admit() answers 403 instead, to a WebSocket and a page alike.
    @allow_unauthenticated
    async def get(self, rest: str) -> None:
        await self._carry("GET", rest)

    @allow_unauthenticated
    async def head(self, rest: str) -> None:
        await self._carry("HEAD", rest)

    async def _carry(self, method: str, rest: str) -> None:
        await self._admit()
        try:
            port, target = split_route(rest, self.request.query)
        except ValueError as exc:
            raise web.HTTPError(404, str(exc)) from None
        host = self._where(port)
        if len(self.hops.open) >= MAX_OPEN:
            raise web.HTTPError(503, f"{MAX_OPEN} hops are open already")
        headers = list(self.request.headers.get_all())
        record = HopRecord(port=port, target=target.split("?")[0],
                           websocket=is_upgrade(headers), started=time.time())
        self.hops.open.append(record)
        try:
            await carry(method=method, target=target, headers=headers, host=host, port=port,
                        detach=self.detach, record=record, on_traffic=self._active)
        except HopUnreachable as exc:
            record.error = str(exc)
            raise web.HTTPError(exc.status, str(exc)) from None
        finally:
            record.ended = record.ended or time.time()
            self.hops.open.remove(record)
            self.hops.done.append(record)


class HopsHandler(APIHandler):
    """``<base_url>wslab/api/hops``: the hops open now and the last finished ones."""

    auth_resource = "kernels"
    _track_activity = False  # reading it is no activity (jupyter_server's switch)

    @web.authenticated
    async def get(self) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read",
                                                                "kernels")):
            raise web.HTTPError(403, "not authorized to read kernels")
        hops: _Hops = self.settings["wslab_hops"]
        self.finish(json.dumps({"open": [h.as_dict() for h in hops.open],
                                "done": [h.as_dict() for h in hops.done],
                                "max_open": MAX_OPEN}))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "wslab.net.jupyter_ext"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    runtime = pathlib.Path(serverapp.runtime_dir)
    runtime.mkdir(parents=True, exist_ok=True)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="wslab-hop-", dir=runtime))  # mode 0700
    atexit.register(shutil.rmtree, directory, True)
    web_app = serverapp.web_app
    web_app.settings["wslab_hops"] = _Hops(directory)
    base = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [
        (url_path_join(base, SEGMENT, "api", "hops"), HopsHandler),
        (url_path_join(base, SEGMENT, r"([1-9][0-9]*(?:/.*)?)"), HopHandler),
    ])
    # every kernel started from now on inherits it (its environment is a copy of ours)
    os.environ[hop_ports.ENV_DIR] = str(directory)
    serverapp.log.info("wslab: the hop to kernels' servers is at %s", url_path_join(
        base, SEGMENT, "<port>/<path>"))
