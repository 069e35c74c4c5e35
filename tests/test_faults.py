"""FaultProxy: latency, jitter, bandwidth, blackhole, reset, limit_data and slicer on loopback.

Every test runs real TCP through the proxy to the in-kernel server.  Timing
assertions are lower bounds only (a loaded machine is slower, never faster),
except the bandwidth check the issue asks for: within 20 %, measured over
256 KiB and retried up to 3 times against noise.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time

import pytest

import wslab
from wslab.net import loop as lab
from wslab.net import services
from wslab.net.faults import FAULTS, FaultEvent, FaultProxy


@pytest.fixture
def proxy(server):
    p = FaultProxy(server.url, seed=1)
    yield p
    p.stop()


@pytest.fixture
def connect(proxy):
    """Open clients through the proxy; at teardown the proxy stops first, then the clients."""
    clients: list[wslab.Client] = []

    def open_client(url: str | None = None, **kwargs) -> wslab.Client:
        c = wslab.connect(url or proxy.url, **kwargs)
        clients.append(c)
        return c

    yield open_client
    proxy.stop()
    for c in clients:
        c.stop(timeout=2)


def _free_port() -> int:
    return services.free_port()


# --- plumbing ---------------------------------------------------------------------------------
def test_echo_through_a_clean_proxy(server, proxy, connect):
    assert wslab.FaultProxy is FaultProxy
    assert proxy.url == f"ws://127.0.0.1:{proxy.port}/echo"
    assert proxy.port != server.port and proxy.faults == {"upstream": {}, "downstream": {}}
    c = connect()
    c.send("hello")
    assert c.recv(timeout=5) == "hello"
    c.send(b"\x00\x01\xff" * 1000)
    assert c.recv(timeout=5) == b"\x00\x01\xff" * 1000
    assert proxy.connections == 1
    stats = proxy.stats
    assert stats["accepted"] == 1
    for d in ("upstream", "downstream"):
        assert stats[d]["bytes"] > 3000 and stats[d]["dropped"] == 0 and stats[d]["queued"] == 0
    c.close()
    proxy.wait_until(lambda p: p.connections == 0, timeout=5)
    assert proxy.connections == 0 and proxy.stats["closed"] == 1
    kinds = [e.kind for e in proxy.events]
    assert kinds == ["accept", "close"]
    assert all(isinstance(e, FaultEvent) and e.t_ns > 0 for e in proxy.events)


def test_target_url_forms():
    assert FaultProxy.__doc__ and "layer 2" in FaultProxy.__doc__
    p1 = FaultProxy("ws://127.0.0.1:9/chat?room=1")
    p2 = FaultProxy("http://localhost:9/")
    p3 = FaultProxy("127.0.0.1:9")
    p4 = FaultProxy("[::1]:9", host="127.0.0.1")
    try:
        assert p1.url == f"ws://127.0.0.1:{p1.port}/chat?room=1"
        assert p2.url == f"http://127.0.0.1:{p2.port}/"
        assert p3.url == f"ws://127.0.0.1:{p3.port}/"
        assert (p4.target_host, p4.target_port) == ("::1", 9)
    finally:
        for p in (p1, p2, p3, p4):
            p.stop()


def test_connect_failure_to_target_is_recorded():
    port = _free_port()  # nothing listens there any more
    with FaultProxy(f"ws://127.0.0.1:{port}/echo") as p:
        with pytest.raises(wslab.ConnectionFailed):
            wslab.connect(p.url, timeout=5)
        p.wait_until(lambda q: q.stats["failed"] == 1 and q.connections == 0, timeout=5)
        assert [e.kind for e in p.events] == ["accept", "connect-failed"]
        assert str(port) in p.events[-1].detail


# --- latency and jitter ---------------------------------------------------------------------------
def test_latency_adds_at_least_the_set_delay_per_direction(proxy, connect):
    c = connect()
    c.ping(timeout=5)  # warm path
    proxy.set("latency", ms=50)
    assert proxy.faults["upstream"]["latency"] == {"ms": 50, "jitter": 0}
    rtt = c.ping(timeout=5)
    assert rtt >= 0.100, f"50 ms each way gave a round trip of {rtt * 1e3:.1f} ms"
    proxy.clear("latency")
    for direction in ("upstream", "downstream"):
        other = "downstream" if direction == "upstream" else "upstream"
        before = proxy.stats
        proxy.set("latency", ms=50, direction=direction)
        rtt = c.ping(timeout=5)
        after = proxy.stats
        proxy.clear(direction="both")
        assert rtt >= 0.050, f"{direction} 50 ms gave {rtt * 1e3:.1f} ms"
        assert after[direction]["delayed"] > before[direction]["delayed"]
        assert after[other]["delayed"] == before[other]["delayed"]


def test_jitter_stays_within_bounds_and_keeps_order(server):
    with FaultProxy(server.url, seed=7) as p:
        p.set("latency", ms=30, jitter=20)
        c = wslab.connect(p.url)
        try:
            sent = [f"m{i:03d}" for i in range(30)]
            for m in sent:
                c.send(m)
            got = [c.recv(timeout=10) for _ in sent]
            assert got == sent  # no chunk overtook an earlier one
            s = p.stats["upstream"]
            assert s["delayed"] >= 2  # chunks (the handshake, then messages; reads may merge)
            assert 10 <= s["delay_min_ms"] < s["delay_max_ms"] <= 50  # jitter applied, in bounds
            # jitter larger than the latency never gives a negative delay
            p.set("latency", ms=2, jitter=10, direction="downstream")
            for m in sent:
                c.send(m)
            assert [c.recv(timeout=10) for _ in sent] == sent
            assert p.stats["downstream"]["delay_min_ms"] >= 0
        finally:
            c.close()


def test_jitter_seed_is_reproducible():
    draws = []
    for _ in range(2):
        with FaultProxy("127.0.0.1:9", seed=random.Random(42)) as p:
            draws.append([p._board.rng.random() for _ in range(3)])
    assert draws[0] == draws[1]


# --- bandwidth ------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["upstream", "downstream"])
def test_bandwidth_caps_throughput_within_20_percent(proxy, connect, direction):
    c = connect()
    limit = 512  # KiB/s
    data = random.Random(3).randbytes(256 * 1024)
    proxy.set("bandwidth", kib_per_s=limit, direction=direction)
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        c.send(data)
        assert c.recv(timeout=20) == data
        rates.append(256 / (time.perf_counter() - t0))
        # pacing is a hard cap: the bytes can never arrive faster than the limit
        assert rates[-1] <= limit * 1.2, rates
        if abs(rates[-1] - limit) <= 0.2 * limit:
            break
    assert abs(rates[-1] - limit) <= 0.2 * limit, f"KiB/s measured {rates}, limit {limit}"


# --- blackhole ------------------------------------------------------------------------------------
def test_blackhole_forwards_nothing_keeps_tcp_open_and_resumes(server, proxy, connect):
    c = connect()
    c.send("before")
    assert c.recv(timeout=5) == "before"
    proxy.set("blackhole")
    before = proxy.stats
    c.send("lost")
    proxy.wait_until(lambda p: p.stats["upstream"]["dropped"] > 0, timeout=5)
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.3)
    with pytest.raises(TimeoutError):  # only a heartbeat notices the half-open connection
        c.ping(timeout=0.3)
    after = proxy.stats
    for d in ("upstream", "downstream"):
        assert after[d]["bytes"] == before[d]["bytes"]
    assert after["upstream"]["dropped"] > before["upstream"]["dropped"]
    assert proxy.connections == 1 and c.state == wslab.State.OPEN and len(server.clients) == 1
    got = [m.data for m in server.events if m.kind == "message" and m.direction == "in"]
    assert got == ["before"]
    proxy.clear("blackhole")
    c.send("after")
    assert c.recv(timeout=5) == "after"  # forwarding resumes; the dropped bytes stay dropped
    kinds = [e.kind for e in proxy.events]
    assert "fault-set" in kinds and "fault-clear" in kinds


# --- reset ----------------------------------------------------------------------------------------
def test_reset_all_aborts_every_connection_with_rst(proxy, connect):
    a, b = connect(), connect()
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    try:
        proxy.wait_until(lambda p: p.connections == 3)
        assert proxy.reset_all() == 3
        assert proxy.connections == 0
        for c in (a, b):
            with pytest.raises(wslab.ConnectionClosed):
                c.recv(timeout=5)
            assert c.close_code == 1006
        with pytest.raises(ConnectionResetError):  # a real RST, not a FIN
            raw.recv(1)
    finally:
        raw.close()
    s = proxy.stats
    assert s["reset"] == 3 and s["closed"] == 0
    assert [e.kind for e in proxy.events].count("reset") == 3
    c = connect()  # new connections work after
    c.send("again")
    assert c.recv(timeout=5) == "again"
    assert proxy.reset_all() == 1


def test_reset_fault_resets_when_bytes_reach_it(proxy, connect):
    c = connect()
    proxy.set("reset", direction="upstream")
    with pytest.raises(wslab.ConnectionFailed):
        wslab.connect(proxy.url, timeout=5)  # the handshake request triggers it
    c.send("x")
    with pytest.raises(wslab.ConnectionClosed):
        c.recv(timeout=5)
    assert c.close_code == 1006
    proxy.wait_until(lambda p: p.connections == 0, timeout=5)
    assert proxy.stats["reset"] == 2
    proxy.clear()
    c2 = connect()
    c2.send("ok")
    assert c2.recv(timeout=5) == "ok"


# --- limit_data -----------------------------------------------------------------------------------
def test_limit_data_closes_after_n_bytes(server, proxy, connect):
    c = connect()
    before = proxy.stats["upstream"]["bytes"]
    proxy.set("limit_data", bytes=300, direction="upstream")  # counts from now
    msg = "x" * 100  # a masked frame of 2 + 4 + 100 = 106 bytes
    for _ in range(2):
        c.send(msg)
        assert c.recv(timeout=5) == msg
    c.send(msg)  # only 88 of its 106 bytes pass, then the connection closes
    with pytest.raises(wslab.ConnectionClosed):
        c.recv(timeout=5)
    assert c.close_code == 1006
    proxy.wait_until(lambda p: p.connections == 0, timeout=5)
    assert proxy.stats["upstream"]["bytes"] - before == 300
    assert "limit_data" in [e for e in proxy.events if e.kind == "close"][-1].detail
    assert len([e for e in server.events if e.kind == "message" and e.direction == "in"]) == 2


# --- slicer ---------------------------------------------------------------------------------------
def test_slicer_size_1_still_delivers_correct_messages(proxy, connect):
    proxy.set("slicer", size=1)
    c = connect()  # the handshake itself crosses one byte at a time
    text = "héllo wörld ✓ " * 20
    blob = bytes(range(256)) * 4
    c.send(text)
    assert c.recv(timeout=10) == text
    c.send(blob)
    assert c.recv(timeout=10) == blob
    s = proxy.stats
    for d in ("upstream", "downstream"):
        assert s[d]["writes"] == s[d]["bytes"] > len(blob)  # every write was one byte


def test_slicer_delay_between_pieces(proxy, connect):
    c = connect()
    proxy.set("slicer", size=8, delay_ms=5, direction="upstream")
    t0 = time.perf_counter()
    c.send("y" * 60)  # 66 bytes on the wire: 9 pieces, 8 pauses of 5 ms
    assert c.recv(timeout=5) == "y" * 60
    assert time.perf_counter() - t0 >= 0.040


# --- live switching -------------------------------------------------------------------------------
def test_faults_switch_live_on_open_connections(server, proxy, connect):
    c = connect()
    proxy.set("latency", ms=60_000, direction="upstream")
    c.send("held")
    proxy.wait_until(lambda p: p.stats["upstream"]["queued"] > 0, timeout=5)
    assert proxy.stats["upstream"]["queued"] > 0
    proxy.clear("latency")  # applies to the bytes already waiting in the proxy
    assert c.recv(timeout=10) == "held"
    proxy.set("latency", ms=80, direction="downstream")
    assert c.ping(timeout=5) >= 0.080
    proxy.set("blackhole", direction="downstream")  # the server still gets it
    c.send("one way")
    proxy.wait_until(lambda p: p.stats["downstream"]["dropped"] > 0, timeout=5)
    assert any(e.kind == "message" and e.direction == "in" and e.data == "one way"
               for e in server.events)
    proxy.clear()
    assert proxy.faults == {"upstream": {}, "downstream": {}}
    c.send("clear")
    assert c.recv(timeout=5) == "clear"


# --- settings errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(("fault", "params", "needle"), [
    ("lag", {}, "known faults: latency, bandwidth, blackhole, reset, limit_data, slicer"),
    ("latency", {"ms": -1}, "latency ms must be a number >= 0"),
    ("latency", {"ms": 5, "jitter": -1}, "latency jitter must be a number >= 0"),
    ("latency", {"ms": float("nan")}, "latency ms"),
    ("latency", {"ms": True}, "latency ms"),
    ("latency", {}, "latency needs ms="),
    ("latency", {"ms": 5, "delay": 1},
     "unknown parameter(s) delay for latency; allowed: ms, jitter"),
    ("bandwidth", {"kib_per_s": 0}, "bandwidth kib_per_s must be a number > 0"),
    ("bandwidth", {"kib_per_s": -5}, "bandwidth kib_per_s must be a number > 0"),
    ("blackhole", {"ms": 1}, "allowed: none"),
    ("limit_data", {"bytes": -1}, "limit_data bytes must be an integer >= 0"),
    ("limit_data", {"bytes": 1.5}, "limit_data bytes must be an integer"),
    ("slicer", {"size": 0}, "slicer size must be an integer >= 1"),
    ("slicer", {"size": 1, "delay_ms": -2}, "slicer delay_ms must be a number >= 0"),
])
def test_bad_settings_raise_value_error(proxy, fault, params, needle):
    with pytest.raises(ValueError) as info:
        proxy.set(fault, **params)
    assert needle in str(info.value)
    assert proxy.faults == {"upstream": {}, "downstream": {}}


def test_bad_direction_and_constructor_arguments(proxy):
    for call in (lambda: proxy.set("blackhole", direction="up"),
                 lambda: proxy.clear(direction="sideways")):
        with pytest.raises(ValueError, match="'upstream', 'downstream', 'both'"):
            call()
    with pytest.raises(ValueError, match="known faults"):
        proxy.clear("nope")
    assert set(FAULTS) == {"latency", "bandwidth", "blackhole", "reset", "limit_data", "slicer"}
    for bad in ("ftp://127.0.0.1:1/", "ws:///echo", "127.0.0.1", "", "ws://h:99999/"):
        with pytest.raises(ValueError, match="target_url"):
            FaultProxy(bad)
    with pytest.raises(ValueError, match="loopback only"):
        FaultProxy(proxy.url, host="0.0.0.0")
    with pytest.raises(ValueError, match="port is an integer"):
        FaultProxy(proxy.url, port=70000)


def test_port_in_use_raises_server_start_error(server, proxy):
    with pytest.raises(wslab.ServerStartError, match=str(proxy.port)):
        FaultProxy(server.url, port=proxy.port)


def test_faults_and_events_are_readable_copies(server):
    with FaultProxy(server.url, events_max=3) as p:
        p.set("latency", ms=10, jitter=1, direction="upstream")
        p.set("bandwidth", kib_per_s=64)
        view = p.faults
        view["upstream"].clear()
        assert p.faults["upstream"] == {"latency": {"ms": 10, "jitter": 1},
                                        "bandwidth": {"kib_per_s": 64}}
        assert p.faults["downstream"] == {"bandwidth": {"kib_per_s": 64}}
        p.clear("latency")
        p.clear()
        events = p.events
        assert len(events) == 3  # bounded: the newest three
        assert [(e.kind, e.direction) for e in events] == [
            ("fault-set", "both"), ("fault-clear", "both"), ("fault-clear", "both")]
        assert "kib_per_s=64" in str(events[0])


# --- stopping -------------------------------------------------------------------------------------
def _proxy_tasks() -> list[str]:
    async def names() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks()
                if t.get_name().startswith("wslab-fault-proxy")]
    return lab.run(names(), timeout=5)


def test_stop_twice_leaves_nothing_behind(server):
    p = FaultProxy(server.url)
    p.set("latency", ms=60_000, direction="upstream")
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    try:
        raw.sendall(b"GET /echo HTTP/1.1\r\n")  # held by the latency fault
        p.wait_until(lambda q: q.stats["upstream"]["queued"] > 0, timeout=5)
        assert _proxy_tasks()
        p.stop()
        p.stop()
        assert not p.running and p.connections == 0
        assert _proxy_tasks() == [] and not p._tasks
        assert raw.recv(1) == b""  # closed by the proxy
    finally:
        raw.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", p.port), timeout=5).close()
    assert [e.kind for e in p.events][-1] == "close"


def test_stop_all_stops_the_proxy_between_clients_and_servers(server):
    p = FaultProxy(server.url)
    c = wslab.connect(p.url)
    c.send("hi")
    assert c.recv(timeout=5) == "hi"
    assert wslab.stop_all() == 3  # client, proxy, server
    assert c.close_code == 1001  # the client closed cleanly through the live proxy first
    assert not p.running and p.connections == 0
