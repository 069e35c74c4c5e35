"""The admission rules as values: Origin (RFC 6454 section 4), Host (DNS rebinding),
connection limit and token, checked without a socket or a server."""

from __future__ import annotations

import dataclasses

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from wslab.net.server.admission import Admission, TokenAuth, normalise_origins


def rules(**kw: object) -> Admission:
    base: dict[str, object] = {"bound_host": "127.0.0.1", "port": 8765,
                               "machine_name": "teacher-box"}
    base.update(kw)
    return Admission(**base)  # type: ignore[arg-type]


def request(uri: str = "/echo", **headers: str) -> HTTPServerRequest:
    """A real Tornado request object, as the upgrade handler receives it."""
    headers.setdefault("Host", "127.0.0.1:8765")
    return HTTPServerRequest(start_line=RequestStartLine("GET", uri, "HTTP/1.1"),
                             headers=HTTPHeaders(headers))


# --- Origin ------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", ["http://127.0.0.1:8765", "HTTP://127.0.0.1:8765",
                                    "http://127.0.0.1:8765/"])
def test_own_origin_is_allowed_in_any_spelling(origin):
    ok, why = rules().origin_allowed(origin, "127.0.0.1:8765")
    assert ok and why == "same origin"


def test_another_scheme_on_our_host_and_port_is_another_origin():
    """RFC 6454 4: scheme, host and port all count."""
    ok, why = rules().origin_allowed("https://127.0.0.1:8765", "127.0.0.1:8765")
    assert not ok and "scheme https" in why
    ok, _ = rules(tls=True).origin_allowed("https://127.0.0.1:8765", "127.0.0.1:8765")
    assert ok


def test_origin_of_a_proxy_in_front_is_allowed_only_through_it():
    jupyter = "http://127.0.0.1:8888"
    ok, why = rules().origin_allowed(jupyter, "127.0.0.1:8888")
    assert ok and "through a proxy" in why
    ok, why = rules().origin_allowed(jupyter, "127.0.0.1:8765")  # straight to us: refused
    assert not ok and "serve(origins=...)" in why


def test_listed_and_wildcard_origins():
    listed = rules(origins=normalise_origins(["http://lab.example:9000/"]))
    assert listed.origin_allowed("http://lab.example:9000", "127.0.0.1:8765")[0]
    assert not listed.origin_allowed("http://other.example:9000", "127.0.0.1:8765")[0]
    assert rules(origins=frozenset({"*"})).origin_allowed("http://x.example", "h:1")[0]


@pytest.mark.parametrize("origin", ["null", "not a url", "://nohost"])
def test_unparsable_origin_is_refused_with_a_reason(origin):
    ok, why = rules().origin_allowed(origin, "127.0.0.1:8765")
    assert not ok and "not a valid origin" in why


def test_with_origin_returns_a_new_value_and_rejects_junk():
    before = rules()
    after = before.with_origin("http://lab.example:9000")
    assert "http://lab.example:9000" in after.origins and not before.origins
    with pytest.raises(ValueError, match="origin"):
        before.with_origin("lab.example")
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.port = 1  # type: ignore[misc]


# --- Host (DNS rebinding) --------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1:8765", "127.9.9.9:8765", "localhost:8765",
                                  "app.localhost:8765", "teacher-box:8765", "[::1]:8765",
                                  "127.0.0.1:9999", "localhost"])
def test_hosts_that_name_this_server_on_any_port(host):
    assert rules().host_allowed(host)[0], host


@pytest.mark.parametrize("host", ["evil.example:8765", "10.0.0.7:8765", "127.0.0.1:99999",
                                  "bad host:8765:1", "elsewhere.example:9999",
                                  "elsewhere.example"])
def test_hosts_refused(host):
    """Another port is no proof of a proxy: a rebinding page through any port is refused."""
    ok, why = rules().host_allowed(host)
    assert not ok and why


def test_a_trusted_proxy_may_carry_its_own_host_and_nothing_else():
    trusting = dataclasses.replace(rules(), proxies=frozenset({"hub.example:8000"}))
    assert trusting.host_allowed("hub.example:8000")[0]
    assert not trusting.host_allowed("hub.example:8001")[0]
    assert not trusting.host_allowed("evil.example:8000")[0]


def test_rebinding_refusal_names_the_fix_and_allow_host_applies_it():
    ok, why = rules().host_allowed("teacher.local:8765")
    assert not ok and "DNS rebinding" in why and "allow_host('teacher.local')" in why
    allowed = rules().with_host("Teacher.Local.")
    assert allowed.host_allowed("teacher.local:8765")[0]


@pytest.mark.parametrize("name", ["", "host:80", 5, None])
def test_with_host_rejects_what_is_not_a_host(name):
    with pytest.raises(ValueError, match="host name"):
        rules().with_host(name)  # type: ignore[arg-type]


def test_with_host_takes_ipv6_addresses():
    assert rules(bound_host="0.0.0.0").with_host("[fe80::1]").hosts == {"fe80::1"}


def test_addresses_when_bound_to_one_address_or_all():
    one = rules(bound_host="192.168.1.5")
    assert one.host_allowed("192.168.1.5:8765")[0]
    assert not one.host_allowed("192.168.1.6:8765")[0]
    assert rules(bound_host="0.0.0.0").host_allowed("192.168.1.6:8765")[0]


def test_default_ports_and_the_wildcard():
    on_80 = rules(port=80)
    assert not on_80.host_allowed("evil.example")[0]          # no port: 80 for http
    assert rules(port=443, tls=True).host_allowed("localhost")[0]
    assert rules(origins=frozenset({"*"})).host_allowed("evil.example:8765")[0]


def test_an_allowed_origins_host_is_a_name_of_ours():
    r = rules(origins=normalise_origins(["http://class.example:8000"]))
    assert r.host_allowed("class.example:8765")[0]


# --- connection limit and token -----------------------------------------------------------

def test_limit_counts_connections_and_handshakes_in_progress():
    r = rules(max_connections=3)
    assert r.check(request(), connections=2, pending=0) is None
    status, why = r.check(request(), connections=2, pending=1)
    assert status == 503 and "2 connections and 1 handshakes" in why
    assert rules().check(request(), connections=10_000, pending=10_000) is None


def test_token_missing_wrong_and_right():
    r = rules(auth=TokenAuth("s3cret", places=("query", "header")))
    status, why = r.check(request(), connections=0, pending=0)
    assert status == 401 and "?token=" in why and "Bearer" in why
    status, why = r.check(request("/echo?token=nope"), connections=0, pending=0)
    assert status == 403 and "query" in why
    assert r.check(request("/echo?token=s3cret"), connections=0, pending=0) is None
    assert r.check(request(Authorization="Bearer s3cret"), connections=0, pending=0) is None


def test_limit_is_checked_before_the_token():
    r = rules(max_connections=1, auth=TokenAuth("t"))
    assert r.check(request(), connections=1, pending=0)[0] == 503
