"""An /ack event a server can no longer deliver is reported lost, never skipped, with a
real redis-server.

Events reach a server through Redis' stream.  If a number is gone from it before the
server read it (Redis restarted empty between another server's read and this one's, or
the stream trimmed it), the server closes the ``/ack`` connections waiting for it with
1012 and GAP_REASON; the client reconnects and its welcome counts the loss.  Here the gap
is made directly: the counter is raised past a number that never enters the stream.
"""

from __future__ import annotations

import contextlib

import pytest
import redis

import wslab
from tests.conftest import backplane_events, wait_until
from wslab.protocol.ack import GAP_REASON, AckConnState, AckProtocol


@contextlib.contextmanager
def _three_events(redis_url: str, *, seed: int, **options):
    """A server on the backplane and a ReconnectingClient that received events 1-3."""
    a = wslab.serve(backplane=redis_url, **options)
    rc = wslab.ReconnectingClient(a.ack_url, initial_delay=0.05, max_delay=0.2, seed=seed)
    try:
        wait_until(lambda: rc.phase == "open", what="rc open")
        assert [a.ack_broadcast({"n": i}) for i in (1, 2, 3)] == [1, 2, 3]
        assert [rc.recv(5) for _ in range(3)] == [{"n": 1}, {"n": 2}, {"n": 3}]
        yield a, rc
    finally:
        rc.stop()
        a.stop()


def _stats(server) -> dict:
    bp = server.backplane
    return bp if isinstance(bp, dict) else bp.snapshot()


@pytest.mark.parametrize("process", [False, True], ids=["in-kernel", "process"])
def test_an_event_gone_from_the_stream_is_reported_lost(redis_server, process):
    with _three_events(redis_server.url, seed=7, name="gap", process=process) as (a, rc), \
            contextlib.closing(redis.Redis.from_url(redis_server.url, socket_timeout=5)) as raw:
        rc.send("before")
        rc.flush(10)

        assert raw.incr("wslab:ack:seq") == 4      # number 4: taken, never in the stream
        assert a.ack_broadcast({"n": 5}) == 5

        wait_until(lambda: rc.stats.events_lost == 1, what="the client hears of event 4")
        assert rc.recv(10) == {"n": 5}             # replayed in the welcome, once
        closes = [e for e in rc.events if e.kind == "closed"]
        assert [(e.code, e.detail) for e in closes] == [(1012, GAP_REASON)]
        assert rc.stats.resets == 0 and rc.stats.duplicate_events == 0
        stats = _stats(a)
        assert stats["missed"] == 1 and stats["ack_seen"] == 5
        missed = backplane_events(a, "missed")
        assert len(missed) == 1
        assert (missed[0].extra["first"], missed[0].extra["last"]) == (4, 4)
        assert missed[0].extra["closed"] == 1

        rc.send("after")                           # the session survived the close
        rc.flush(10)
        assert rc.stats.acked == 2 and rc.pending == 0

        # A hint above the newest event is no proof of a gap: nothing is closed.
        raw.publish("wslab:bus", b'{"k":"e","s":9}')
        assert a.ack_broadcast({"n": 6}) == 6
        assert rc.recv(10) == {"n": 6}
        assert [e.kind for e in rc.events].count("closed") == 1
        assert _stats(a)["missed"] == 1


def test_the_newest_event_gone_is_reported_without_waiting_for_a_later_one(redis_server):
    """The counter and the stream are read at one instant: a number up to the counter that
    the stream lacks is gone, even with no later event to show the gap."""
    with _three_events(redis_server.url, seed=9, name="gap-last") as (a, rc), \
            contextlib.closing(redis.Redis.from_url(redis_server.url, socket_timeout=5)) as raw:
        assert raw.incr("wslab:ack:seq") == 4      # number 4: taken, never in the stream
        raw.publish("wslab:bus", b'{"k":"e","s":4}')   # the hint its script would send
        wait_until(lambda: rc.stats.events_lost == 1, what="the client hears of event 4")
        assert a.backplane.stats.missed == 1
        assert a.ack_broadcast({"n": 5}) == 5      # no gap left behind: 4 is not re-counted
        assert rc.recv(10) == {"n": 5}
        assert a.backplane.stats.missed == 1 and rc.stats.events_lost == 1
        assert [e.detail for e in rc.events if e.kind == "closed"] == [GAP_REASON]


def test_numbers_delivered_before_a_redis_reset_are_not_missed_again(redis_server):
    """A restarted Redis has no counter until a server adopts it, so a server that
    resubscribes first reads 0 and lowers its mark; the numbers it delivered before are
    not a gap, and nobody is closed for them."""
    with _three_events(redis_server.url, seed=8, name="gap-reset") as (a, rc):
        redis_server.kill()
        redis_server.restart()
        wait_until(lambda: a.backplane.stats.recovered >= 1 and a.backplane.state == "connected",
                   what="A resubscribes to the new Redis")
        assert a.backplane.snapshot()["ack_seen"] == 0     # the mark went back
        numbers = []
        for _ in range(2):                                 # the first may meet the reset
            try:
                numbers.append(a.ack_broadcast({"n": "after"}, id="after"))
                break
            except wslab.net.backplane.BackplaneUnavailable:
                continue
        assert numbers == [4]                              # resumes above 3
        assert rc.recv(10) == {"n": "after"}
        assert a.backplane.stats.missed == 0 and rc.stats.events_lost == 0
        assert backplane_events(a, "missed") == []
        reasons = {e.detail for e in rc.events if e.kind == "closed"}
        assert GAP_REASON not in reasons


def test_a_connection_waits_for_an_event_until_it_was_sent_it_or_a_later_one():
    waits = AckProtocol.waits_for
    assert not waits(AckConnState(), 5)                    # no hello: nothing to report
    assert waits(AckConnState(syncing=[]), 5)              # saying hello now
    hello = AckConnState(session="s", last_event=3)
    assert waits(hello, 4) and waits(hello, 9)
    assert not waits(hello, 3) and not waits(hello, 2)
