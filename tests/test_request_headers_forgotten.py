"""An open connection keeps no request headers: Tornado would keep them (twice) for the
connection's whole life; wslab reads what it needs at the handshake (``conn.info``)."""

from __future__ import annotations

import gc
import secrets

import pytest
import tornado.httputil

import wslab
from tests.conftest import wait_until
from tests.raw_upgrade import upgraded
from wslab.net import _tornado
from wslab.net import loop as lab


def _headers_holding(marker: str) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects()
               if isinstance(o, tornado.httputil.HTTPHeaders) and o.get("X-Probe") == marker)


def test_no_header_of_an_open_connection_stays_in_memory():
    marker = secrets.token_hex(8)
    with wslab.serve(name="forget") as server:
        sock, _head = upgraded(server.port, "/echo", headers={"X-Probe": marker},
                               origin=f"http://127.0.0.1:{server.port}")
        with sock:
            wait_until(lambda: len(server.clients) == 1, what="the client listed")
            assert lab.call(_headers_holding, marker) == 0
            info = server.clients[0]
            assert info.origin == f"http://127.0.0.1:{server.port}" and info.path == "/echo"
            sock.sendall(b"\x81\x82abcd" + bytes(b ^ k for b, k in zip(b"hi", b"ab", strict=True)))
            assert sock.recv(16) == b"\x81\x02hi"  # still echoes without them


def test_the_forgotten_headers_take_nothing():
    h = _tornado.FORGOTTEN_HEADERS
    assert len(h) == 0 and h.get("Origin") is None
    with pytest.raises(TypeError, match="forgotten"):
        h["Origin"] = "http://evil.example"
    with pytest.raises(TypeError, match="forgotten"):
        h.add("Cookie", "x")
    assert len(h) == 0
