"""wslab.net.public_url: which URL a browser gets, in each setting (no browser needed).

Real parts: the detection reads a real ``jpserver-<pid>.json`` through jupyter_server's own
``list_running_servers()``, and a real LabServer answers the proxied route's Origin/Host pair.
"""

from __future__ import annotations

import json
import os

import pytest

import wslab
from wslab.net import public_url
from wslab.ui import BrowserClient


@pytest.fixture(autouse=True)
def _fresh_route():
    public_url.set_public_url(None)
    yield
    public_url.set_public_url(None)


def test_a_plain_script_gets_direct_urls(server):
    route = public_url.route()
    assert not route.proxied and "not inside a Jupyter kernel" in route.source
    assert server.page_url == f"http://127.0.0.1:{server.port}/"
    assert server.browser_url("/chat") == f"ws://127.0.0.1:{server.port}/chat"


def test_set_public_url_routes_browser_urls_and_leaves_kernel_urls_direct(server):
    public_url.set_public_url("/user/alice")  # the trailing slash is added
    assert server.page_url == f"/user/alice/proxy/{server.port}/"
    assert server.browser_url() == f"/user/alice/proxy/{server.port}/echo"
    assert server.url == f"ws://127.0.0.1:{server.port}/echo"  # kernel-side: direct
    public_url.set_public_url("https://hub.example.org/user/alice/")
    assert server.page_url == f"https://hub.example.org/user/alice/proxy/{server.port}/"
    assert server.browser_url("/chat") == \
        f"wss://hub.example.org/user/alice/proxy/{server.port}/chat"
    assert public_url.for_browser(f"ws://localhost:{server.port}/pubsub?token=t") == \
        f"wss://hub.example.org/user/alice/proxy/{server.port}/pubsub?token=t"
    assert public_url.for_browser("wss://example.org/feed") == "wss://example.org/feed"
    public_url.set_public_url("direct")
    assert server.page_url == f"http://127.0.0.1:{server.port}/"


def test_a_tls_server_or_a_lan_address_cannot_go_through_the_proxy():
    public_url.set_public_url("/user/alice/")
    # jupyter-server-proxy dials localhost in plain ws://: wss and other interfaces stay direct
    assert public_url.ws_url("wss://127.0.0.1:9/echo", 9, "/echo", tls=True) == \
        "wss://127.0.0.1:9/echo"
    assert public_url.http_url("http://192.168.1.20:9", 9, "/", host="192.168.1.20") == \
        "http://192.168.1.20:9/"
    assert public_url.http_url("http://0.0.0.0:9", 9, "/", host="0.0.0.0") == \
        "/user/alice/proxy/9/"


@pytest.mark.parametrize("bad", ["user/alice/", "ftp://hub/user/", "https:///nohost", ""])
def test_a_bad_public_url_is_a_clear_value_error(bad):
    with pytest.raises(ValueError, match="public URL"):
        public_url.set_public_url(bad)


def test_jupyterhub_prefix_and_public_url_in_a_kernel():
    hub = {"JUPYTERHUB_SERVICE_PREFIX": "/user/bob/", "JUPYTERHUB_PUBLIC_URL": ""}
    route = public_url.detect(in_kernel=True, environ=hub)
    assert route.base == "/user/bob/" and "JUPYTERHUB_SERVICE_PREFIX" in route.source
    hub["JUPYTERHUB_PUBLIC_URL"] = "https://hub.example.org/user/bob/"
    assert public_url.detect(in_kernel=True, environ=hub).base == \
        "https://hub.example.org/user/bob/"
    # the same variables outside a kernel (a hub terminal running a script): direct
    assert not public_url.detect(in_kernel=False, environ=hub).proxied
    assert public_url.detect(in_kernel=False, environ={"WSLAB_PUBLIC_URL": "/x/"}).base == "/x/"


def test_the_jupyter_server_that_started_the_kernel_is_found_by_its_runtime_file(
        tmp_path, monkeypatch):
    # jupyter_server writes jpserver-<pid>.json into the runtime dir; the kernel's parent
    # process is that server.  Here the "server" is this test's parent process.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    info = {"base_url": "/lab-base/", "pid": os.getppid(), "port": 8899, "hostname": "127.0.0.1",
            "url": "http://127.0.0.1:8899/lab-base/", "secure": False, "token": "",
            "root_dir": str(tmp_path), "password": False, "version": "2", "sock": ""}
    (tmp_path / f"jpserver-{os.getppid()}.json").write_text(json.dumps(info))
    route = public_url.detect(in_kernel=True, environ={})
    assert route.base == "/lab-base/" and "port 8899" in route.source
    (tmp_path / f"jpserver-{os.getppid()}.json").unlink()
    assert not public_url.detect(in_kernel=True, environ={}).proxied


def test_through_a_proxy_the_jupyter_origin_is_accepted_only_on_the_proxied_route(server):
    jupyter = "http://127.0.0.1:8888"
    # what jupyter-server-proxy forwards: the browser's Host and Origin, both the Jupyter server's
    ok, why = server.admission.origin_allowed(jupyter, "127.0.0.1:8888")
    assert ok and "through a proxy" in why
    # the same Origin straight to the kernel's server: refused (a real handshake)
    with pytest.raises(wslab.ConnectionFailed, match="403"):
        wslab.connect(server.url, origin=jupyter)
    assert server.events.of("reject")


def test_browser_client_argument_checks_and_urls(server):
    bc = BrowserClient(server, path="/chat", protocols=["chat.v1"])
    try:
        assert bc.url == f"ws://127.0.0.1:{server.port}/chat" and bc.events == []
        assert "new WebSocket" in BrowserClient.javascript()
        public_url.set_public_url("/user/alice/")
        assert BrowserClient(server.url).url == f"/user/alice/proxy/{server.port}/echo"
    finally:
        bc.close_widget()
    for kwargs, match in [({"binary_type": "text"}, "blob"), ({"protocols": "chat"}, "list"),
                          ({"onmessage": 3}, "JavaScript"), ({"path": "echo"}, "path")]:
        with pytest.raises(ValueError, match=match):
            BrowserClient(server, **kwargs)
    with pytest.raises(ValueError, match="URL"):
        BrowserClient(42)
    bc = BrowserClient(server)
    try:
        with pytest.raises(ValueError, match="str .text. or bytes"):
            bc.send(3.5)
        with pytest.raises(ValueError, match="123 bytes"):
            bc.close(1000, "x" * 124)
    finally:
        bc.close_widget()


def test_direct_undoes_the_proxy_route_for_clients_on_the_kernels_machine():
    assert public_url.direct("/user/alice/proxy/41234/?path=/chat") == \
        "/user/alice/proxy/41234/?path=/chat"  # direct route: unchanged
    public_url.set_public_url("/user/alice/")
    assert public_url.direct("/user/alice/proxy/41234/?path=/chat") == \
        "http://127.0.0.1:41234/?path=/chat"
    assert public_url.direct("wss://hub.example.org/user/alice/proxy/41234/echo") == \
        "ws://127.0.0.1:41234/echo"
    assert public_url.direct("ws://127.0.0.1:41234/echo") == "ws://127.0.0.1:41234/echo"
    assert public_url.direct("/user/bob/proxy/41234/") == "/user/bob/proxy/41234/"
