"""ServerOptions (every serve() option, checked once), the process server's one call table,
and the one URL helper every kind of server uses."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

import wslab
from wslab.labs.hijack import AdmitWith
from wslab.net import public_url
from wslab.net.errors import LabTimeout
from wslab.net.server import LabServer, TokenAuth, serve
from wslab.net.server.options import ServerOptions
from wslab.net.server.process import ProcessServer
from wslab.net.server.process_calls import CALLS
from wslab.net.urls import ServerURLs

from .conftest import wait_until


def test_serve_keywords_are_the_options_with_the_same_defaults():
    params = inspect.signature(serve).parameters
    for f in dataclasses.fields(ServerOptions):
        assert f.name in params, f.name
        assert params[f.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[f.name].default == f.default, f.name
    extra = set(params) - set(ServerOptions.names())
    assert extra == {"options", "process", "handler", "timeout"}


@pytest.mark.parametrize(("changes", "named"), [
    ({"port": 70000}, "port is an integer 0-65535"),
    ({"port": True}, "got True"),
    ({"host": ""}, "host is an address string"),
    ({"name": ""}, "name is a non-empty string"),
    ({"ping_interval": 0}, "ping_interval is a number of seconds > 0 or None, got 0"),
    ({"handshake_timeout": None}, "handshake_timeout is a number of seconds > 0, got None"),
    ({"ack_session_ttl": True}, "ack_session_ttl is a number of seconds > 0, got True"),
    ({"events_max": 0}, "events_max is a positive integer, got 0"),
    ({"rate_limit": 2.5}, "rate_limit is a positive integer or None, got 2.5"),
    ({"send_buffer_max": -1}, "send_buffer_max is a positive integer or None, got -1"),
    ({"backplane": "http://x"}, "backplane is a Redis URL"),
    ({"auth": 42}, "auth is a token string, a TokenAuth or None, got int"),
    ({"origins": "http://a"}, "origins is a list of strings, got 'http://a'"),
    ({"subprotocols": ["chat", 3]}, "subprotocols is a list of strings, got 3 in it"),
    ({"tls": "yes"}, "tls is True or False, got 'yes'"),
    ({"responsive": 1}, "responsive is True or False, or None, got 1"),
])
def test_a_bad_option_is_a_value_error_naming_it_and_starts_nothing(changes, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        ServerOptions(**changes)
    with pytest.raises(ValueError, match=named.split(" ")[0]):
        serve(**{"name": "never-started", **changes})
    assert "never-started" not in wslab.servers()


def test_options_normalise_once_and_cross_to_a_child_as_json():
    opts = ServerOptions(origins=["http://a:1"], subprotocols=("chat",), auth="s3cret",
                         ping_interval=0.5)
    assert opts.origins == ("http://a:1",) and opts.auth == TokenAuth("s3cret")
    plain = json.loads(json.dumps(opts.to_plain()))  # really JSON
    assert plain["auth"] == {"token": "s3cret", "places": ["query", "header", "cookie"],
                             "query_param": "token", "cookie": "wslab_token"}
    assert ServerOptions.from_plain(plain) == opts
    assert ServerOptions.from_plain(ServerOptions().to_plain()) == ServerOptions()
    with pytest.raises(ValueError, match="no server option 'prot'"):
        ServerOptions.from_plain({"prot": 1})
    with pytest.raises(ValueError, match="no server option 'prot'"):
        opts.replace(prot=1)
    assert opts.replace(port=8080).port == 8080 and opts.port == 0
    with pytest.raises(ValueError, match="port"):
        opts.replace(port=-1)


def test_an_auth_with_rules_of_its_own_cannot_cross_to_a_child():
    guard = AdmitWith("t", places=("cookie",), decide=lambda *_: True)
    opts = ServerOptions(auth=guard)
    assert opts.auth is guard
    with pytest.raises(ValueError, match="auth of type AdmitWith cannot be sent"):
        opts.to_plain()
    with pytest.raises(ValueError, match="auth of type AdmitWith cannot be sent"):
        serve(name="never-started", auth=guard, process=True)
    assert "never-started" not in wslab.servers()


def test_serve_takes_options_or_keywords_not_both():
    opts = ServerOptions(name="opts-given", app_heartbeat=False)
    server = serve(opts, origins=[], auth=None)  # keywords at their defaults are fine
    try:
        assert isinstance(server, LabServer) and server.options is opts
        assert server.name == "opts-given" and server.app_heartbeat is False
    finally:
        server.stop()
    with pytest.raises(ValueError, match=r"give port= inside options="):
        serve(opts, port=1234)
    with pytest.raises(ValueError, match="options is a ServerOptions, got dict"):
        serve({"port": 0})  # type: ignore[call-overload]


def test_a_process_server_gets_the_same_options_through_the_table():
    server = serve(ServerOptions(name="opts-proc", auth="tok", subprotocols=["chat"]),
                   process=True)
    try:
        assert isinstance(server, ProcessServer) and server.options.auth == TokenAuth("tok")
        with pytest.raises(wslab.ConnectionFailed) as refused:
            wslab.connect(server.url)
        assert refused.value.status == 401  # auth is checked in the child
        with wslab.connect(server.url + "?token=tok", subprotocols=["chat"]) as client:
            assert client.subprotocol == "chat"
            client.send(b"\x00bytes")
            assert client.recv(timeout=5) == b"\x00bytes"
        assert server.broadcast(b"\xff") == 0  # bytes cross both ways
        assert any(e.kind == "message" and e.data == b"\x00bytes" for e in server.events)
    finally:
        server.stop()
    assert set(CALLS) >= {"events", "clients", "send", "broadcast", "close_client",
                          "drop_client", "on_message", "publish", "ack_broadcast", "backplane",
                          "stop"}


def test_one_url_helper_for_every_kind_of_server():
    lab_server = serve(name="urls-lab")
    proc_server = serve(name="urls-proc", process=True)
    try:
        for srv in (lab_server, proc_server):
            assert isinstance(srv, ServerURLs)
            p = srv.port
            assert (srv.url, srv.chat_url, srv.ack_url, srv.pubsub_url, srv.origin) == (
                f"ws://127.0.0.1:{p}/echo", f"ws://127.0.0.1:{p}/chat",
                f"ws://127.0.0.1:{p}/ack", f"ws://127.0.0.1:{p}/pubsub", f"http://127.0.0.1:{p}")
            public_url.set_public_url("/user/alice/")
            try:  # the browser's URLs go through the Jupyter proxy, for both kinds alike
                assert srv.page_url == f"/user/alice/proxy/{p}/"
                assert srv.browser_url("/chat") == f"/user/alice/proxy/{p}/chat"
                assert srv.url == f"ws://127.0.0.1:{p}/echo"
            finally:
                public_url.set_public_url(None)
    finally:
        proc_server.stop()
        lab_server.stop()


def test_the_url_helper_on_its_own():
    class Where(ServerURLs):
        def __init__(self, host: str, port: int, tls: bool) -> None:
            self.host, self.port, self.tls = host, port, tls

    assert Where("::", 9, True).url == "wss://[::1]:9/echo"
    assert Where("0.0.0.0", 9, True).origin == "https://127.0.0.1:9"
    with pytest.raises(ValueError, match="starts with '/'"):
        Where("127.0.0.1", 9, False).ws_route("echo")
    public_url.set_public_url("/user/bob/")
    try:
        assert Where("127.0.0.1", 9, True).page_url == "https://127.0.0.1:9/"  # TLS: direct
        assert Where("127.0.0.1", 9, False).page_url == "/user/bob/proxy/9/"
    finally:
        public_url.set_public_url(None)


def test_a_late_reply_is_not_taken_for_the_next_call():
    def slow_echo(conn, message):  # holds the child's loop while it sleeps
        import sys
        import time
        print("busy", file=sys.stderr, flush=True)
        time.sleep(1.5)
        conn.send(message)

    server = serve(name="late-reply", process=True)
    try:
        server.on_message(slow_echo)
        with wslab.connect(server.url) as client:
            client.send("x")
            wait_until(lambda: "busy" in server.stderr_tail, what="the handler running")
            server.timeout = 0.3
            with pytest.raises(LabTimeout):
                server.broadcast("late")  # answered only after the handler returns
            server.timeout = 10
            clients = server.clients  # the late broadcast reply (an int) is skipped
            assert [type(c).__name__ for c in clients] == ["ClientInfo"]
            assert client.recv(timeout=5) == "x"
            assert client.recv(timeout=5) == "late"
    finally:
        server.stop()
