"""The server package talks through public interfaces: ServerContext (what handlers and
pages may ask of a server), ConnectionOwner and ConnectionHandler, and no import circle."""

from __future__ import annotations

import ast
import inspect

import pytest

import wslab
from wslab.net.server.connection import ConnectionHandler, ConnectionOwner
from wslab.net.server.context import ServerContext
from wslab.net.server.lab_server import LabServer
from wslab.net.server.routes import LabSocket

from .conftest import ROOT
from .test_server_layout import _members


@pytest.mark.parametrize(("proto", "cls"), [(ServerContext, LabServer),
                                            (ConnectionOwner, LabServer),
                                            (ConnectionHandler, LabSocket)])
def test_implementations_have_every_member(proto, cls):
    members = _members(proto)
    assert members
    for name, kind in members.items():
        if kind == "method":
            want = list(inspect.signature(getattr(proto, name)).parameters)
            got = list(inspect.signature(getattr(cls, name)).parameters)
            assert got[:len(want)] == want, f"{cls.__name__}.{name}{got} vs {want}"
        elif not hasattr(cls, name):  # an attribute set in __init__ (checked live below)
            assert cls is not LabSocket or name in {"ws_connection", "request"}, name


def test_a_live_server_answers_every_context_property():
    server = wslab.serve(name="context-live")
    try:
        for name, kind in _members(ServerContext).items():
            if kind == "property":
                getattr(server, name)  # raises if missing
        assert server.admission.port == server.port != 0
        assert server.event_log is server.event_log
    finally:
        server.stop()


def _imports(path):
    tree = ast.parse(path.read_text("utf-8"))
    out = set()
    for node in ast.walk(tree):  # TYPE_CHECKING imports included
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out |= {node.module} if node.module else {a.name for a in node.names}
    return out


@pytest.mark.parametrize("name", ["routes", "connection", "pages", "context", "admission"])
def test_handlers_and_pages_never_import_the_server(name):
    assert "lab_server" not in _imports(ROOT / f"wslab/net/server/{name}.py")


def test_no_import_circle_among_the_modules_a_labserver_is_made_of():
    pkg = ROOT / "wslab/net/server"
    graph = {p.stem: _imports(p) & {q.stem for q in pkg.glob("*.py")}
             for p in pkg.glob("*.py") if p.stem != "__init__"}
    seen: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(mod, path):
        seen[mod] = 1
        for dep in graph.get(mod, ()):
            assert seen.get(dep) != 1, f"import circle: {' -> '.join([*path, dep])}"
            if dep not in seen:
                visit(dep, [*path, dep])
        seen[mod] = 2

    visit("lab_server", ["lab_server"])
    assert {"routes", "connection", "pages", "context", "admission"} <= set(seen)


def test_number_clients_from(server):
    server.number_clients_from(500)
    with wslab.connect(server.url) as c:
        c.send("hi")
        assert c.recv(timeout=5) == "hi"
        assert [info.id for info in server.clients] == [500]
        with pytest.raises(ValueError, match="in use"):
            server.number_clients_from(500)
    for bad in (0, -3, True, "7"):
        with pytest.raises(ValueError, match="at least 1"):
            server.number_clients_from(bad)


def test_allow_origin_and_allow_host_replace_the_rules(server):
    before = server.admission
    server.allow_origin("http://lab.example:9000")
    server.allow_host("teacher.local")
    assert server.admission is not before
    assert "http://lab.example:9000" in server.origins
    assert server.admission.host_allowed(f"teacher.local:{server.port}")[0]
    assert not before.host_allowed(f"teacher.local:{server.port}")[0]
    with pytest.raises(ValueError, match="host name"):
        server.allow_host("teacher.local:80")
