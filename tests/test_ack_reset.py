"""A Redis that restarts empty (no persistence) under the /ack route, with a real
redis-server: the reset is detected (an epoch key), clients are closed with 1012 and
the reset reason, what they sent without an ack is reported lost, the event counter never
restarts below a number already handed out, and missed events are reported ``lost``."""

from __future__ import annotations

import json
import signal

import pytest

import wslab
from tests.conftest import wait_until
from wslab.net.services import MAXMEMORY
from wslab.protocol.ack import RESET_REASON


def _welcome(client: wslab.Client) -> dict:
    while True:
        msg = json.loads(client.recv(5))
        if msg["op"] == "welcome":
            return msg


def test_a_redis_restart_is_loud_and_numbers_never_go_back(redis_server):
    a = wslab.serve(name="xo-a", backplane=redis_server.url)
    rc = wslab.ReconnectingClient(a.ack_url, initial_delay=0.05, max_delay=0.2, seed=4)
    try:
        wait_until(lambda: rc.phase == "open", what="rc open")
        for i in range(3):
            rc.send(i)
        rc.flush(10)
        numbers = [a.ack_broadcast({"n": i}) for i in range(5)]
        assert numbers == [1, 2, 3, 4, 5]
        assert [rc.recv(5) for _ in range(5)] == [{"n": i} for i in range(5)]

        redis_server.kill()
        redis_server.restart()                    # empty: sessions, counter and stream gone

        rc.send("x")                              # hits the reset, or follows it
        # told by a 1012 close, or by a welcome that says its session is new
        wait_until(lambda: rc.stats.resets == 1, what="the client hears of the reset")
        assert [e.kind for e in rc.events].count("reset") == 1
        resets = [e for e in a.events if e.kind == "error" and e.code == 1012]
        assert resets and "the store was reset" in resets[0].reason
        wait_until(lambda: rc.phase == "open", what="rc open again")
        rc.send("y")
        rc.flush(10)
        session = a.backplane.session(rc.session)
        # "x": delivered once in the new session, or reported lost; never both, never twice
        lost = list(rc.lost_messages)
        assert rc.stats.messages_lost == len(lost)
        assert sorted([*lost, *session.delivered], key=str) == ["x", "y"]
        assert session.duplicates == 0

        after = a.ack_broadcast({"n": "after"})
        assert after > 5                          # never a number a client has seen
        assert rc.recv(10) == {"n": "after"}      # not dropped as "already seen"
        assert rc.stats.duplicate_events == 0

        # A client that saw only event 2 before the reset is told what it missed.
        raw = wslab.connect(a.ack_url)
        raw.send(json.dumps({"op": "hello", "session": "late", "last_seen": 2}))
        welcome = _welcome(raw)
        assert welcome["lost"] >= 3               # 3, 4, 5 (and nothing replayable)
        raw.close()
    finally:
        rc.stop()
        a.stop()


def test_open_ack_connections_are_closed_with_1012_on_a_reset(redis_server):
    a = wslab.serve(name="xo-a", backplane=redis_server.url)
    first, second = wslab.connect(a.ack_url), wslab.connect(a.ack_url)
    try:
        for client, sid in ((first, "one"), (second, "two")):
            client.send(json.dumps({"op": "hello", "session": sid, "last_seen": 0}))
            assert _welcome(client)["new"] is True
        redis_server.kill()
        redis_server.restart()
        # the first command after the restart (sent again on a fresh connection) finds the
        # new Redis without our epoch: every /ack connection hears of it
        first.send(json.dumps({"op": "msg", "seq": 1, "data": "?"}))
        wait_until(lambda: second.close_code is not None, what="the other client is closed")
        assert (second.close_code, second.close_reason) == (1012, RESET_REASON)
        assert a.backplane.ack_store().resets == 1
    finally:
        first.close()
        second.close()
        a.stop()


def test_a_dead_connection_is_retried_once_and_a_stalled_command_never(redis_server):
    """The same on every supported redis-py (5.0 retries nothing by default, 6+ retries
    timeouts too): after a restart a pooled connection's command is sent again on a fresh
    one; a command that timed out in a stall is not, or it would run twice."""
    a = wslab.serve(name="xo-retry", backplane=redis_server.url)
    try:
        assert a.ack_broadcast({"n": 1}) == 1
        redis_server.kill()
        redis_server.restart()
        with pytest.raises(ValueError, match="no /ack session"):   # not ConnectionError
            a.backplane.session("nobody")
        with pytest.raises(wslab.net.backplane.BackplaneUnavailable):
            a.ack_broadcast({"n": "reset"})                   # the reset is loud, once
        assert a.ack_broadcast({"n": 2}) == 2                 # numbering resumes above 1

        redis_server.signal(signal.SIGSTOP)
        try:
            with pytest.raises(wslab.net.backplane.BackplaneUnavailable):
                a.ack_broadcast({"n": "stalled"})            # times out (socket_timeout)
        finally:
            redis_server.signal(signal.SIGCONT)
        # the stalled script ran once when Redis woke, before this one: 3 is its number
        assert a.ack_broadcast({"n": 4}) == 4
    finally:
        a.stop()


def test_the_child_redis_is_bounded_and_never_evicts(redis_server):
    import redis

    r = redis.Redis.from_url(redis_server.url)  # with the per-server password
    try:
        assert int(r.config_get("maxmemory")["maxmemory"]) == MAXMEMORY
        assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    finally:
        r.close()


def test_a_full_redis_refuses_ack_writes_loudly(redis_server):
    """Over ``maxmemory`` with ``noeviction`` a write fails: the /ack client is closed
    with 1013 (try again later), nothing is evicted, the server keeps running."""
    import redis

    a = wslab.serve(name="xo-a", backplane=redis_server.url)
    r = redis.Redis.from_url(redis_server.url)  # with the per-server password
    client = wslab.connect(a.ack_url)
    try:
        client.send(json.dumps({"op": "hello", "session": "full", "last_seen": 0}))
        assert _welcome(client)["next"] == 1
        r.config_set("maxmemory", 1)              # anything is over it now
        client.send(json.dumps({"op": "msg", "seq": 1, "data": "no room"}))
        wait_until(lambda: client.close_code is not None, what="the /ack client is closed")
        assert client.close_code == 1013
        full = [e for e in a.events if e.kind == "error" and e.code == 1013]
        assert full and "Redis is full" in full[0].reason
        r.config_set("maxmemory", MAXMEMORY)
        again = wslab.connect(a.ack_url)
        again.send(json.dumps({"op": "hello", "session": "full", "last_seen": 0}))
        assert _welcome(again)["next"] == 1       # the refused message was not written
        again.close()
    finally:
        client.close()
        r.close()
        a.stop()
