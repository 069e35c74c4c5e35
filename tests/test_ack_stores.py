"""Hostile ``/ack`` inputs against both session stores: one server's memory and Redis.

Every test runs twice, on a server alone (``MemoryAckStore``) and on a server with a
Redis backplane (``RedisAckStore``, a real redis-server child), and asserts the same
replies and close codes, that nothing past a bound is kept, and for Redis that its
memory stays within the bound too (``MEMORY USAGE`` of every key, summed: what the data
costs Redis, without the client buffers that make ``INFO memory`` wobble).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wslab
from tests.conftest import wait_until
from tests.test_hardening import OK_CLOSES, Raw, envelopes, json_values
from wslab.net import loop as lab
from wslab.protocol import frames as fr
from wslab.protocol.ack import SEQ_MAX, SessionView

MiB = 1 << 20




class Harness:
    """One server on one store, and what a test reads of that store."""

    def __init__(self, kind: str, redis_url: str | None, **options) -> None:
        self.kind = kind
        self.redis = None
        if redis_url is not None:
            self.redis = redis.Redis.from_url(redis_url)
            self.redis.flushall()
            options["backplane"] = redis_url
        self.server = wslab.serve(name=f"ack-{kind}", **options)
        self.raws: list[Raw] = []

    @property
    def store(self):
        return self.server.ack_route.store

    def limit(self, **changes) -> None:
        """Tighter bounds for this test (both stores read them at every call)."""
        store = self.store
        store.limits = dataclasses.replace(store.limits, **changes)

    def session(self, sid: str) -> SessionView | None:
        return lab.run(self.store.session(sid), what="reading a session")

    def session_count(self) -> int:
        if self.redis is not None:
            return self.redis.zcard("wslab:ack:sessions")
        return len(self.server.ack.sessions)

    def kept_bytes(self) -> int:
        """What the store counts for all kept delivered messages."""
        if self.redis is not None:
            return int(self.redis.get("wslab:ack:bytes") or 0)
        return self.server.ack.delivered_bytes

    def used_memory(self) -> int:
        """Bytes Redis spends on the keys it holds (0 for the memory store)."""
        if self.redis is None:
            return 0
        return sum(self.redis.memory_usage(k) or 0 for k in self.redis.scan_iter(count=1000))

    def raw(self) -> Raw:
        r = Raw(self.server.port, "/ack")
        assert r.status == 101
        self.raws.append(r)
        return r

    def stop(self) -> None:
        for r in self.raws:
            r.close()
        self.server.stop()
        if self.redis is not None:
            self.redis.close()


@pytest.fixture(params=["memory", "redis"])
def make(request):
    made: list[Harness] = []

    def factory(**options) -> Harness:
        url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
        h = Harness(request.param, url, **options)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()


@pytest.fixture
def harness(make):
    """One server with default options on each store (shared by a test's examples)."""
    return make()


def replies(raw: Raw, message: str | bytes, *, binary: bool = False) -> list[dict]:
    """Send one message, then a ping: every reply that came before the pong."""
    if binary:
        raw.send(fr.Opcode.BINARY, message if isinstance(message, bytes) else message.encode())
    else:
        raw.text(message)
    raw.send(fr.Opcode.PING, b"sync")
    out = []
    for _ in range(10_000):
        f = raw.recv()
        assert f is not None, "the connection was dropped without a Close frame"
        assert f.opcode != fr.Opcode.CLOSE, fr.parse_close_payload(f.payload)
        if f.opcode == fr.Opcode.PONG:
            return out
        out.append(json.loads(f.payload))
    raise AssertionError("no pong")


def hello(raw: Raw, session, last_seen=0) -> list[dict]:
    return replies(raw, json.dumps({"op": "hello", "session": session, "last_seen": last_seen}))


def welcome(got: list[dict]) -> dict:
    assert got and got[0]["op"] == "welcome", got
    return {k: v for k, v in got[0].items() if k != "node"}


# --- what a client may not make any store keep --------------------------------------------

@pytest.mark.parametrize("sid", ["x" * 129, "", "a b", "caf\u00e9", "tab\there", "\x00", 7, None,
                                 ["s"], {"id": "s"}])
def test_a_bad_session_id_is_refused_before_anything_is_kept(make, sid):
    h = make()
    raw = h.raw()
    before = h.used_memory()
    got = hello(raw, sid)
    assert [m["op"] for m in got] == ["error"] and "session id" in got[0]["error"]
    assert h.session_count() == 0
    if h.redis is not None:
        assert h.redis.dbsize() <= 4  # the epoch, the event counter and the bus bookkeeping
        assert h.used_memory() - before < 1024
    assert welcome(hello(raw, "x" * 128)) == {"op": "welcome", "next": 1, "replayed": 0,
                                             "lost": 0, "new": True}


@pytest.mark.parametrize("last_seen", ["yesterday", -1, 1.5, SEQ_MAX + 1, True, [3], {"n": 1}])
def test_a_bad_last_seen_is_an_error_not_zero(make, last_seen):
    h = make()
    h.server.ack_broadcast("kept for replay")
    raw = h.raw()
    got = hello(raw, "s1", last_seen)
    assert [m["op"] for m in got] == ["error"] and "last_seen" in got[0]["error"]
    assert h.session("s1") is None  # nothing replayed, nothing made
    got = hello(raw, "s1", None)  # null means "nothing seen yet"
    assert welcome(got) == {"op": "welcome", "next": 1, "replayed": 1, "lost": 0, "new": True}
    assert got[1]["data"] == "kept for replay"


def test_binary_frames_are_refused_and_nothing_is_kept(make):
    h = make()
    raw = h.raw()
    hello(raw, "s1")
    msg = json.dumps({"op": "msg", "seq": 1, "data": "x" * 1000})
    got = replies(raw, msg, binary=True)
    assert got == [{"op": "error", "error": "the /ack route speaks JSON text messages, not binary"}]
    assert h.session("s1").expected == 1
    assert replies(raw, msg) == [{"op": "ack", "seq": 1}]
    assert h.session("s1").delivered == ["x" * 1000]


@pytest.mark.parametrize("message,error", [
    ('{"op": "msg", "seq": 1, "data": 1}', "send hello first"),
    ('{"op": "nope"}', "send hello first"),
    ('{"op": 7}', "op is a string"),
    ("not json", "expected JSON"),
    ("[1, 2]", "expected a JSON object"),
])
def test_the_same_errors_on_both_stores(make, message, error):
    h = make()
    raw = h.raw()
    got = replies(raw, message)
    assert [m["op"] for m in got] == ["error"] and error in got[0]["error"]
    hello(raw, "s1")
    for seq in (0, -1, SEQ_MAX + 1, "1", 1.0, True):
        got = replies(raw, json.dumps({"op": "msg", "seq": seq, "data": "d"}))
        assert [m["op"] for m in got] == ["error"] and "seq" in got[0]["error"]
    assert h.session("s1").expected == 1


def test_duplicates_and_gaps_are_the_same_on_both_stores(make):
    h = make()
    raw = h.raw()
    assert welcome(hello(raw, "s1")) == {"op": "welcome", "next": 1, "replayed": 0, "lost": 0,
                                         "new": True}
    for _ in range(3):
        assert replies(raw, json.dumps({"op": "msg", "seq": 1, "data": "once"})) \
            == [{"op": "ack", "seq": 1}]
    assert replies(raw, json.dumps({"op": "msg", "seq": 5, "data": "gap"})) == []
    s = h.session("s1")
    assert (s.expected, s.delivered, s.duplicates, s.connections) == (2, ["once"], 2, 1)
    assert welcome(hello(h.raw(), "s1")) == {"op": "welcome", "next": 2, "replayed": 0,
                                             "lost": 0}


def test_two_hundred_sessions_stay_within_sessions_max(make):
    h = make()
    h.limit(sessions_max=50)
    raw = h.raw()
    before = h.used_memory()
    for i in range(200):  # one connection hopping between sessions: each old one is free
        assert welcome(hello(raw, f"s{i:03d}-" + "k" * 100))["next"] == 1
    assert h.session_count() == 50
    assert h.session("s000-" + "k" * 100) is None                 # least recently used: gone
    assert h.session("s199-" + "k" * 100) is not None
    assert h.used_memory() - before < 64 * 1024  # 50 sessions of a few hundred bytes


def test_sessions_in_use_are_not_evicted_a_new_one_is_refused(make):
    h = make()
    h.limit(sessions_max=2)
    a, b, c = h.raw(), h.raw(), h.raw()
    hello(a, "a")
    hello(b, "b")
    got = hello(c, "c")
    assert got == [{"op": "error", "error": "too many sessions (2); try again later"}]
    assert h.session("a") is not None and h.session("b") is not None
    a.close()
    wait_until(lambda: len(h.server.clients) == 2, what="a's connection closed")
    # "a" has no connection now: it gives way to "c"
    wait_until(lambda: hello(c, "c")[0]["op"] == "welcome", what="c admitted once a left")
    assert h.session("a") is None


def test_a_session_keeps_its_newest_messages_within_its_byte_budget(make):
    h = make(max_message_size=MiB)
    raw = h.raw()
    hello(raw, "heavy")
    before = h.used_memory()
    blob = "y" * (512 * 1024)
    for seq in range(1, 41):  # 20 MB delivered
        assert replies(raw, json.dumps({"op": "msg", "seq": seq, "data": blob})) \
            == [{"op": "ack", "seq": seq}]
    s = h.session("heavy")
    assert s.expected == 41
    assert s.delivered == [blob]  # one fits in the 1 MiB budget next to its cost, two do not
    assert h.used_memory() - before < MiB  # 20 MB delivered, one 512 KiB message kept


def test_all_sessions_together_stay_within_delivered_bytes_max(make):
    h = make()
    h.limit(keep_delivered_bytes=100_000, delivered_bytes_max=250_000)
    data = "z" * 20_000   # 20,034 bytes counted: four fit a session, twelve fit them all
    for sid in "abcde":   # one session after the other
        raw = h.raw()
        hello(raw, sid)
        for seq in range(1, 6):
            assert replies(raw, json.dumps({"op": "msg", "seq": seq, "data": data})) \
                == [{"op": "ack", "seq": seq}]
    kept = {sid: len(h.session(sid).delivered) for sid in "abcde"}
    assert kept == {"a": 0, "b": 0, "c": 4, "d": 4, "e": 4}  # least recently used trim first
    assert h.kept_bytes() == 12 * (len(json.dumps(data)) + 32)  # counted exactly
    for sid in "abcde":
        assert h.session(sid).expected == 6  # trimmed, never forgotten


def test_the_replay_buffer_is_bounded_in_bytes_and_losses_are_reported(make):
    h = make()
    h.limit(replay_bytes_max=MiB)
    before = h.used_memory()
    big = "x" * (200 * 1024)
    numbers = [h.server.ack_broadcast(big) for _ in range(30)]
    assert numbers == list(range(1, 31))
    raw = h.raw()
    got = hello(raw, "late", 0)
    w = welcome(got)
    assert w["replayed"] == len(got) - 1 <= 5 and w["lost"] == 30 - w["replayed"] > 0
    assert [m["seq"] for m in got[1:]] == numbers[30 - w["replayed"]:]
    assert sum(len(json.dumps(m)) for m in got) <= MiB + 4096
    assert h.used_memory() - before < 2 * MiB  # 6 MB numbered, 1 MiB kept


def test_idle_sessions_expire_and_sessions_in_use_do_not(make):
    h = make(ack_session_ttl=0.3)
    staying, leaving = h.raw(), h.raw()
    hello(staying, "staying")
    hello(leaving, "leaving")
    assert replies(leaving, json.dumps({"op": "msg", "seq": 1, "data": "x" * 1000})) \
        == [{"op": "ack", "seq": 1}]
    assert h.kept_bytes() == 1002 + 32
    leaving.close()
    wait_until(lambda: h.session("leaving") is None, 10, what="the idle session expired")
    if h.redis is not None:  # nothing of it is left in Redis
        assert h.redis.keys("*leaving*") == [] and h.redis.hget("wslab:ack:sizes", "leaving") \
            is None and h.redis.zscore("wslab:ack:sessions", "leaving") is None
    assert h.kept_bytes() == 0
    # At least one ttl has passed: the session with a connection is still there.
    assert h.session("staying") is not None
    assert replies(staying, json.dumps({"op": "msg", "seq": 1, "data": 1})) \
        == [{"op": "ack", "seq": 1}]
    assert h.session_count() == 1


def test_events_reach_each_connection_that_said_hello_once_in_order(make):
    h = make()
    raw = h.raw()
    hello(raw, "s1")
    silent = h.raw()  # no hello: not a member of the numbered stream yet
    for i in range(5):
        h.server.ack_broadcast({"n": i})
    seen = []
    while len(seen) < 5:
        f = raw.recv()
        assert f is not None, f"only {seen} arrived"
        seen.append(json.loads(f.payload))
    assert seen == [{"op": "event", "seq": i + 1, "data": {"n": i}} for i in range(5)]
    assert [m["op"] for m in replies(raw, "[]")] == ["error"]      # and nothing twice
    assert [m["op"] for m in replies(silent, "[]")] == ["error"]   # nothing before a hello


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.one_of(envelopes, json_values).map(json.dumps) | st.text(max_size=40))
def test_every_message_gets_a_reply_or_a_close_on_both_stores(harness, message):
    h = harness
    raw = Raw(h.server.port, "/ack")
    try:
        for attempt in (message, message):  # before and after whatever it did
            raw.text(attempt)
            raw.send(fr.Opcode.PING, b"probe")
            for _ in range(50):
                f = raw.recv()
                assert f is not None, f"/ack dropped TCP with no Close frame after {attempt!r}"
                if f.opcode == fr.Opcode.CLOSE:
                    assert fr.parse_close_payload(f.payload)[0] in OK_CLOSES
                    return
                if f.opcode == fr.Opcode.PONG:
                    break
    finally:
        raw.close()
