"""The Tornado fence: Tornado's private names live in wslab/net/_tornado.py only.

(a) every private name wslab uses still exists in the installed Tornado with the
shape wslab relies on (checked on the classes and on a live loopback
connection), so a Tornado upgrade fails here, loudly, in one place;
(b) the undocumented hooks wslab overrides (``periodic_ping``, ``get_websocket_protocol``,
``WebSocketHandler.get``, the client connection's ``on_ping``/``on_pong`` and constructor,
``HTTPServer.handle_stream``) and the ``ws_connection`` life cycle keep the shape wslab
assumes, so an upgrade that changes one fails here;
(c) no other module of wslab, no test and no benchmark touches a Tornado private name
(AST scan); this file alone is exempt.
"""

from __future__ import annotations

import ast
import functools
import inspect
import pathlib
import re
import socket
import sys

import pytest
import tornado
import tornado.http1connection
import tornado.httpserver
import tornado.iostream
import tornado.tcpserver
import tornado.util
import tornado.web
import tornado.websocket

import wslab
from wslab.net import _tornado
from wslab.net import loop as lab

from .conftest import ROOT, wait_until

WSLAB = ROOT / "wslab"
FENCE = WSLAB / "net" / "_tornado.py"


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


# --- (a) the names exist, with the expected shape ------------------------------------------

def test_module_level_private_names():
    params = _tornado.WebSocketParams(ping_interval=None, ping_timeout=None,
                                      max_message_size=10, compression_options=None)
    assert params.max_message_size == 10
    key, data = b"\x37\xfa\x21\x3d", bytes(range(256)) * 3
    want = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert tornado.util._websocket_mask is _tornado.websocket_mask
    assert _tornado.websocket_mask(key, data) == want  # RFC 6455 5.3


@pytest.mark.parametrize(("owner", "name", "params"), [
    (tornado.websocket.WebSocketProtocol, "_run_callback", ["self", "callback", "args", "kwargs"]),
    (tornado.websocket.WebSocketProtocol, "_abort", ["self"]),
    (tornado.websocket.WebSocketProtocol13, "_write_frame",
     ["self", "fin", "opcode", "data", "flags"]),
    (tornado.websocket.WebSocketProtocol13, "_send_pong", ["self", "data"]),
    (tornado.websocket.WebSocketProtocol13, "_create_compressors",
     ["self", "side", "agreed_parameters", "compression_options"]),
    (tornado.websocket.WebSocketProtocol13, "_receive_frame", ["self"]),
    (tornado.tcpserver.TCPServer, "_handle_connection", ["self", "connection", "address"]),
])
def test_private_methods_keep_their_signature(owner, name, params):
    fn = getattr(owner, name)
    assert callable(fn)
    assert _params(fn) == params
    if name == "_receive_frame":
        assert inspect.iscoroutinefunction(fn)


def test_the_receive_loop_still_calls_receive_frame_and_counts_wire_bytes():
    # Protocol13 binds a subclass's receive_frame under _receive_frame; Tornado's loop
    # must call it (and yield to other connections by _wire_bytes_in).
    src = inspect.getsource(tornado.websocket.WebSocketProtocol13._receive_frame_loop)
    assert "self._receive_frame()" in src
    assert "self._wire_bytes_in" in src


def test_protocol13_aliases_are_tornados_methods():
    P13 = tornado.websocket.WebSocketProtocol13
    assert _tornado.Protocol13.write_frame is P13._write_frame
    assert _tornado.Protocol13.send_pong is P13._send_pong
    assert _tornado.Protocol13.run_callback is tornado.websocket.WebSocketProtocol._run_callback
    assert _tornado.Protocol13.abort is tornado.websocket.WebSocketProtocol._abort
    from wslab.net.server.strict import StrictProtocol
    assert StrictProtocol._receive_frame is StrictProtocol.receive_frame


def test_protocol13_public_names_do_not_shadow_tornado():
    # If Tornado ever adds a method called write_frame, abort, count_in ..., this says so.
    own = {n for n in vars(_tornado.Protocol13) if not n.startswith("__")}
    assert {"write_frame", "run_callback", "abort", "count_in"} <= own
    for name in own - {"_create_compressors", "_abc_impl"}:  # (_abc_impl: ABCMeta's)
        assert not hasattr(tornado.websocket.WebSocketProtocol13, name), name


def _live_protocol(server):
    conns = list(server._conns.values())
    assert len(conns) == 1
    return conns[0]._handler.ws_connection


def test_private_attributes_on_a_live_connection():
    with wslab.serve(name="fence", compression=True) as server, \
            wslab.connect(server.url, compression=True) as client:
        client.send("hello fence")
        assert client.recv(timeout=5) == "hello fence"
        client.ping(b"p")

        def look():
            proto = _live_protocol(server)
            stream = proto.stream
            return {
                "type": type(proto),
                "compressor": proto._compressor,
                "decompressor": proto._decompressor,
                "received_pong": proto._received_pong,
                "wire": proto._wire_bytes_in,
                "message": proto._message_bytes_in,
                "stream": type(stream),
                "buffer_len": len(stream._write_buffer),
                "size": _tornado.write_buffer_size(stream),
            }
        got = lab.call(look)
    assert issubclass(got["type"], _tornado.Protocol13)
    assert hasattr(got["compressor"], "compress")
    assert got["decompressor"] is None  # dropped: wslab inflates (negotiated())
    assert isinstance(got["received_pong"], bool)
    assert isinstance(got["wire"], int) and got["wire"] >= 6 + len("hello fence")
    assert isinstance(got["message"], int) and got["message"] >= len("hello fence")
    assert got["stream"] is tornado.iostream.IOStream
    assert got["buffer_len"] == got["size"] == 0


def test_write_buffer_is_none_once_closed_and_write_buffer_size_says_zero():
    a, b = socket.socketpair()
    b.close()

    def run():
        stream = tornado.iostream.IOStream(a)
        assert len(stream._write_buffer) == 0
        stream.close()
        return stream._write_buffer, _tornado.write_buffer_size(stream)
    buffer, size = lab.call(run)
    assert buffer is None  # why write_buffer_size exists (the notebook 06 TypeError)
    assert size == 0


def test_listening_port_of_app_listen():
    async def run():
        server = tornado.web.Application([]).listen(0, address="127.0.0.1")
        try:
            assert all(isinstance(s, socket.socket) for s in server._sockets.values())
            return _tornado.listening_port(server), \
                next(iter(server._sockets.values())).getsockname()[1]
        finally:
            server.stop()
    port, bound = lab.run(run())
    assert 0 < port < 65536 and port == bound


def test_private_names_table_is_complete_and_true():
    """Every name listed in _tornado.PRIVATE_NAMES exists on its owner (class or live instance),
    and every private name _tornado.py touches is listed."""
    with wslab.serve(name="fence2") as server, wslab.connect(server.url) as client:
        wait_until(lambda: len(server.clients) == 1, what="one client")
        proto = lab.call(_live_protocol, server)
        stream = proto.stream
        listed = set()
        for owner, names in _tornado.PRIVATE_NAMES.items():
            module, _, cls = owner.partition(".")[2].partition(".")
            obj = getattr(getattr(tornado, module), cls) if cls else getattr(tornado, module)
            live = {tornado.websocket.WebSocketProtocol13: proto,
                    tornado.websocket.WebSocketProtocol: proto,
                    tornado.iostream.IOStream: stream,
                    tornado.http1connection.HTTP1Connection: proto.handler.request.connection,
                    tornado.tcpserver.TCPServer: tornado.tcpserver.TCPServer()}.get(obj)
            for name in names:
                listed.add(name)
                assert hasattr(obj, name) or (live is not None and hasattr(live, name)), \
                    f"{owner}.{name} is gone from Tornado {tornado.version}"
        client.close()
    used = {n for n in _private_names_in(FENCE) if n in _tornado_private_names()}
    assert used <= listed, f"_tornado.py uses unlisted private names: {sorted(used - listed)}"


# --- (b) the undocumented hooks wslab overrides ------------------------------------------------

def _source(fn) -> str:
    return inspect.getsource(fn)


def test_periodic_ping_is_one_task_per_connection():
    """LabProtocol replaces ``periodic_ping`` with its own loop: Tornado (>= 6.5) must start it
    once per connection as a task, not call it on every tick as 6.4's PeriodicCallback did."""
    P13 = tornado.websocket.WebSocketProtocol13
    assert inspect.iscoroutinefunction(P13.periodic_ping) and _params(P13.periodic_ping) == ["self"]
    start = _source(P13.start_pinging)
    assert "create_task(self.periodic_ping())" in start
    # what LabProtocol.periodic_ping reads: the interval (a property), the raw params, the state
    assert isinstance(inspect.getattr_static(P13, "ping_interval"), property)
    assert "self.params = params" in _source(tornado.websocket.WebSocketProtocol.__init__) or \
        "self.params = params" in _source(P13.__init__)
    assert _params(P13.is_closing) == ["self"]
    from wslab.net.server.routes import LabProtocol
    assert inspect.iscoroutinefunction(LabProtocol.periodic_ping)
    assert _params(LabProtocol.periodic_ping) == ["self"]


def test_the_handler_builds_its_protocol_through_get_websocket_protocol():
    H = tornado.websocket.WebSocketHandler
    assert _params(H.get_websocket_protocol) == ["self"]
    assert "self.ws_connection = self.get_websocket_protocol()" in _source(H.get)
    assert inspect.iscoroutinefunction(H.get) and _params(H.get) == ["self", "args", "kwargs"]
    # LabProtocol(handler, mask_outgoing, params), as Tornado's own method builds it
    assert _params(tornado.websocket.WebSocketProtocol13.__init__) == [
        "self", "handler", "mask_outgoing", "params"]
    assert re.search(r"WebSocketProtocol13\(self, (mask_outgoing=)?False, (params=)?params\)",
                     _source(H.get_websocket_protocol))
    from wslab.net.server.routes import LabSocket
    assert _params(LabSocket.get_websocket_protocol) == ["self"]


def test_the_client_connection_hooks_and_constructor():
    C = tornado.websocket.WebSocketClientConnection
    assert _params(C.on_ping) == _params(C.on_pong) == ["self", "data"]
    init = _params(C.__init__)
    assert init[:2] == ["self", "request"]
    assert {"on_message_callback", "subprotocols", "compression_options",
            "max_message_size"} <= set(init)
    proto = _source(tornado.websocket.WebSocketProtocol13._handle_message)
    assert "self.handler.on_ping" in proto and "self.handler.on_pong" in proto


def test_http_server_handle_stream():
    assert _params(tornado.httpserver.HTTPServer.handle_stream) == ["self", "stream", "address"]


def test_ws_connection_life_cycle_on_a_live_connection():
    """``handler.ws_connection`` is None before the upgrade, wslab's protocol while the
    connection lives (what Connection and the routes read), None again once it closed."""
    assert re.search(r"self\.ws_connection(: [^=]+)? = None",
                     _source(tornado.websocket.WebSocketHandler.__init__))
    with wslab.serve(name="fence-life") as server:
        client = wslab.connect(server.url)
        wait_until(lambda: len(server.clients) == 1, what="one client")

        def handler():
            (conn,) = server._conns.values()
            return conn._handler
        h = lab.call(handler)
        from wslab.net.server.routes import LabProtocol
        assert isinstance(lab.call(lambda: h.ws_connection), LabProtocol)
        client.close()
        wait_until(lambda: lab.call(lambda: h.ws_connection) is None, timeout=10,
                   what="ws_connection set to None after the close")


# --- (c) nobody else touches them ---------------------------------------------------------------

@functools.cache
def _tornado_private_names() -> frozenset[str]:
    """Every underscore name Tornado's own source defines or uses as an attribute."""
    names = set()
    for path in pathlib.Path(tornado.__file__).parent.rglob("*.py"):
        if "test" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                name = node.id
            else:
                continue
            if name.startswith("_") and not name.startswith("__") and name != "_":
                names.add(name)
    return frozenset(names)


def _private_names_in(path: pathlib.Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            out.add(node.attr)
        elif isinstance(node, ast.alias) and node.name.rsplit(".", 1)[-1].startswith("_"):
            out.add(node.name.rsplit(".", 1)[-1])
    return out


#: Names Tornado uses privately that are ALSO wslab's own attributes, reached on a wslab
#: object other than ``self`` (LabServer._log and LabServer._on_message from the routes).
#: The test below checks that wslab defines each of them itself.
WSLAB_OWN = {"_log", "_on_message"}


def _chain_root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _tornado_classes(trees: dict[pathlib.Path, ast.Module]) -> set[str]:
    """Names of wslab classes deriving (directly or through wslab classes) from Tornado's."""
    found: set[str] = set()
    tornado_names: set[str] = {"Protocol13"}  # the fence's own Tornado subclass
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tornado"):
                tornado_names |= {a.asname or a.name for a in node.names}
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or node.name in found:
                    continue
                for base in node.bases:
                    tail = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                    if _chain_root(base) == "tornado" or tail in tornado_names or tail in found:
                        found.add(node.name)
                        changed = True
                        break
    return found


def _import_finding(node: ast.AST) -> str | None:
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tornado"):
        names = [a.name for a in node.names if a.name.startswith("_")]
        return f"imports {', '.join(names)} from {node.module}" if names else None
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.startswith("tornado")
                 and any(part.startswith("_") for part in a.name.split("."))]
        return f"imports {', '.join(names)}" if names else None
    return None


def _attribute_finding(node: ast.Attribute, private: set[str],
                       in_tornado_class: bool) -> str | None:
    if not node.attr.startswith("_") or node.attr.startswith("__"):
        return None
    if _chain_root(node) == "tornado":
        return f"uses {ast.unparse(node)}"
    if node.attr not in private or _chain_root(node) in sys.stdlib_module_names:
        return None  # (zlib._Decompress is zlib's, even if Tornado names it too)
    on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
    if on_self and in_tornado_class:
        return f"self.{node.attr} on a Tornado subclass is Tornado's"
    if not on_self and node.attr not in WSLAB_OWN:
        return f"uses Tornado's private {ast.unparse(node)}"
    return None


def _finding(node: ast.AST, private: set[str], in_tornado_class: bool) -> str | None:
    """What is wrong with ``node`` (one AST node, not its children), or None."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return _import_finding(node)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if in_tornado_class and node.name in private:
            return f"a Tornado subclass defines Tornado's private {node.name}"
        return None
    if isinstance(node, ast.Attribute):
        return _attribute_finding(node, private, in_tornado_class)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr") \
            and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
            and node.args[1].value in private:
        return f"{node.func.id}(..., {node.args[1].value!r})"
    return None


def _violations(path: pathlib.Path, tree: ast.Module, private: set[str],
                tornado_classes: set[str]) -> list[str]:
    rel = path.relative_to(ROOT)
    bad = []

    def visit(node: ast.AST, in_tornado_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            what = _finding(child, private, in_tornado_class)
            if what is not None:
                bad.append(f"{rel}:{child.lineno}: {what}")
            inside = child.name in tornado_classes if isinstance(child, ast.ClassDef) \
                else in_tornado_class
            visit(child, inside)

    visit(tree, False)
    return bad


def _wslab_trees() -> dict[pathlib.Path, ast.Module]:
    return {p: ast.parse(p.read_text("utf-8")) for p in sorted(WSLAB.rglob("*.py"))}


def _other_trees() -> dict[pathlib.Path, ast.Module]:
    """tests/ (this file aside: it checks the fence) and bench/."""
    paths = sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    return {p: ast.parse(p.read_text("utf-8")) for p in paths
            if p != pathlib.Path(__file__).resolve()}


def test_only_the_fence_touches_tornado_private_names():
    private = _tornado_private_names()
    assert {"_write_frame", "_write_buffer", "_websocket_mask"} <= private  # the scan sees them
    trees = _wslab_trees()
    others = _other_trees()
    assert any(p.parent.name == "peers" for p in others) and len(others) > 40
    classes = _tornado_classes({**trees, **others})
    assert {"StrictProtocol", "LabProtocol", "LabSocket", "EchoSocket"} <= classes
    bad = []
    for path, tree in {**trees, **others}.items():
        if path != FENCE:
            bad += _violations(path, tree, private, classes)
    assert not bad, "Tornado private names outside wslab/net/_tornado.py:\n" + "\n".join(bad)


def test_the_scan_catches_each_kind_of_use(tmp_path):
    """The scan is not vacuous: each way of reaching a private name is reported."""
    src = '''
import tornado.websocket
from tornado.util import _websocket_mask
class P(tornado.websocket.WebSocketProtocol13):
    async def _receive_frame(self):
        self._wire_bytes_in += 1
def send(proto, stream):
    proto._write_frame(True, 1, b"")
    n = len(stream._write_buffer)
    getattr(proto, "_compressor")
    return tornado.websocket._WebSocketParams
'''
    path = ROOT / "wslab" / "_fence_probe.py"  # a path under the tree, never written
    tree = ast.parse(src)
    private = _tornado_private_names()
    classes = _tornado_classes({path: tree})
    bad = _violations(path, tree, private, classes)
    text = "\n".join(bad)
    for needle in ("_websocket_mask", "defines Tornado's private _receive_frame",
                   "self._wire_bytes_in", "proto._write_frame", "stream._write_buffer",
                   "'_compressor'", "tornado.websocket._WebSocketParams"):
        assert needle in text, (needle, text)


def test_allowed_shared_names_are_wslabs_own():
    defined = set()
    for tree in _wslab_trees().values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id == "self":
                defined.add(node.attr)
    assert defined >= WSLAB_OWN
    from wslab.net.server import LabServer
    server = LabServer.__init__.__code__.co_names
    assert all(name in server for name in WSLAB_OWN)


def test_tornado_is_pinned_from_6_6_below_the_next_major():
    """6.6 is the floor: ``_send_pong`` (at most one pong outstanding) first appears there;
    6.5 brought ``periodic_ping`` as one task and the ping timeout clamped to the interval.
    With Tornado 6.5.10, wslab.net._tornado fails to import."""
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    env = (ROOT / "environment.yml").read_text("utf-8")
    assert '"tornado>=6.6,<7"' in pyproject
    assert "tornado>=6.6,<7" in env
    assert (6, 6) <= tornado.version_info[:2] < (7, 0)
