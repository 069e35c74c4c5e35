"""Heartbeat detection, reconnect with backoff, exactly-once delivery: real sockets and faults."""

from __future__ import annotations

import asyncio
import os
import random
import threading

import pytest

import wslab
from tests.conftest import wait_until
from wslab.labs.heartbeat import detection_experiment
from wslab.labs.herd import herd_experiment
from wslab.net import loop as lab
from wslab.net.reconnect import backoff_delay
from wslab.ui import plots


def _tasks() -> int:
    async def count():
        return len(asyncio.all_tasks())
    return lab.run(count())


# --- backoff ------------------------------------------------------------------------------
@pytest.mark.parametrize("jitter", ["none", "full", "equal"])
def test_backoff_delays_within_their_formula_over_1000_draws(jitter):
    rng = random.Random(7)
    for attempt in range(10):
        base = min(5.0, 0.1 * 2 ** attempt)
        draws = [backoff_delay(attempt, initial_delay=0.1, factor=2, max_delay=5.0,
                               jitter=jitter, rng=rng) for _ in range(1000)]
        lo, hi = {"none": (base, base), "full": (0, base), "equal": (base / 2, base)}[jitter]
        assert all(lo <= d <= hi for d in draws)
        if jitter != "none":
            assert max(draws) - min(draws) > 0.5 * (hi - lo)  # really spread, not constant


def test_backoff_rejects_unknown_jitter():
    with pytest.raises(ValueError, match="jitter is one of"):
        backoff_delay(0, initial_delay=1, factor=2, max_delay=1, jitter="gauss",
                      rng=random.Random())


@pytest.mark.parametrize("kwargs, match", [({"jitter": "x"}, "jitter is one of"),
                                           ({"factor": 0.5}, "factor is a number >= 1"),
                                           ({"initial_delay": -1}, "initial_delay"),
                                           ({"max_attempts": 0}, "max_attempts"),
                                           ({"queue_max": 0}, "queue_max")])
def test_reconnecting_client_bad_options(server, kwargs, match):
    with pytest.raises(ValueError, match=match):
        wslab.ReconnectingClient(server.ack_url, **kwargs)


# --- heartbeat detection ---------------------------------------------------------------------
def test_blackhole_is_detected_within_interval_plus_timeout():
    """Fixed-interval pings: detection <= interval + timeout (+10 %), every trial."""
    records = detection_experiment([(0.2, 0.2)], trials=5, seed=1)
    assert len(records) == 5
    for r in records:
        assert r.detection_s is not None, "the blackhole was never detected"
        assert r.ping_wait_s >= r.timeout  # the unanswered ping is awaited for the full timeout
        # ... it may have left just before the failure (in flight when the blackhole began),
        # but never more than one timeout before it: an older ping was answered or timed out
        assert r.ping_wait_s - r.detection_s <= r.timeout
        assert r.within_bound, f"detected after {r.detection_s:.3f} s > {r.bound_s:.3f} s"
        assert r.close_code == 1006 and "keepalive timeout" in r.close_reason


def test_server_keepalive_fails_a_blackholed_client_with_1011():
    server = wslab.serve(name="hb-server", ping_interval=0.1, ping_timeout=0.1)
    proxy = wslab.FaultProxy(server.url)
    try:
        with wslab.connect(proxy.url) as c:
            wait_until(lambda: server.events.of("pong"))
            proxy.set("blackhole")
            wait_until(lambda: server.events.of("close"), timeout=5)
            out = [e for e in server.events if e.kind == "close" and e.direction == "out"]
            assert out[0].code == 1011 and out[0].reason == "keepalive timeout"
            assert any("keepalive timeout" in e.reason for e in server.events.of("error"))
            wait_until(lambda: [e for e in server.events.of("close") if e.direction == "in"])
            closed = [e for e in server.events.of("close") if e.direction == "in"][0]
            assert closed.code == 1006  # no Close frame came back through the blackhole
            proxy.clear()
            proxy.reset_all()  # let the test's own client go at once
            c.stop(timeout=2)
    finally:
        proxy.stop()
        server.stop()


# --- reconnect ----------------------------------------------------------------------------------
def test_exactly_once_in_order_across_drops_and_while_disconnected(server):
    rc = wslab.ReconnectingClient(server.ack_url, initial_delay=0.01, max_delay=0.05, seed=3)
    try:
        wait_until(lambda: rc.state is wslab.State.OPEN)
        for i in range(50):
            rc.send(i)
        server.drop_client(server.clients[0].id)      # the TCP connection dies (1006)
        for i in range(50, 100):                      # sent while reconnecting: queued
            rc.send(i)
        rc.flush(10)
        session = server.ack.sessions[rc.session]
        assert session.delivered == list(range(100))
        assert rc.stats.drops == 1 and rc.stats.connects == 2
        kinds = [e.kind for e in rc.events]
        assert kinds[:5] == ["connecting", "open", "closed", "waiting", "connecting"]
        assert rc.events[2].code == 1006
    finally:
        rc.stop()


def test_server_deduplicates_a_resent_message(server):
    """At-least-once on the wire, exactly once delivered: the /ack route drops duplicates."""
    import json
    with wslab.connect(server.ack_url) as c:
        c.send(json.dumps({"op": "hello", "session": "s1", "last_seen": 0}))
        assert json.loads(c.recv())["next"] == 1
        for _ in range(3):
            c.send(json.dumps({"op": "msg", "seq": 1, "data": "once"}))
            assert json.loads(c.recv()) == {"op": "ack", "seq": 1}
        c.send(json.dumps({"op": "msg", "seq": 5, "data": "gap"}))  # not acked: a gap
        c.send("not json")
        assert json.loads(c.recv())["op"] == "error"
    session = server.ack.sessions["s1"]
    assert session.delivered == ["once"] and session.duplicates == 2


def test_missed_broadcasts_are_replayed_and_losses_reported(server):
    rc = wslab.ReconnectingClient(server.ack_url, initial_delay=0.2, seed=1)
    try:
        wait_until(lambda: rc.state is wslab.State.OPEN)
        server.ack_broadcast("before")
        assert rc.recv() == "before"
        server.drop_client(server.clients[0].id)
        wait_until(lambda: rc.phase == "waiting" and rc.state is wslab.State.CONNECTING)
        for i in range(3):
            server.ack_broadcast(f"while away {i}")    # nobody is connected to get these
        assert [rc.recv(timeout=5) for _ in range(3)] == [f"while away {i}" for i in range(3)]
        assert rc.stats.events_lost == 0
        server.ack.replay = type(server.ack.replay)(server.ack.replay, maxlen=2)
        server.drop_client(server.clients[0].id)
        wait_until(lambda: rc.phase == "waiting" and rc.state is wslab.State.CONNECTING)
        for i in range(5):
            server.ack_broadcast(f"burst {i}")
        assert [rc.recv(timeout=5) for _ in range(2)] == ["burst 3", "burst 4"]
        assert rc.stats.events_lost == 3  # said, not silently skipped
    finally:
        rc.stop()


def test_fatal_close_code_stops_retrying(server):
    rc = wslab.ReconnectingClient(server.ack_url, initial_delay=0.01, seed=1)
    try:
        wait_until(lambda: rc.state is wslab.State.OPEN)
        server.close_client(server.clients[0].id, 4001, "account disabled")
        wait_until(lambda: rc.phase == "gave-up" and rc.state is wslab.State.CLOSED)
        assert "4001" in rc.gave_up and "retrying cannot help" in rc.gave_up
        assert rc.stats.connects == 1
    finally:
        rc.stop()


def test_refused_handshake_stops_retrying(server):
    rc = wslab.ReconnectingClient(server.url.replace("/echo", "/nowhere"), initial_delay=0.01)
    try:
        wait_until(lambda: rc.phase == "gave-up" and rc.state is wslab.State.CLOSED)
        assert "404" in rc.gave_up and len(rc.stats.attempts) == 1
    finally:
        rc.stop()


def test_attempt_limit_and_queue_limit():
    server = wslab.serve(name="gone")
    url = server.ack_url
    server.stop()
    rc = wslab.ReconnectingClient(url, initial_delay=0.01, max_attempts=3, queue_max=5)
    try:
        for i in range(5):
            rc.send(i)
        with pytest.raises(wslab.QueueFull, match="nothing was dropped"):
            rc.send(5)
        wait_until(lambda: rc.phase == "gave-up" and rc.state is wslab.State.CLOSED)
        assert len(rc.stats.attempts) == 3 and "max_attempts=3" in rc.gave_up
        assert rc.pending == 5
    finally:
        rc.stop()


def test_soak_10000_messages_through_random_resets():
    """Every message exactly once and in order while the proxy resets every 50-300 ms."""
    server = wslab.serve(name="soak")
    proxy = wslab.FaultProxy(server.url.replace("/echo", "/ack"), seed=11)
    fds, tasks = len(os.listdir("/proc/self/fd")), _tasks()
    rc = wslab.ReconnectingClient(proxy.url, initial_delay=0.005, max_delay=0.05, seed=5)
    stop = threading.Event()
    resets = []

    def chaos():
        rng = random.Random(42)
        while not stop.wait(rng.uniform(0.05, 0.3)):
            resets.append(proxy.reset_all())

    chaos_thread = threading.Thread(target=chaos, name="chaos")
    try:
        wait_until(lambda: rc.state is wslab.State.OPEN)
        chaos_thread.start()
        for i in range(10_000):
            rc.send(i)
            if i % 500 == 0:
                threading.Event().wait(0.03)  # spread the sends over several resets
        rc.flush(60)
    finally:
        stop.set()
        chaos_thread.join(5)
        rc.stop()
    session = server.ack.sessions[rc.session]
    try:
        assert session.delivered == list(range(10_000))
        assert rc.stats.drops >= 3 and sum(resets) >= 3, (rc.stats, resets)
        print(f"\nsoak: 10000 delivered once, {rc.stats.drops} drops, "
              f"{rc.stats.connects - 1} reconnects, {rc.stats.resent} resent, "
              f"{rc.stats.pruned} not resent (delivered, ack lost), "
              f"{session.duplicates} duplicates suppressed by the server")
    finally:
        proxy.stop()
        server.stop()
    wait_until(lambda: len(os.listdir("/proc/self/fd")) <= fds and _tasks() <= tasks, timeout=10)


def test_thundering_herd_plot_from_a_real_restart():
    none = herd_experiment(clients=20, jitter="none", restart_after=0.5, seed=1)
    full = herd_experiment(clients=20, jitter="full", restart_after=0.5, seed=1)
    assert none.all_back_after is not None and full.all_back_after is not None
    # the outage is measured: the requested 0.5 s plus stopping and starting on this machine
    assert 0.5 <= none.restart_after < none.all_back_after
    # without jitter, every client retries at the same moments: a few dense spikes
    spikes = {round(t, 1) for t in none.attempts}
    assert len(spikes) < len({round(t, 2) for t in full.attempts})
    fig = plots.thundering_herd([none, full])
    assert len(fig.axes) == 2 and "attempts per 100 ms" in fig.axes[0].get_ylabel()


def test_connection_timeline_plot(server):
    rc = wslab.ReconnectingClient(server.ack_url, initial_delay=0.01, seed=2)
    try:
        wait_until(lambda: rc.state is wslab.State.OPEN)
        server.drop_client(server.clients[0].id)
        wait_until(lambda: rc.stats.connects == 2 and rc.state is wslab.State.OPEN)
    finally:
        rc.stop()
    fig = plots.connection_timeline(rc.events)
    assert fig.axes[0].get_xlabel() == "time (s)"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "attempt" in labels and "open" in labels


def test_state_is_the_same_enum_as_client_state(server):
    rc = wslab.ReconnectingClient(server.ack_url, start=False)
    assert rc.state is wslab.State.CLOSED and rc.phase == "idle"
    rc.start()
    try:
        wait_until(lambda: rc.state is wslab.State.OPEN)
        client = rc.client
        assert client is not None and rc.state is client.state
        assert "OPEN (open)" in repr(rc)
    finally:
        rc.stop()
    assert rc.state is wslab.State.CLOSED and rc.phase == "stopped"
