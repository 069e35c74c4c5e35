"""The primer's own code, run: its Node ``server.js`` and ``client.html`` (layer 3, labs).

The primer the course grew from ends with a Node.js ``ws`` server and a browser page
(packaged here as data, see ``README.md`` beside this file).  :func:`start_primer_server`
runs that ``server.js`` as a child of the kernel (:mod:`wslab.net.children`: it dies
with the kernel), with two changes shown by :data:`CHANGES`: a free port instead of 8080
and 127.0.0.1 instead of every interface.  :func:`start_wslab_serve` runs
``python -m wslab serve`` the same way, for the two terminal servers side by side;
:func:`claims` measures what the primer says about the protocol against both servers.

Node comes from ``WSLAB_NODE`` or the PATH; the ``ws`` package from the folder named by
``WSLAB_NODE_MODULES``, else ``.cache/node/node_modules`` of the repository (``.ci/run``
installs it there).  When either is missing, the functions return a server that is not
running and says why, so a notebook goes on without a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import html
import os
import pathlib
import re
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...i18n import _
from ...net import children, public_url
from ...net import loop as lab
from ...net.client import Client, connect
from ...net.errors import LabTimeout, ServerStartError
from ...net.raw import open_websocket
from ...net.services import free_port
from ...net.tap import Tap, TapTable
from ...protocol import frames as fr
from ...protocol import handshake as hs
from ...protocol.state import State

__all__ = ["CHANGES", "Claim", "NodeServer", "WslabServe", "claims", "client_page",
           "conversation", "node_setup", "page_for", "side_by_side", "source", "start_echo_twin",
           "start_primer_server", "start_wslab_serve"]

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]
NODE_ENV = "WSLAB_NODE"
MODULES_ENV = "WSLAB_NODE_MODULES"
START_TIMEOUT = 15.0
PRIMER_LISTEN = "new WebSocket.Server({ port: 8080 })"
PRIMER_URL = "'ws://localhost:8080'"

#: what wslab changes in the primer's files before running them: (file, was, becomes, why)
CHANGES = (
    ("server.js", "{ port: 8080 }", "{ port: <a free port>, host: '127.0.0.1' }",
     "8080 may be taken; the original listens on every interface, this one on loopback only"),
    ("client.html", PRIMER_URL, "'<the server's URL as your browser reaches it>'",
     "the page must find the server where it runs (through Jupyter's proxy on a hub)"),
)


def source(name: str = "server.js") -> str:
    """The primer's ``server.js`` or ``client.html`` (or wslab's ``echo_server.js``)."""
    if name not in ("server.js", "client.html", "echo_server.js"):
        raise ValueError(f"the files are server.js, client.html and echo_server.js, not {name!r}")
    return (HERE / name).read_text("utf-8")


@dataclass(frozen=True)
class NodeSetup:
    """Where Node.js and the ``ws`` package are."""

    node: str
    modules: str
    ws_version: str


def node_setup() -> NodeSetup | str:
    """Node and ``ws`` as found, or a sentence saying what is missing and how to get it."""
    named = os.environ.get(NODE_ENV)
    node = named or shutil.which("node")
    if not node or not os.access(node, os.X_OK):
        where = f"{NODE_ENV}={named} is not a program" if named else "no `node` on the PATH"
        return (f"Node.js is not installed ({where}): install it (Debian: apt install nodejs) "
                f"or set {NODE_ENV} to its path")
    modules = pathlib.Path(os.environ.get(MODULES_ENV) or REPO / ".cache" / "node" /
                           "node_modules")
    package = modules / "ws" / "package.json"
    if not package.is_file():
        return (f"the `ws` npm package is not in {modules}: install it with "
                f"`npm install --prefix {modules.parent} ws@8` (.ci/run does), or set "
                f"{MODULES_ENV} to a node_modules folder that holds it")
    match = re.search(r'"version"\s*:\s*"([^"]+)"', package.read_text("utf-8"))
    return NodeSetup(node, str(modules), match.group(1) if match else "?")


def _wait_listening(port: int, child: children.Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.running:
            raise ServerStartError(f"{child.what} exited ({child.returncode}): "
                                   + " | ".join(child.tail_lines(5)))
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise LabTimeout(f"{child.what} did not listen on port {port} within {timeout} s")


class _Printing:
    """A child whose stdout lines are kept: :meth:`log` returns the new ones."""

    _stop_order = 2

    def __init__(self) -> None:
        self.child: children.Child | None = None
        self.lines: list[str] = []
        self._read = 0

    def log(self, wait: float = 0.3) -> list[str]:
        """The lines it printed since the last call (waiting up to ``wait`` s for the first)."""
        if self.child is None:
            return []
        with contextlib.suppress(children.ChildTimeout, children.ChildExited):
            self.lines.append(self.child.readline(wait))
            while True:
                self.lines.append(self.child.readline(0.05))
        new = self.lines[self._read:]
        self._read = len(self.lines)
        return new


class NodeServer(_Printing):
    """A Node.js server run from the kernel: the primer's ``server.js`` or the echo twin.

    ``url`` is its ws:// URL (None when it could not start: ``why`` says why, and the
    object is false).  :meth:`log` returns the lines it printed since the last call.
    """

    def __init__(self, script: str, *, why: str = "") -> None:
        super().__init__()
        self.script = script
        self.why = why
        self.port: int | None = None
        self.setup: NodeSetup | None = None

    def __bool__(self) -> bool:
        return self.child is not None and self.child.running

    @property
    def url(self) -> str | None:
        return f"ws://127.0.0.1:{self.port}/" if self.port else None

    def _start(self, setup: NodeSetup, port: int | None = None) -> None:
        self.setup = setup
        folder = pathlib.Path(children.work_dir("primer"))
        env = {**os.environ, "NODE_PATH": setup.modules}
        if self.script == "server.js":
            self.port = port or free_port()
            code = source("server.js")
            if PRIMER_LISTEN not in code:
                raise ValueError(f"server.js no longer holds {PRIMER_LISTEN!r}")
            listen = "new WebSocket.Server({ port: PORT, host: '127.0.0.1' })"
            code = code.replace(PRIMER_LISTEN, listen.replace("PORT", str(self.port)))
            (folder / "server.js").write_text(code, "utf-8")
            self.child = children.spawn([setup.node, str(folder / "server.js")], cwd=str(folder),
                                        env=env, what="node server.js")
            _wait_listening(self.port, self.child, START_TIMEOUT)
        else:
            (folder / self.script).write_text(source(self.script), "utf-8")
            self.child = children.spawn([setup.node, str(folder / self.script),
                                         str(port or 0)], cwd=str(folder), env=env,
                                        what=f"node {self.script}")
            self.port = int(self.child.readline(START_TIMEOUT))
        lab.register(self)

    @property
    def stderr(self) -> str:
        return self.child.stderr_tail if self.child is not None else ""

    def restart(self) -> None:
        """Stop it and start it again on the same port (what a deploy or a crash does)."""
        if self.setup is None or self.port is None:
            return
        self.stop()
        self._start(self.setup, self.port)

    def stop(self, *, timeout: float = 5.0) -> None:
        if self.child is not None:
            self.child.stop(timeout, close_stdin=False)
        lab.unregister(self)

    def __repr__(self) -> str:
        if self.child is None:
            return f"<NodeServer {self.script}: not running: {self.why}>"
        state = "running" if self.child.running else f"exited {self.child.returncode}"
        return f"<NodeServer {self.script} {self.url} {state}>"


def _start_node(script: str, port: int | None = None) -> NodeServer:
    setup = node_setup()
    if isinstance(setup, str):
        return NodeServer(script, why=setup)
    server = NodeServer(script)
    try:
        server._start(setup, port)
    except (ServerStartError, LabTimeout, children.ChildExited, ValueError) as exc:
        server.stop()
        return NodeServer(script, why=str(exc))
    return server


def start_primer_server() -> NodeServer:
    """``node server.js``: the primer's server, on a free port of 127.0.0.1 (see CHANGES)."""
    return _start_node("server.js")


def start_echo_twin() -> NodeServer:
    """wslab's ``echo_server.js``: the same ``ws`` package as an echo server."""
    return _start_node("echo_server.js")


class WslabServe(_Printing):
    """``python -m wslab serve --port 0`` as a child: the terminal twin of ``node server.js``;
    :meth:`log` returns the lines it printed (its URLs, then one line per event)."""

    def __init__(self) -> None:
        super().__init__()
        child = children.spawn(children.python_argv("wslab", "serve", "--port", "0"),
                               what="python -m wslab serve", stdin=False)
        self.child = child
        self.url = ""
        self.page_url = ""
        deadline = time.monotonic() + START_TIMEOUT
        while not self.page_url:
            line = child.readline(max(0.1, deadline - time.monotonic()))
            self.lines.append(line)
            if line.strip().startswith("echo:"):
                self.url = line.split(None, 1)[1].strip()
            elif line.strip().startswith("page:"):
                self.page_url = line.split(None, 1)[1].strip()
        lab.register(self)

    def stop(self, *, timeout: float = 5.0) -> None:
        if self.child is not None:
            self.child.stop(timeout, close_stdin=False)
        lab.unregister(self)

    def __repr__(self) -> str:
        return f"<python -m wslab serve {self.url}>"


def start_wslab_serve() -> WslabServe:
    """Start ``python -m wslab serve`` on a free port (stop it with ``.stop()``)."""
    return WslabServe()


def client_page(url: str) -> str:
    """The primer's ``client.html`` with its URL replaced by ``url`` (see CHANGES)."""
    if not isinstance(url, str) or not url or any(c in url for c in "'\"\\\r\n<>"):
        raise ValueError(f"url is the server's URL as the browser reaches it, got {url!r}")
    return source("client.html").replace(PRIMER_URL, f"'{url}'")


def page_for(node: NodeServer) -> str:
    """``client.html`` pointed at ``node`` as *your* browser reaches it (through Jupyter's
    proxy when the notebook runs under one); a short note when it is not running."""
    if not node or node.url is None:
        return f"<p>node server.js is not running: {html.escape(node.why or 'stopped')}</p>"
    return client_page(public_url.for_browser(node.url))


def side_by_side(node: NodeServer, cli: WslabServe, message: str = "hello") -> str:
    """Send ``message`` to both terminal servers with wslab's client; their answers and
    what each printed, as text."""
    out = []
    for name, server in (("node server.js", node), ("python -m wslab serve", cli)):
        url = server.url if server else None
        if not url:
            out.append(_("{name}: not running ({why})").format(
                name=name, why=getattr(server, "why", "")))
            continue
        server.log(0.05)  # what it printed before: not this conversation's
        client = connect(url)
        try:
            client.send(message)
            out.append(_("{name} at {url} answered {answer!r}, and printed:").format(
                name=name, url=url, answer=client.recv(timeout=5)))
        finally:
            client.close()
        printed: list[str] = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(
                "close" in ln or "关闭" in ln for ln in printed):
            printed += server.log(0.1)   # both print a line for the close: wait for it
        out += [f"    {line}" for line in printed]
    return "\n".join(out)


def conversation(target: Any, messages: tuple[str | bytes, ...] = ("hello", b"\x00\x01\x02")
                 ) -> TapTable | str:
    """wslab's client talks to ``target`` (a server or its URL) through a
    :class:`~wslab.net.tap.Tap`: each message, its answer, then a Close 1000; returns the
    tap's table of every frame both ways (a sentence when the server is not running)."""
    url = target if isinstance(target, str) else getattr(target, "url", None)
    if not url:
        return _("not running: {why}").format(why=getattr(target, "why", "") or _("no URL"))
    tap = Tap(url)
    try:
        client = connect(tap.url)
        try:
            for m in messages:
                client.send(m)
                client.recv(timeout=5)
        finally:
            client.close(1000, "bye")
        return tap.table()
    finally:
        tap.stop()


# --- the primer's claims, measured -------------------------------------------------------------

@dataclass
class Claim:
    """One thing the primer says, what was measured on each server, and what the RFC says."""

    claim: str
    where: str
    node: str
    wslab: str
    rfc: str
    measured: dict[str, Any] = field(default_factory=dict)


def _node_log(node: NodeServer) -> str:
    client = connect(node.url or "")
    try:
        node.log(0.5)
        client.send("hello")
        reply = client.recv(timeout=5)
    finally:
        client.close()
    line = next((ln for ln in node.log(1.0) if "收到消息" in ln), "(no log line)")
    return f"the log line is {line!r}; the reply was {reply!r}"


def _wslab_log(server: Any) -> str:
    client = connect(server.url)
    try:
        client.send("hello")
        client.recv(timeout=5)
    finally:
        client.close()
    seen = next((str(e) for e in reversed(server.events)
                 if e.kind == "message" and e.direction == "in"), "")
    return f"the event log shows the text: {seen}"


def _no_reconnect(url: str, restart: Callable[[], object]) -> str:
    client: Client = connect(url)
    try:
        restart()
        deadline = time.monotonic() + 5
        while client.state != State.CLOSED and time.monotonic() < deadline:
            time.sleep(0.02)
        closed_at = time.monotonic()
        while time.monotonic() < closed_at + 2.0 and client.state == State.CLOSED:
            time.sleep(0.05)
        return (f"after the restart the client is {client.state.name} (code "
                f"{client.close_code}) 2 s later: nothing reconnected it")
    finally:
        client.stop()


async def _offer(url: str, headers: dict[str, str]) -> bytes:
    conn, _request, head, _key = await open_websocket(url, headers=headers)
    await conn.close()
    return head


def _answer(url: str, headers: dict[str, str]) -> tuple[int | None, str]:
    head = lab.run(_offer(url, headers), timeout=10, what="a handshake")
    ext = [ln.split(b":", 1)[1].strip().decode("latin-1") for ln in head.split(b"\r\n")
           if ln.lower().startswith(b"sec-websocket-extensions:")]
    return hs.status_of(head), ", ".join(ext) or "none"


def _compression(url: str) -> str:
    status, ext = _answer(url, {"Sec-WebSocket-Extensions":
                                "permessage-deflate; client_max_window_bits, gzip"})
    return f"offered permessage-deflate and gzip: {status}, extensions accepted: {ext}"


def _origin(url: str) -> str:
    status, _ = _answer(url, {"Origin": "http://evil.example"})
    verdict = "accepted" if status == 101 else "refused"
    return f"a page of http://evil.example: {status} ({verdict})"


def _one_bad_frame(node: NodeServer) -> str:
    async def send_orphan() -> None:
        conn, _request, _head, _key = await open_websocket(node.url or "")
        await conn.send(fr.encode_frame(fr.Frame(fr.Opcode.CONTINUATION, b"orphan",
                                                 mask_key=os.urandom(4))))
        with contextlib.suppress(LabTimeout, OSError):
            await conn.read_exactly(1 << 16, timeout=3)
        await conn.close()
    lab.run(send_orphan(), timeout=15, what="one malformed frame")
    child = node.child
    if child is not None:
        with contextlib.suppress(children.ChildTimeout):
            child.wait(3)  # ws 8 without an 'error' listener ends the process at once
    if child is not None and not child.running:
        first = next((ln.strip() for ln in child.tail_lines(40) if "Error" in ln), "")
        node.restart()
        return (f"the process exited with status {child.returncode} ({first}); every client "
                "was cut off (restarted since)")
    return "the server is still running"


def _wslab_bad_frame(url: str) -> str:
    async def send_orphan() -> str:
        conn, _request, _head, _key = await open_websocket(url)
        await conn.send(fr.encode_frame(fr.Frame(fr.Opcode.CONTINUATION, b"orphan",
                                                 mask_key=os.urandom(4))))
        got = await conn.read_frame(timeout=3)
        await conn.close()
        return str(got[0]) if got else "TCP closed"
    return f"it answered {lab.run(send_orphan(), timeout=15)} and serves on"


def claims(node: NodeServer, server: Any) -> list[Claim]:
    """Measure the primer's claims on its Node server (``node``) and on a wslab server
    (``server``, from ``wslab.serve()``).  Restarts ``node`` twice (a few seconds).  When
    ``node`` is not running, its column says why and wslab's is still measured."""
    from ...net.server import serve
    live = bool(node) and node.url is not None
    url = node.url or ""

    def on_node(measure: Callable[[], str]) -> str:
        return measure() if live else f"not measured: node server.js is not running " \
                                      f"({node.why or 'stopped'})"
    out = [Claim(_("the server prints each message it receives: console.log('收到消息:', "
                   "message)"),
                 _("section 5"), on_node(lambda: _node_log(node)), _wslab_log(server),
                 _("5.6, 6.2: a message is text (UTF-8) or binary; in ws 8 `message` is a "
                   "Buffer (its bytes) with an isBinary flag, so console.log prints bytes; '+' "
                   "converts it with toString()"))]
    spare = serve(name="primer-claims")
    try:
        out.append(Claim(
            _("WebSocket has automatic reconnection (断线重连)"), _("sections 1 and 4"),
            on_node(lambda: _no_reconnect(url, node.restart)),
            _no_reconnect(spare.url, functools.partial(serve, name="primer-claims",
                                                       port=spare.port)),
            _("nothing in RFC 6455 reconnects; 7.2.3 asks a client that reconnects to back "
              "off (notebook 06); the browser API does not either")))
    finally:
        serve(name="primer-claims").stop()
    out.append(Claim(_("compression with Gzip and Deflate (消息压缩)"), _("section 4"),
                     on_node(lambda: _compression(url)), _compression(server.url),
                     _("RFC 7692 defines permessage-deflate, negotiated per connection and off "
                       "unless both sides agree; there is no gzip extension (notebook 08)")))
    out.append(Claim(_("cross-origin: connects across any domains (支持跨域)"), _("section 1"),
                     on_node(lambda: _origin(url)), _origin(server.url),
                     _("10.2: there is no CORS; a server checks Origin itself or any page may "
                       "connect with the user's cookies (notebook 09)")))
    out.append(Claim(_("server.js is a working server"), _("section 5"),
                     on_node(lambda: _one_bad_frame(node)), _wslab_bad_frame(server.url),
                     _("7.1.7: a broken frame fails that connection with 1002; ws 8 reports it "
                       "as an 'error' event, which without a listener ends the process")))
    return out
