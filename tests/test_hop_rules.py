"""The hop's pure rules (wslab.protocol.hop) and its port list (wslab.net.hop_ports).

The port checks run against this machine's real /proc: a socket this test process listens
on belongs to this process and its tree, never to another one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from wslab.net import hop_ports
from wslab.protocol import hop

CHROMIUM_REQUEST = [  # as Tornado hands them to the hop (names in its Title-Case)
    ("Host", "127.0.0.1:8888"), ("Connection", "Upgrade"), ("Pragma", "no-cache"),
    ("Upgrade", "websocket"), ("Origin", "http://127.0.0.1:8888"),
    ("Sec-Websocket-Version", "13"), ("User-Agent", "Chromium"),
    ("Cookie", "_xsrf=2|abc; username-127-0-0-1-8888=\"2|secret\"; wslab_token=t0k"),
    ("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-Websocket-Extensions", "permessage-deflate; client_max_window_bits"),
    ("Sec-Websocket-Protocol", "a.v1, b.v1"), ("Authorization", "token jupyter-secret"),
]


def test_route_paths_and_their_inverse():
    assert hop.route_path("/user/alice/", 41234, "/echo") == "/user/alice/wslab/41234/echo"
    assert hop.split_route("41234/echo", "") == (41234, "/echo")
    assert hop.split_route("41234", "path=/chat") == (41234, "/?path=/chat")
    assert hop.split_route("41234/", "a=1&b=2") == (41234, "/?a=1&b=2")
    for bad in ["", "echo", "0/echo", "041234/echo", "65536/x", "123456/x", "12 3/x",
                "41234/a b", "-1/x"]:
        with pytest.raises(ValueError, match="port"):
            hop.split_route(bad)
    for args in [("/user/alice", 1, "/"), ("/", 0, "/"), ("/", 70000, "/"), ("/", 1, "x"),
                 ("/", True, "/")]:
        with pytest.raises(ValueError):
            hop.route_path(*args)


def test_a_websocket_request_is_forwarded_with_the_offer_and_without_jupyters_credentials():
    head = hop.forward_request("GET", "/echo?x=1", CHROMIUM_REQUEST)
    lines = head.decode("latin-1").split("\r\n")
    assert head.endswith(b"\r\n\r\n")
    assert lines[0] == "GET /echo?x=1 HTTP/1.1"
    # the offer, the key, Host and Origin pass unchanged (RFC 6455 4.1; the server judges them)
    for name, value in CHROMIUM_REQUEST:
        if name in ("Host", "Origin", "Sec-Websocket-Key", "Sec-Websocket-Version",
                    "Sec-Websocket-Extensions", "Sec-Websocket-Protocol", "Pragma"):
            assert f"{name}: {value}" in lines
    # Jupyter's login cookie, its XSRF cookie and its token do not reach the kernel's server
    assert "Cookie: wslab_token=t0k" in lines
    assert "secret" not in head.decode() and "_xsrf" not in head.decode()
    assert not any(line.startswith("Authorization") for line in lines)
    # the hop writes the upgrade itself, once
    assert lines.count("Upgrade: websocket") == 1 and lines.count("Connection: Upgrade") == 1


def test_a_page_request_is_forwarded_for_one_response():
    headers = [("Host", "hub.example.org"), ("Connection", "keep-alive, X-Private"),
               ("Keep-Alive", "timeout=5"), ("X-Private", "hop-by-hop by Connection"),
               ("Accept", "text/html"), ("Cookie", "jupyterhub-user-alice=secret"),
               ("Content-Length", "0"), ("TE", "trailers")]
    text = hop.forward_request("HEAD", "/", headers).decode("latin-1")
    assert text.startswith("HEAD / HTTP/1.1\r\nHost: hub.example.org\r\nAccept: text/html\r\n")
    assert text.endswith("Connection: close\r\n\r\n")
    for gone in ("Keep-Alive", "X-Private", "Cookie", "Content-Length", "TE:", "keep-alive"):
        assert gone not in text, gone
    assert not hop.is_upgrade(headers) and hop.is_upgrade(CHROMIUM_REQUEST)
    assert hop.is_upgrade([("Connection", "keep-alive, Upgrade"), ("Upgrade", "WebSocket")])


@pytest.mark.parametrize(("method", "target", "headers", "match"), [
    ("POST", "/", [], "GET and HEAD"),
    ("GET", "echo", [], "starts with '/'"),
    ("GET", "/a b", [], "white space"),
    ("GET", "/", [("Bad Name", "x")], "header field"),
    ("GET", "/", [("X-Split", "a\r\nInjected: yes")], "header field"),
])
def test_what_the_hop_will_not_forward(method, target, headers, match):
    with pytest.raises(ValueError, match=match):
        hop.forward_request(method, target, headers)


def test_every_dropped_header_has_its_reason():
    assert all(name == name.lower() and reason for name, reason in hop.DROPPED.items())
    assert "RFC 7230 6.1" in hop.DROPPED["upgrade"]


# --- the port list -----------------------------------------------------------------
def test_a_kernel_lists_its_ports_only_where_a_hop_gave_it_a_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(hop_ports.ENV_DIR, raising=False)
    assert hop_ports.register(41234) is False  # no hop: nothing written anywhere
    monkeypatch.setenv(hop_ports.ENV_DIR, str(tmp_path))
    assert hop_ports.register(41234) and hop_ports.register(41235, "::1")
    assert hop_ports.register(41234)  # twice: the same list
    mine = tmp_path / f"{os.getpid()}.json"
    assert json.loads(mine.read_text()) == {
        "pid": os.getpid(), "ports": {"41234": "127.0.0.1", "41235": "::1"}}
    assert hop_ports.registered(tmp_path, os.getpid()) == {41234: "127.0.0.1", 41235: "::1"}
    assert oct(mine.stat().st_mode & 0o777) == "0o600"
    assert hop_ports.registered(tmp_path, 1) == {}  # another process listed nothing
    with pytest.raises(ValueError, match="1-65535"):
        hop_ports.register(0)
    # the Jupyter server stopped and took its folder: nothing to list, no error in a cell
    assert hop_ports.register(41236, directory=tmp_path / "gone") is False
    # a file that lies about its pid, or names a host that is not loopback, counts for nothing
    (tmp_path / "77.json").write_text(json.dumps({"pid": 78, "ports": {"1": "127.0.0.1"}}))
    (tmp_path / "79.json").write_text(json.dumps({"pid": 79, "ports": {"2": "10.0.0.1",
                                                                       "x": "127.0.0.1"}}))
    (tmp_path / "80.json").write_text("not json")
    assert hop_ports.registered(tmp_path, 77) == hop_ports.registered(tmp_path, 79) == \
        hop_ports.registered(tmp_path, 80) == {}


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="Linux /proc")
def test_the_listening_socket_must_belong_to_the_kernels_process_tree():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert hop_ports.owned_by(port, os.getpid()) is True
        # an ancestor's tree holds this process, so it holds the socket too
        assert hop_ports.owned_by(port, os.getppid()) is True
        # a sibling process (another kernel) does not hold it
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                 stdin=subprocess.PIPE)
        try:
            assert hop_ports.owned_by(port, child.pid) is False
        finally:
            child.stdin.close()
            child.wait(10)
    assert hop_ports.owned_by(port, os.getpid()) is False  # closed: nobody listens


def test_without_proc_the_list_alone_decides(tmp_path):
    assert hop_ports.owned_by(80, 1, proc=tmp_path) is None


# --- browser URLs through the hop (wslab.net.public_url) ------------------------------
@pytest.fixture
def hop_env(tmp_path, monkeypatch):
    from wslab.net import public_url
    monkeypatch.setenv(hop_ports.ENV_DIR, str(tmp_path))
    public_url.set_public_url(None)
    yield tmp_path
    public_url.set_public_url(None)


def test_browser_urls_take_the_hop_when_the_jupyter_server_runs_it(hop_env, server):
    from wslab.net import public_url
    from wslab.ui import BrowserClient
    route = public_url.set_public_url("/user/alice/")
    assert route.via == "wslab" and "wslab's hop" in str(route) and public_url.hop_available()
    assert server.browser_url("/chat") == f"/user/alice/wslab/{server.port}/chat"
    assert server.page_url == f"/user/alice/wslab/{server.port}/"
    assert server.url == f"ws://127.0.0.1:{server.port}/echo"  # kernel-side: direct
    assert hop_ports.registered(hop_env, os.getpid()) == {server.port: "127.0.0.1"}
    bc = BrowserClient(server)
    try:
        assert bc.url == f"/user/alice/wslab/{server.port}/echo"
    finally:
        bc.close_widget()
    # the other route on request, and the inverse of both for a browser on this machine
    assert public_url.for_browser(server.url, via="jupyter-server-proxy") == \
        f"/user/alice/proxy/{server.port}/echo"
    for segment in ("wslab", "proxy"):
        assert public_url.direct(f"wss://hub.example.org/user/alice/{segment}/41234/echo") == \
            "ws://127.0.0.1:41234/echo"
    with pytest.raises(ValueError, match="via"):
        public_url.for_browser(server.url, via="nginx")
    assert public_url.set_public_url("/user/alice/", via="jupyter-server-proxy").via == \
        "jupyter-server-proxy"
    assert server.page_url == f"/user/alice/proxy/{server.port}/"


def test_a_kernel_of_a_hub_with_the_hop_takes_it(hop_env, monkeypatch):
    from wslab.net import public_url
    hub = {"JUPYTERHUB_SERVICE_PREFIX": "/user/bob/", hop_ports.ENV_DIR: str(hop_env)}
    route = public_url.detect(in_kernel=True, environ=hub)
    assert (route.base, route.via) == ("/user/bob/", "wslab")
    del hub[hop_ports.ENV_DIR]
    assert public_url.detect(in_kernel=True, environ=hub).via == "jupyter-server-proxy"
    monkeypatch.setattr(public_url, "_proxy_installed", lambda: False)
    route = public_url.detect(in_kernel=True, environ=hub)
    assert not route.proxied and "wslab.net.jupyter_ext" in route.source
