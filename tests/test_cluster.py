"""wslab.cluster(): server processes behind a real nginx with a real Redis: balancing, the
proxy's idle timeout and the heartbeat, draining with 1001/1012, and a soak with restarts."""

from __future__ import annotations

import threading
import time

import pytest

import wslab
from tests.conftest import have_program, need, wait_until
from wslab.net import cluster as cluster_mod
from wslab.protocol.state import State


@pytest.fixture(autouse=True)
def _programs():
    need(have_program("redis-server", "redis-server"), "redis-server (Debian package redis-server)")
    need(have_program("nginx", "nginx"), "nginx (Debian package nginx)")


def test_the_nginx_config_says_what_a_websocket_proxy_needs():
    conf = cluster_mod.nginx_config(port=8000, upstreams=[8001, 8002], proxy_read_timeout=2.5)
    for line in ("proxy_http_version 1.1;", "proxy_set_header Upgrade $http_upgrade;",
                 "proxy_set_header Connection $connection_upgrade;",
                 "proxy_read_timeout 2500ms;", "server 127.0.0.1:8001", "server 127.0.0.1:8002",
                 "pid {workdir}/nginx.pid;", "proxy_temp_path {workdir}/proxy_temp;"):
        assert line in conf
    assert "ip_hash;" not in conf
    assert "ip_hash;" in cluster_mod.nginx_config(port=1, upstreams=[2], balance="ip_hash")
    with pytest.raises(ValueError, match="round_robin"):
        cluster_mod.nginx_config(port=1, upstreams=[2], balance="random")


@pytest.mark.parametrize("kwargs, match", [
    ({"processes": 0}, "1-16"), ({"balance": "sticky"}, "ip_hash"),
    ({"proxy_read_timeout": 0}, "proxy_read_timeout"), ({"redis_url": "http://x"}, "redis_url"),
])
def test_bad_arguments_say_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wslab.cluster(**kwargs)


def test_round_robin_spreads_connections_and_a_broadcast_reaches_all():
    cl = wslab.cluster(2, name="t-rr")
    try:
        clients = [wslab.connect(cl.chat_url) for _ in range(4)]
        # the 101 reaches the client before the server's open() has run: wait for it
        wait_until(lambda: cl.connections() == [2, 2], what="nginx alternating: [2, 2]")
        clients[0].send("hello, everyone")
        assert [c.recv(5) for c in clients] == ["hello, everyone"] * 4
        echo = wslab.connect(cl.url)
        echo.send("through nginx")
        assert echo.recv(5) == "through nginx"
        assert "proxy_http_version 1.1;" in cl.config and str(cl.port) in cl.config
        for c in clients + [echo]:
            c.close()
        wait_until(lambda: len(cl.access_log()) == 5, what="nginx logged 5 connections")
        upstreams = {line.split("upstream=")[1].split()[0] for line in cl.access_log()}
        assert upstreams == {f"127.0.0.1:{p}" for p in cl.ports}
    finally:
        cl.stop()
    assert cl.running == [False, False] and not cl.redis.running and not cl.nginx.running


def test_ip_hash_sends_every_loopback_client_to_one_server():
    cl = wslab.cluster(2, name="t-hash", balance="ip_hash")
    try:
        clients = [wslab.connect(cl.url) for _ in range(4)]
        # same address, same server: sticky (waited for: the 101 can beat the server's open())
        wait_until(lambda: sorted(cl.connections()) == [0, 4],
                   what="all 4 clients on one server")
        for c in clients:
            c.close()
    finally:
        cl.stop()


def test_the_proxy_cuts_an_idle_connection_and_a_heartbeat_keeps_one_alive():
    cl = wslab.cluster(1, name="t-idle", proxy_read_timeout=1)
    try:
        silent = wslab.connect(cl.url)
        alive = wslab.connect(cl.url, ping_interval=0.25, ping_timeout=2)
        t0 = time.monotonic()
        wait_until(lambda: silent.state == State.CLOSED, timeout=15, what="idle client cut")
        idle_for = time.monotonic() - t0
        assert silent.close_code == 1006            # nginx closes TCP: no close frame
        assert idle_for >= 0.9                      # not before proxy_read_timeout
        time.sleep(1.5)                              # one more timeout's worth of silence
        assert alive.state == State.OPEN
        alive.send("still here")
        assert alive.recv(5) == "still here"
        alive.close()
    finally:
        cl.stop()


def test_a_server_heartbeat_keeps_silent_clients_alive_through_the_proxy():
    cl = wslab.cluster(1, name="t-hb", proxy_read_timeout=1, ping_interval=0.25)
    try:
        client = wslab.connect(cl.url)
        time.sleep(2.5)                              # two and a half timeouts of silence
        assert client.state == State.OPEN
        client.send("x")
        assert client.recv(5) == "x"
        client.close()
    finally:
        cl.stop()


@pytest.mark.parametrize("code", [1001, 1012])
def test_drain_closes_with_the_code_and_clients_move_to_the_other_server(code):
    cl = wslab.cluster(2, name="t-drain")
    try:
        plain = [wslab.connect(cl.url) for _ in range(2)]          # one on each server
        rcs = [wslab.ReconnectingClient(cl.ack_url, initial_delay=0.05, max_delay=0.5,
                                        seed=i) for i in range(4)]
        wait_until(lambda: all(rc.phase == "open" for rc in rcs), what="all open")
        wait_until(lambda: cl.connections() == [3, 3], what="three on each server")
        cl.stop_server(0, code=code)
        wait_until(lambda: any(c.close_code is not None for c in plain), what="a close")
        assert sorted(c.close_code or 0 for c in plain) == [0, code]
        # The ReconnectingClients on server 0 were closed with `code` and came back on 1.
        wait_until(lambda: cl.connections() == [None, 5], what="everyone on server 1")
        closed = [e for rc in rcs for e in rc.events if e.kind == "closed"]
        assert [e.code for e in closed] == [code, code]
        cl.servers[1].ack_broadcast("after the drain")
        assert all(rc.recv(5) == "after the drain" for rc in rcs)
        with pytest.raises(ValueError, match="1012"):
            cl.stop_server(1, code=1000)
        for rc in rcs:
            rc.stop()
        for c in plain:
            c.close()
        assert [e.kind for e in cl.timeline] == ["start", "stop"]
    finally:
        cl.stop()


def test_soak_10000_events_exactly_once_in_order_through_rolling_restarts():
    """10,000 numbered events published while the two servers behind nginx are restarted
    one after the other every 2 s; a ReconnectingClient receives each once, in order."""
    n_events, n_sent = 10_000, 2_000
    cl = wslab.cluster(2, name="t-soak")
    publisher = wslab.serve(name="t-soak-pub", backplane=cl.redis_url)  # not behind nginx
    rc = wslab.ReconnectingClient(cl.ack_url, initial_delay=0.05, max_delay=0.5, seed=7)
    done = threading.Event()
    failures: list[BaseException] = []

    def publish() -> None:
        try:
            for i in range(n_events):
                publisher.ack_broadcast(i)
                if i % 50 == 49:
                    time.sleep(0.05)                 # ~1,000 events/s: the soak lasts ~10 s
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            done.set()

    try:
        wait_until(lambda: rc.phase == "open", what="rc open")
        t = threading.Thread(target=publish, name="soak-publisher")
        t.start()
        restarts, sent = 0, 0
        while not done.wait(timeout=2.0):
            cl.restart(restarts % 2, code=1012)
            restarts += 1
            for _ in range(n_sent // 5):            # client -> server traffic meanwhile
                if sent < n_sent:
                    rc.send(sent)
                    sent += 1
        t.join(60)
        assert not failures, failures
        while sent < n_sent:
            rc.send(sent)
            sent += 1
        try:
            got = [rc.recv(30) for _ in range(n_events)]
        except TimeoutError:
            tail = [f"{e.kind} {e.code or ''} {e.detail}" for e in rc.events[-6:]]
            raise AssertionError(f"stalled after {rc.stats}: {tail}; servers "
                                 f"{cl.connections()}, nginx {cl.access_log()[-3:]}") from None
        rc.flush(60)
        assert got == list(range(n_events))       # each exactly once, in order
        assert restarts >= 3
        assert rc.stats.duplicate_events == 0 and rc.stats.events_lost == 0
        assert rc.stats.drops >= restarts - 1       # it really was moved around
        session = publisher.backplane.session(rc.session)
        assert session.delivered == list(range(n_sent))
        print(f"\nsoak: {n_events} events received once and in order, {n_sent} sent "
              f"delivered once, {restarts} restarts, {rc.stats.connects} connections, "
              f"{rc.stats.resent} resent, {rc.stats.pruned} pruned, "
              f"{session.duplicates} duplicates dropped by the server")
    finally:
        rc.stop()
        publisher.stop()
        cl.stop()
