"""The server package's layout and its one interface (ServerLike) for both kinds of server."""

from __future__ import annotations

import ast
import inspect
import json
import typing

import pytest

import wslab
import wslab.net.server as server_pkg
from wslab.net.server import LabServer, ServerLike
from wslab.net.server.process import ProcessServer
from wslab.net.server.routes import (
    ROUTES,
    AckSocket,
    ChatSocket,
    EchoSocket,
    LabSocket,
    PubSubSocket,
)

from .conftest import ROOT


def test_init_only_re_exports():
    tree = ast.parse((ROOT / "wslab/net/server/__init__.py").read_text("utf-8"))
    for node in tree.body[1:]:  # after the docstring
        ok = isinstance(node, (ast.Import, ast.ImportFrom)) or (
            isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"])
        assert ok, f"line {node.lineno}: {ast.unparse(node)[:60]}"
    for name in server_pkg.__all__:
        assert hasattr(server_pkg, name), name


def test_one_handler_class_per_route():
    assert dict(ROUTES) == {"/echo": EchoSocket, "/chat": ChatSocket, "/ack": AckSocket,
                            "/pubsub": PubSubSocket}
    assert all(issubclass(cls, LabSocket) for _, cls in ROUTES)
    # no route is chosen by comparing strings any more
    src = inspect.getsource(LabSocket)
    assert "route ==" not in src and "self.route" not in src


def _members(proto: type) -> dict[str, str]:
    """name -> 'method' | 'property' | 'attribute' for each member of a Protocol class."""
    out = {name: "attribute" for name in proto.__annotations__}
    for name, value in vars(proto).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            out[name] = "property"
        elif inspect.isfunction(value):
            out[name] = "method"
    return out


def _compatible(want: inspect.Signature, got: inspect.Signature) -> str | None:
    """None if a call valid for ``want`` is valid for ``got``, else why not."""
    have = got.parameters
    for name, p in want.parameters.items():
        q = have.get(name)
        if q is None:
            return f"no parameter {name!r}"
        if q.kind != p.kind:
            return f"{name!r} is {q.kind.description}, not {p.kind.description}"
        if p.default is not inspect.Parameter.empty and q.default != p.default:
            return f"{name!r} defaults to {q.default!r}, not {p.default!r}"
    for name, q in have.items():
        if name not in want.parameters and q.default is inspect.Parameter.empty \
                and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD):
            return f"extra required parameter {name!r}"
    return None


@pytest.mark.parametrize("cls", [LabServer, ProcessServer])
def test_both_servers_have_every_member_of_serverlike(cls):
    members = _members(ServerLike)
    assert {"url", "page_url", "port", "events", "clients", "send", "broadcast",
            "close_client", "stop", "on_message"} <= set(members)
    for name, kind in members.items():
        if kind == "attribute":
            continue  # set in __init__: checked on live servers below
        assert hasattr(cls, name), f"{cls.__name__} has no {name}"
        value = inspect.getattr_static(cls, name)
        if kind == "property":
            assert isinstance(value, property), f"{cls.__name__}.{name} is not a property"
        else:
            why = _compatible(inspect.signature(getattr(ServerLike, name)),
                              inspect.signature(value))
            assert why is None, f"{cls.__name__}.{name}: {why}"


def test_live_servers_satisfy_serverlike():
    lab_server = wslab.serve(name="layout-lab")
    proc_server = wslab.serve(name="layout-proc", process=True)
    try:
        for server in (lab_server, proc_server):
            assert isinstance(server, ServerLike)
            hints = typing.get_type_hints(ServerLike)
            for name, kind in _members(ServerLike).items():
                if kind == "attribute":
                    assert isinstance(getattr(server, name), hints[name]), name
            assert server.url.endswith(f":{server.port}/echo")
            assert server.page_url.endswith(f":{server.port}/")
            assert wslab.servers()[server.name] is server
        with wslab.connect(proc_server.url) as client:
            client.send("through the facade")
            assert client.recv(timeout=5) == "through the facade"
    finally:
        proc_server.stop()
        lab_server.stop()
    assert "layout-lab" not in wslab.servers() and "layout-proc" not in wslab.servers()


def test_on_message_replaces_echo_and_chat_but_not_the_protocol_routes(server):
    @server.on_message
    def shout(conn, message):
        conn.send(message.upper())

    with wslab.connect(server.url) as echo, wslab.connect(server.chat_url) as chat:
        echo.send("hi")
        chat.send("hey")
        assert echo.recv(timeout=5) == "HI"
        assert chat.recv(timeout=5) == "HEY"
    with wslab.connect(server.pubsub_url) as sub:
        sub.send(json.dumps({"op": "sub", "channel": "news"}))
        assert json.loads(sub.recv(timeout=5))["op"] == "subscribed"
    with wslab.connect(server.ack_url) as ack:
        ack.send(json.dumps({"op": "hello", "session": "s1", "last_seen": 0}))
        assert json.loads(ack.recv(timeout=5))["op"] == "welcome"
    server.on_message(None)
