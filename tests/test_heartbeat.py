"""Heartbeat without faults: protocol pings both ways, application pings (RFC 6455 5.5.2-5.5.3)."""

from __future__ import annotations

import threading

import pytest

import wslab
from tests.conftest import wait_until


def test_server_pings_and_logs_each_round_trip():
    server = wslab.serve(name="hb", ping_interval=0.05, ping_timeout=0.5)
    try:
        with wslab.connect(server.url) as c:
            wait_until(lambda: len(server.events.of("pong")) >= 3)
            pongs = server.events.of("pong")
            assert all(p.direction == "in" and 0 < p.extra["rtt_s"] < 0.5 for p in pongs)
            assert [e.kind for e in c.log if e.kind in ("ping", "pong")][:2] == ["ping", "pong"]
    finally:
        server.stop()


def test_client_keepalive_records_pong_round_trips(server):
    with wslab.connect(server.url, ping_interval=0.05, ping_timeout=0.5) as c:
        wait_until(lambda: len(c.latency_samples) >= 3)
        assert all(0 < s < 0.5 for s in c.latency_samples)
        assert c.keepalive.timed_out_at is None
    assert len(server.events.of("ping")) >= 3  # the server saw real ping frames


def test_application_ping_is_a_json_message_not_a_frame(server):
    with wslab.connect(server.url) as c:
        rtt = c.app_ping()
        assert 0 < rtt < 5
        c.send("after")
        assert c.recv() == "after"  # the pong never reached the receive queue
    msgs = server.events.of("message")
    assert '"ping"' in msgs[0].data and '"pong"' in msgs[1].data
    assert not server.events.of("ping")


def test_app_heartbeat_can_be_turned_off():
    server = wslab.serve(name="no-app-hb", app_heartbeat=False)
    try:
        with wslab.connect(server.url) as c, pytest.raises(TimeoutError, match="application pong"):
            c.app_ping(timeout=0.3)  # echoed back as a ping, never answered with a pong
    finally:
        server.stop()


@pytest.mark.parametrize("kwargs", [{"ping_interval": 0}, {"ping_timeout": -1},
                                    {"ping_interval": "1"}])
def test_bad_keepalive_settings(server, kwargs):
    with pytest.raises(ValueError, match="seconds > 0"):
        wslab.connect(server.url, **kwargs)


def test_idle_mode_pings_only_when_quiet(server):
    """aiohttp-style keepalive: traffic restarts the clock; websockets-style pings regardless."""
    fixed = wslab.connect(server.url, ping_interval=0.15, ping_timeout=1, ping_mode="fixed")
    idle = wslab.connect(server.url, ping_interval=0.15, ping_timeout=1, ping_mode="idle")
    try:
        for i in range(40):  # busy: a message every ~10 ms for 0.4 s
            for c in (fixed, idle):
                c.send(str(i))
                c.recv()
            threading.Event().wait(0.01)
        assert idle.keepalive.pings_sent == 0 < fixed.keepalive.pings_sent
        wait_until(lambda: idle.keepalive.pings_sent >= 1)  # quiet now: idle pings start
    finally:
        fixed.close()
        idle.close()
    with pytest.raises(ValueError, match="ping_mode is 'fixed'"):
        wslab.connect(server.url, ping_interval=1, ping_mode="sometimes")
