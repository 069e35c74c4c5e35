"""Trusted proxies (DNS rebinding through a proxy) and the cluster's nginx as a gate.

A page whose DNS name an attacker re-points at 127.0.0.1 sends Host and Origin both
naming that name.  Through a proxy the port is the proxy's, so "another port" cannot
mean "trusted": only names of the server, or the exact host:port of a proxy the
server was told about, pass.
"""

from __future__ import annotations

import socket

import pytest

import wslab
from wslab.net.cluster import nginx_config, nginx_limits
from wslab.net.server import ServerOptions
from wslab.protocol import handshake as hs


def status(port: int, host: str, *, origin: str | None = None) -> int | None:
    """The HTTP status a handshake with ``host`` (and ``origin``) gets, None when the
    connection is closed without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(hs.build_request(host=host, path="/echo", key=hs.make_key(),
                                      origin=origin))
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            head += chunk
    return int(head.split(b" ", 2)[1])


def test_a_host_on_another_port_needs_a_trusted_proxy():
    server = wslab.serve(name="proxy-hosts", trusted_proxies=["Jupyter.example:8888"])
    try:
        assert server.admission.proxies == {"jupyter.example:8888"}
        assert status(server.port, "jupyter.example:8888") == 101
        assert status(server.port, "jupyter.example:9999") == 403   # same name, other port
        assert status(server.port, "evil.example:8888",
                      origin="http://evil.example:8888") == 403       # rebinding via a proxy
        reasons = [e.reason or "" for e in server.events.of("reject")]
        assert any("trusted proxy" in r for r in reasons), reasons
        assert status(server.port, "127.0.0.1:8888") == 101          # an address: no DNS name
        assert status(server.port, "localhost:8888") == 101
    finally:
        server.stop()


@pytest.mark.parametrize("value, words", [
    (["no-port"], "trusted_proxies: a trusted proxy is 'host:port' or a URL"),
    ("h:1", "trusted_proxies is a list of strings"),
    ([""], "trusted_proxies: a trusted proxy"),
])
def test_bad_trusted_proxies_are_named(value, words):
    with pytest.raises(ValueError, match=words):
        ServerOptions(trusted_proxies=value)


def test_trusted_proxies_take_urls_and_cross_to_a_process():
    opts = ServerOptions(trusted_proxies=["https://Hub.example.org/user/a/", "[::1]:80"])
    assert opts.trusted_proxies == ("[::1]:80", "hub.example.org:443")
    assert ServerOptions.from_plain(opts.to_plain()) == opts


def test_nginx_config_refuses_other_names_and_fits_max_connections():
    text = nginx_config(port=8000, upstreams=[8001], max_connections=300)
    connections, files = nginx_limits(300)
    assert connections >= 600 and files > connections
    assert f"worker_connections {connections};" in text
    assert f"worker_rlimit_nofile {files};" in text
    assert "listen 127.0.0.1:8000 default_server;" in text and "return 444;" in text
    assert "server_name 127.0.0.1 localhost;" in text


def test_dns_rebinding_through_the_clusters_nginx_is_refused():
    c = wslab.cluster(1, name="proxy-hosts-cluster")
    try:
        own = f"127.0.0.1:{c.port}"
        assert status(c.port, own, origin=f"http://{own}") == 101
        evil = f"evil.example:{c.port}"
        assert status(c.port, evil, origin=f"http://{evil}") is None  # nginx: 444, no answer
        # the same request straight to the server (past nginx) is refused there too
        assert status(c.servers[0].port, evil, origin=f"http://{evil}") == 403
    finally:
        c.stop()


@pytest.mark.parametrize("process", [False, True])
def test_the_jupyter_servers_public_address_is_trusted(process):
    wslab.set_public_url("https://hub.example.org/user/alice/")
    try:
        server = wslab.serve(name="proxy-hosts-hub", process=process)
    finally:
        wslab.set_public_url(None)
    try:
        # what a browser on https://hub.example.org/ sends (no port: the scheme's default)
        assert status(server.port, "hub.example.org", origin="https://hub.example.org") == 101
        assert status(server.port, "hub.example.org:443") == 101
        assert status(server.port, "hub.example.org:8443") == 403  # not the hub's port
        assert status(server.port, "evil.example", origin="https://evil.example") == 403
    finally:
        server.stop()
