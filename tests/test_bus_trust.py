"""The bus as a trust boundary, with a real redis-server: a password per Redis, forged and
malformed envelopes dropped and counted while real traffic still crosses, a stalled Redis
(SIGSTOP) recovered from, a lost subscription re-made."""

from __future__ import annotations

import json
import signal

import pytest
import redis

import wslab
from tests.conftest import backplane_events, wait_until

BAD = [b"[1, 2]", b"42", b'"str"', b"null", b'{"k":"b","n":"x"}', b'{"k":"p","n":"x"}',
       b'{"k":"e","s":"abc"}', b'{"k":"e","s":1e999}']
FORGED = [b'{"k":"b","n":"evil","t":"forged"}',                       # unsigned broadcast
          b"0" * 64 + b'.{"k":"b","n":"evil","t":"forged"}',          # wrong MAC
          b"\xff\xfe\x00 not json", b"{" + b" " * (17 * 1024 * 1024)]  # not UTF-8, too big
HINT = b'{"k":"e","s":1000000000,"d":"forged"}'                     # a forged event number






def _relays_both_ways(a, b, tag: str) -> None:
    on_a, on_b = wslab.connect(a.url), wslab.connect(b.url)
    try:
        wait_until(lambda: len(b.clients) >= 1, what="B counts its client")
        a.broadcast(f"{tag} from A")
        b.broadcast(f"{tag} from B")
        for c in (on_a, on_b):
            assert sorted([c.recv(5), c.recv(5)]) == [f"{tag} from A", f"{tag} from B"]
    finally:
        on_a.close()
        on_b.close()


def test_redis_requires_the_password_in_its_url(redis_server):
    assert redis.Redis.from_url(redis_server.url).ping()
    anonymous = redis.Redis(host=redis_server.host, port=redis_server.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.publish("wslab:bus", b"injected")
    with open(f"/proc/{redis_server.pid}/cmdline", "rb") as f:
        assert redis_server.password.encode() not in f.read()
    other = wslab.net.services.redis()
    try:
        assert other.password != redis_server.password and other.bus_key != redis_server.bus_key
    finally:
        other.stop()


def test_no_secret_on_a_server_command_line_or_in_its_events(pair, redis_server):
    a, b = pair
    with open(f"/proc/{b.pid}/cmdline", "rb") as f:
        cmdline = f.read()
    for secret in (redis_server.password, redis_server.bus_key):
        assert secret.encode() not in cmdline
        assert secret not in repr(a.backplane) and secret not in json.dumps(b.backplane)
        assert all(secret not in repr(e) for e in a.events)


def test_forged_and_malformed_envelopes_are_dropped_counted_and_never_fatal(pair, redis_server):
    a, b = pair
    _relays_both_ways(a, b, "before")
    raw = redis.Redis.from_url(redis_server.url)   # has the password, not the bus key
    for message in BAD + FORGED + [HINT]:
        raw.publish("wslab:bus", message)
    bad = len(BAD) + len(FORGED)
    wait_until(lambda: a.backplane.stats.rejected == bad, what="A counts every bad message")
    wait_until(lambda: b.backplane["rejected"] == bad, what="B counts every bad message")
    # every server still relays real traffic: broadcast, /chat, /pubsub, /ack
    assert a.backplane.state == "connected" and b.backplane["state"] == "connected"
    _relays_both_ways(a, b, "after")
    alice, bob = wslab.connect(a.chat_url), wslab.connect(b.chat_url)
    bob.send("chat after")
    assert alice.recv(5) == "chat after" and bob.recv(5) == "chat after"
    sub = wslab.connect(a.pubsub_url)
    sub.send(json.dumps({"op": "sub", "channel": "news"}))
    assert json.loads(sub.recv(5))["op"] == "subscribed"
    b.publish("news", "pub after")
    assert json.loads(sub.recv(5))["data"] == "pub after"
    rc = wslab.ReconnectingClient(a.ack_url, initial_delay=0.05, max_delay=0.2, seed=3)
    wait_until(lambda: rc.phase == "open", what="rc open")
    first = b.ack_broadcast({"n": 1})           # the forged number 10**9 moved nothing
    b.ack_broadcast({"n": 2})
    assert [rc.recv(5), rc.recv(5)] == [{"n": 1}, {"n": 2}]
    assert first < 1000
    # the forged broadcast reached nobody: the next thing alice sees is a real message
    bob.send("fence")
    assert alice.recv(5) == "fence"
    # one event per kind, not one per message
    rejected = backplane_events(a, "rejected")
    kinds = [e.extra["kind"] for e in rejected]
    assert len(kinds) == len(set(kinds)) == 4
    assert set(a.backplane.stats.rejected_by) == set(kinds)
    assert sum(a.backplane.stats.rejected_by.values()) == bad
    assert a.backplane.stats.received >= 3 and a.backplane.stats.restarts == 0
    rc.stop()
    for c in (alice, bob, sub):
        c.close()


def test_a_flood_of_bad_messages_makes_one_event_per_kind(redis_server):
    a = wslab.serve(name="bus-a", backplane=redis_server.url)
    try:
        raw = redis.Redis.from_url(redis_server.url)
        pipe = raw.pipeline(transaction=False)
        for _ in range(2000):
            pipe.publish("wslab:bus", b"[1]")
        pipe.execute()
        wait_until(lambda: a.backplane.stats.rejected == 2000, what="2000 counted")
        assert len(backplane_events(a, "rejected")) == 1
        assert a.backplane.state == "connected"
    finally:
        a.stop()


def test_a_five_second_stall_is_recovered_from(pair, redis_server):
    a, b = pair
    _relays_both_ways(a, b, "before")
    redis_server.signal(signal.SIGSTOP)
    try:
        a.broadcast("during")   # waits on the stalled Redis, then times out: lost
        wait_until(lambda: a.backplane.state == "lost", timeout=15, what="A says lost")
        assert backplane_events(a, "lost")
    finally:
        redis_server.signal(signal.SIGCONT)
    wait_until(lambda: a.backplane.state == "connected", timeout=15, what="A recovers")
    assert backplane_events(a, "recovered")
    _relays_both_ways(a, b, "after")


def test_a_killed_subscription_is_re_made(pair, redis_server):
    a, b = pair
    raw = redis.Redis.from_url(redis_server.url)
    assert raw.client_kill_filter(_type="pubsub") >= 2
    wait_until(lambda: a.backplane.stats.lost >= 1, what="A notices")
    wait_until(lambda: a.backplane.state == "connected", what="A re-subscribes")
    wait_until(lambda: b.backplane["state"] == "connected", what="B re-subscribes")
    _relays_both_ways(a, b, "after")


def test_a_task_that_ends_is_reported_and_restarted(redis_server):
    """The event pump ends (the server's delivery raised): the backplane says so (state,
    event), restarts it, and recovers on the next successful command to Redis."""
    from wslab.net import loop as lab
    from wslab.net.backplane import Backplane
    from wslab.net.relay import RelayHost

    records: list[tuple[str, dict]] = []
    delivered: list[int] = []

    def ack_event(seq: int, text: str) -> int:
        if not delivered:
            delivered.append(-seq)
            raise RuntimeError("a delivery that fails")
        delivered.append(seq)
        return 1

    host = RelayHost(name="sup", broadcast=lambda m, p: 0, publish=lambda c, d, s: 0,
                     ack_event=ack_event, ack_missed=lambda first, last: 0,
                     record=lambda what, extra: records.append((what, extra)))
    bp = Backplane(host, redis_server.url)
    lab.run(bp.astart())
    try:
        first = bp.ack_broadcast({"n": 1})
        wait_until(lambda: bp.stats.restarts == 1, what="the pump is restarted")
        ended = [extra for what, extra in records if what == "task_ended"]
        assert ended[0]["task"] == "event pump" and "RuntimeError" in ended[0]["error"]
        assert any(what == "lost" for what, _ in records)
        wait_until(lambda: bp.state == "connected", what="state recovers")
        assert any(what == "recovered" for what, _ in records)
        second = bp.ack_broadcast({"n": 2})
        wait_until(lambda: second in delivered, what="the restarted pump delivers")
        assert delivered == [-first, second]
    finally:
        lab.run(bp.astop())
    assert bp.state == "stopped"


def test_stop_ends_every_task_even_one_that_swallows_a_cancellation(redis_server):
    """redis-py reads under a timeout, and a cancellation that arrives as the timeout fires
    can be lost: the stop must end the task anyway (its loop ends once stopped, and it is
    cancelled again), never leave it running after the server stopped."""
    import asyncio

    from wslab.net import loop as lab
    from wslab.net.backplane import Backplane
    from wslab.net.relay import RelayHost

    class Stubborn(Backplane):
        swallowed = 0

        async def _event_pump(self) -> None:
            try:
                await super()._event_pump()
            except asyncio.CancelledError:  # taken for a timeout, as described above
                self.swallowed += 1
                await super()._event_pump()

    def supervisors() -> list[asyncio.Task]:
        """This backplane's running supervisors (other tests' servers may have their own)."""
        frames = [(t, t.get_coro().cr_frame) for t in asyncio.all_tasks() if not t.done()]
        return [t for t, f in frames if f is not None and f.f_code.co_name == "_supervise"
                and f.f_locals.get("self") is bp]

    records: list[tuple[str, dict]] = []
    host = RelayHost(name="stop", broadcast=lambda m, p: 0, publish=lambda c, d, s: 0,
                     ack_event=lambda seq, text: 1, ack_missed=lambda first, last: 0,
                     record=lambda what, extra: records.append((what, extra)))
    bp = Stubborn(host, redis_server.url)
    lab.run(bp.astart())
    try:
        assert len(lab.call(supervisors)) == 3
    finally:
        lab.run(bp.astop())
    assert bp.swallowed == 1
    assert lab.call(supervisors) == []
    assert not [extra for what, extra in records if what == "task_ended"]
