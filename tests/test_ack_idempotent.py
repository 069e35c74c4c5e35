"""``ack_broadcast(data, id=...)``: a retry with the same id never delivers twice, on one
server (memory store) and across servers sharing a real redis-server, also when the first
call raised because Redis stalled (SIGSTOP) after it had received the command."""

from __future__ import annotations

import signal

import pytest

import wslab
from tests.conftest import wait_until
from wslab.net.backplane import BackplaneUnavailable
from wslab.net.errors import LabTimeout
from wslab.net.server.ack import MemoryAckStore
from wslab.protocol.ack import AckError


def _rc(url: str, seed: int) -> wslab.ReconnectingClient:
    rc = wslab.ReconnectingClient(url, initial_delay=0.05, max_delay=0.2, seed=seed)
    wait_until(lambda: rc.phase == "open", what="rc open")
    return rc


def test_a_retry_with_the_same_id_is_not_delivered_twice_in_memory():
    server = wslab.serve(name="xo-mem")
    rc = _rc(server.ack_url, 1)
    try:
        first = server.ack_broadcast({"n": 1}, id="job-1")
        assert server.ack_broadcast({"n": 1}, id="job-1") == first     # the retry
        second = server.ack_broadcast({"n": 2}, id="job-2")
        assert second == first + 1
        assert server.ack_broadcast({"n": 3}) == second + 1              # no id: numbered
        assert [rc.recv(5) for _ in range(3)] == [{"n": 1}, {"n": 2}, {"n": 3}]
        with pytest.raises(LabTimeout):
            rc.recv(0.3)                                                 # nothing twice
        assert rc.stats.duplicate_events == 0
    finally:
        rc.stop()
        server.stop()


@pytest.mark.parametrize("bad", ["", "x" * 129, "with space", "é", 7])
def test_a_bad_id_is_a_clear_error(bad):
    server = wslab.serve(name="xo-mem")
    try:
        with pytest.raises(AckError, match="event id"):
            server.ack_broadcast("x", id=bad)
        assert isinstance(AckError("x"), wslab.WSLabError)
        assert server.ack_broadcast("ok", id="fine") == 1                # nothing was numbered
    finally:
        server.stop()


def test_the_memory_store_remembers_the_newest_replay_max_ids():
    store = MemoryAckStore(replay_max=3)
    numbers = [store.add_event_now(str(i), f"id-{i}") for i in range(5)]
    assert numbers == [1, 2, 3, 4, 5]
    assert store.add_event_now("4", "id-4") == 5                        # still remembered
    assert len(store.event_ids) == 3                                    # bounded
    assert store.add_event_now("0", "id-0") == 6                        # forgotten


def test_a_retry_on_another_server_sharing_redis_is_not_delivered_twice(redis_server):
    a = wslab.serve(name="xo-a", backplane=redis_server.url)
    b = wslab.serve(name="xo-b", process=True, backplane=redis_server.url)
    rc = _rc(b.ack_url, 2)
    try:
        first = a.ack_broadcast({"n": 1}, id="job-1")
        assert b.ack_broadcast({"n": 1}, id="job-1") == first            # retried elsewhere
        assert b.ack_broadcast({"n": 2}, id="job-2") == first + 1
        assert [rc.recv(5) for _ in range(2)] == [{"n": 1}, {"n": 2}]
        with pytest.raises(LabTimeout):
            rc.recv(0.3)
        assert rc.stats.duplicate_events == 0 and rc.stats.events_lost == 0
    finally:
        rc.stop()
        b.stop()
        a.stop()


def test_a_call_that_failed_in_a_stall_is_retried_once(redis_server):
    """Redis receives the command, then stops (SIGSTOP): the call raises after the client's
    5 s timeout, yet Redis runs it when it continues.  The retry with the same id returns
    that number; the client gets the event once."""
    a = wslab.serve(name="xo-a", backplane=redis_server.url)
    rc = _rc(a.ack_url, 3)
    try:
        assert a.ack_broadcast("before", id="b") == 1
        assert rc.recv(5) == "before"
        redis_server.signal(signal.SIGSTOP)
        try:
            with pytest.raises(BackplaneUnavailable):
                a.ack_broadcast("in the stall", id="s")
        finally:
            redis_server.signal(signal.SIGCONT)
        assert a.backplane.state == "lost"
        number = a.ack_broadcast("in the stall", id="s")                # the caller retries
        assert number == 2                                               # the stalled call's
        assert a.backplane.state == "connected"       # recovered on that first command
        assert rc.recv(10) == "in the stall"
        assert a.ack_broadcast("after", id="c") == 3
        assert rc.recv(10) == "after"                                    # not the stall twice
        assert rc.stats.duplicate_events == 0 and rc.stats.events_lost == 0
    finally:
        rc.stop()
        a.stop()


def test_closed_ack_connections_are_forgotten_at_once():
    """1,000 /ack connections, each a hello and a message, then closed: the route holds
    none of them, the sessions stay within sessions_max, and traced memory grows by a
    bounded amount (sessions and the bounded event log, not the connections: keeping the
    closed connections grew it by 11.5 MB per 1,000)."""
    import gc
    import json
    import tracemalloc

    server = wslab.serve(name="xo-mem")

    def cycle(n: int, tag: str) -> None:
        for i in range(n):
            c = wslab.connect(server.ack_url)
            c.send(json.dumps({"op": "hello", "session": f"{tag}{i}", "last_seen": 0}))
            c.recv(5)
            c.send(json.dumps({"op": "msg", "seq": 1, "data": "x" * 100}))
            c.recv(5)
            c.close()

    try:
        cycle(200, "warm")
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        cycle(1000, "m")
        wait_until(lambda: server.ack_route.connection_count == 0,
                   what="every closed /ack connection forgotten")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        print(f"traced memory after 1,000 closed /ack connections: +{grown / 1e6:.1f} MB")
        assert grown < 5e6
        assert len(server.ack_route.store.sessions) <= server.ack_route.store.limits.sessions_max
    finally:
        server.stop()
