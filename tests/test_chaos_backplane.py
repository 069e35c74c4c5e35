"""Chaos on the backplane (issue 22), with a real redis-server: two servers (one in this
kernel, one a child process) share one Redis while /ack clients send numbered messages and
a producer sends idempotent numbered events; meanwhile Redis is stalled (SIGSTOP ~2 s),
fed foreign and malformed messages, and restarted empty.  At the end every message and
event is delivered exactly once or reported lost, nothing is duplicated silently, the bad
messages were counted, and both servers still relay."""

from __future__ import annotations

import collections
import signal
import threading
import time

import pytest
import redis

import wslab
from tests.conftest import wait_until

BAD = [b"[1, 2]", b"42", b'"str"', b"null", b'{"k":"b","n":"x"}', b'{"k":"p","n":"x"}',
       b'{"k":"e","s":"abc"}', b'{"k":"e","s":1e999}',
       b"0" * 64 + b'.{"k":"b","n":"evil","t":"forged"}', b"\xff\xfe\x00 not json"]
ROUNDS = 60          # messages per client and events, each
PACE = 0.1           # seconds between rounds: traffic spans the chaos (~6 s)


class Traffic(threading.Thread):
    """Numbered messages from each client and idempotent events, bounded in count and time."""

    def __init__(self, servers, clients) -> None:
        super().__init__(daemon=True)
        self.servers, self.clients = servers, clients
        self.sent: dict[str, list[int]] = {rc.session: [] for rc in clients}
        self.events_ok: list[int] = []        # ids whose ack_broadcast returned
        self.numbers: dict[int, tuple[str, int]] = {}   # id -> (server, event number)
        self.events_unknown: list[int] = []   # ids every retry of which raised
        self.retries = 0
        self.errors: list[str] = []
        self.stop_at = time.monotonic() + 30

    def run(self) -> None:
        for i in range(ROUNDS):
            if time.monotonic() > self.stop_at:
                break
            for rc in self.clients:
                try:
                    rc.send(i)
                    self.sent[rc.session].append(i)
                except Exception as exc:  # noqa: BLE001 - recorded, asserted on
                    self.errors.append(f"send {i}: {exc!r}")
            server = self.servers[i % 2]
            for _attempt in range(6):              # bounded retries, same id
                try:
                    number = server.ack_broadcast({"e": i}, id=f"ev-{i}")
                    self.numbers[i] = ("ab"[i % 2], number)
                    self.events_ok.append(i)
                    break
                except Exception:  # noqa: BLE001 - the outcome is unknown: retry, same id
                    self.retries += 1
                    time.sleep(0.3)
            else:
                self.events_unknown.append(i)
            time.sleep(PACE)


@pytest.mark.slow
def test_exactly_once_or_reported_lost_through_stall_garbage_and_restart(redis_server):
    t0 = time.monotonic()
    a = wslab.serve(name="chaos-a", backplane=redis_server.url)
    b = wslab.serve(name="chaos-b", process=True, backplane=redis_server.url)
    clients = [wslab.ReconnectingClient(s.ack_url, initial_delay=0.05, max_delay=0.3, seed=n)
               for n, s in enumerate((a, b))]
    raw = redis.Redis.from_url(redis_server.url, socket_timeout=5)   # password, no bus key
    channel = a.backplane.channel
    traffic = Traffic((a, b), clients)
    try:
        for rc in clients:
            wait_until(lambda rc=rc: rc.phase == "open", what="rc open")
        traffic.start()
        wait_until(lambda: len(traffic.events_ok) >= 5, timeout=10, what="traffic flows")

        # 1. a ~2 s stall
        redis_server.signal(signal.SIGSTOP)
        try:
            time.sleep(2.0)                       # the fault's duration, not a synchronisation
        finally:
            redis_server.signal(signal.SIGCONT)
        wait_until(lambda: a.backplane.state == "connected", timeout=15, what="A recovers")
        wait_until(lambda: b.backplane["state"] == "connected", timeout=15, what="B recovers")

        # 2. a burst of foreign and malformed messages
        pipe = raw.pipeline(transaction=False)
        for _ in range(20):
            for message in BAD:
                pipe.publish(channel, message)
        pipe.execute()
        bad = 20 * len(BAD)
        wait_until(lambda: a.backplane.stats.rejected >= bad, what="A counts the bad messages")
        wait_until(lambda: b.backplane["rejected"] >= bad, what="B counts the bad messages")

        # 3. Redis restarted empty, while traffic still runs
        wait_until(lambda: len(traffic.events_ok) >= 25, timeout=15, what="traffic goes on")
        redis_server.kill()
        redis_server.restart()

        traffic.join(40)
        assert not traffic.is_alive(), "traffic did not end within its bound"
        for rc in clients:
            wait_until(lambda rc=rc: rc.phase == "open", timeout=15, what="rc open after the chaos")
        for rc in clients:
            rc.flush(15)

        # --- client messages: delivered once (acked) or reported lost, never both/twice
        summary = collections.Counter()
        for rc in clients:
            sent = traffic.sent[rc.session]
            lost = list(rc.lost_messages)
            assert rc.stats.messages_lost == len(lost)
            assert rc.pending == 0
            assert rc.stats.acked + len(lost) == len(sent), (rc.session, rc.stats, len(sent))
            session = a.backplane.session(rc.session)
            summary["duplicates"] += session.duplicates
            assert session.duplicates == 0
            after = list(session.delivered)           # what the store holds since the reset
            assert len(after) == len(set(after))
            assert not set(after) & set(lost), "reported lost AND delivered"
            assert set(lost) <= set(sent) and set(after) <= set(sent)
            summary["sent"] += len(sent)
            summary["delivered"] += rc.stats.acked
            summary["lost"] += len(lost)
            summary["resets"] += rc.stats.resets

        # --- events: each id received at most once per client; received + lost covers
        #     every event handed out
        produced = set(traffic.events_ok)
        may_exist = produced | set(traffic.events_unknown)
        for rc in clients:
            got: list[int] = []
            deadline = time.monotonic() + 15
            while (len(got) + rc.stats.events_lost < len(produced)
                   and time.monotonic() < deadline and len(got) < ROUNDS * 2):
                try:
                    got.append(rc.recv(max(0.1, deadline - time.monotonic()))["e"])
                except wslab.LabTimeout:
                    break
            summary["duplicate_events"] += len(got) - len(set(got)) + rc.stats.duplicate_events
            assert len(got) == len(set(got)), f"duplicate events: {got}"
            assert rc.stats.duplicate_events == 0
            assert set(got) <= may_exist
            missing = sorted(produced - set(got))
            near = range(min(missing, default=0) - 3, min(missing, default=0) + 4)
            around = {i: traffic.numbers.get(i) for i in near}
            assert len(got) + rc.stats.events_lost >= len(produced), (
                f"SILENTLY LOST on {'ab'[clients.index(rc)]}: ids {missing} numbered "
                f"{[traffic.numbers.get(m) for m in missing]}; numbers around them "
                f"{around}"
                f"; {rc.stats}; A {a.backplane.snapshot()} high={a.backplane.ack_store().high}; "
                f"B {b.backplane}")
            summary["events_received"] += len(got)
            summary["events_lost"] += rc.stats.events_lost
        summary["events_ok"] = len(produced)
        summary["events_unknown"] = len(traffic.events_unknown)
        summary["retries"] = traffic.retries

        # --- both servers still relay, both ways, broadcast and /ack
        on_a, on_b = wslab.connect(a.url), wslab.connect(b.url)
        try:
            wait_until(lambda: len(b.clients) >= 1, what="B counts its client")
            a.broadcast("after from A")
            b.broadcast("after from B")
            for c in (on_a, on_b):
                assert sorted([c.recv(5), c.recv(5)]) == ["after from A", "after from B"]
        finally:
            on_a.close()
            on_b.close()
        b.ack_broadcast({"e": "final"}, id="final")
        for rc in clients:
            assert rc.recv(10) == {"e": "final"}
        assert a.backplane.state == "connected" and b.backplane["state"] == "connected"

        summary["rejected_a"] = a.backplane.stats.rejected
        summary["rejected_b"] = b.backplane["rejected"]
        summary["store_resets"] = a.backplane.ack_store().resets
        assert summary["rejected_a"] == summary["rejected_b"] == bad
        assert summary["resets"] >= 1
        assert not traffic.errors, traffic.errors
        print(f"\nCHAOS sent={summary['sent']} delivered={summary['delivered']} "
              f"reported_lost={summary['lost']} "
              f"duplicates={summary['duplicates']}/{summary['duplicate_events']} "
              f"events_ok={summary['events_ok']} events_unknown={summary['events_unknown']} "
              f"events_received={summary['events_received']} "
              f"events_lost={summary['events_lost']} retries={summary['retries']} "
              f"rejected={summary['rejected_a']}/{summary['rejected_b']} "
              f"resets={summary['resets']} store_resets={summary['store_resets']} "
              f"took={time.monotonic() - t0:.1f}s")
        assert time.monotonic() - t0 < 60
    finally:
        traffic.stop_at = 0
        traffic.join(10)
        for rc in clients:
            rc.stop()
        raw.close()
        b.stop(grace=2)
        a.stop()


@pytest.mark.slow
def test_an_event_numbered_elsewhere_just_before_a_reset_is_not_lost_silently(redis_server):
    """What the chaos test hits now and then, made deterministic: B numbers an event, A's
    pump has not read it from the stream yet (a busy kernel: the read is delayed) when
    Redis restarts empty; A adopts the new Redis first with its own high mark."""
    import asyncio

    a = wslab.serve(name="chaos-a", backplane=redis_server.url)
    b = wslab.serve(name="chaos-b", process=True, backplane=redis_server.url)
    on_a = wslab.ReconnectingClient(a.ack_url, initial_delay=0.05, max_delay=0.2, seed=1)
    on_b = wslab.ReconnectingClient(b.ack_url, initial_delay=0.05, max_delay=0.2, seed=2)
    store = a.backplane.ack_store()
    events = store.events
    try:
        for rc in (on_a, on_b):
            wait_until(lambda rc=rc: rc.phase == "open", what="rc open")
        assert a.ack_broadcast({"e": 0}, id="e0") == 1
        assert on_a.recv(5) == on_b.recv(5) == {"e": 0}

        async def late(first: int, last: int):
            await asyncio.sleep(1.0)
            return await events(first, last)

        store.events = late
        x = b.ack_broadcast({"e": "X"}, id="eX")          # number 2, handed out by B
        assert on_b.recv(5) == {"e": "X"}
        redis_server.kill()
        redis_server.restart()
        wait_until(lambda: a.backplane.stats.lost >= 1, timeout=10, what="A meets the restart")
        store.events = events
        on_a.send("poke")                                  # A adopts the new Redis first
        wait_until(lambda: on_a.stats.resets >= 1, timeout=10, what="reset reported on A")
        wait_until(lambda: on_a.phase == "open", timeout=10, what="A's client open again")
        after = a.ack_broadcast({"e": "after"}, id="eA")
        got_a = [on_a.recv(5)]
        try:
            got_b = [on_b.recv(3)]
        except wslab.LabTimeout:
            got_b = []
        print(f"\nX numbered {x} by B; 'after' numbered {after} by A; A's client got {got_a} "
              f"lost={on_a.stats.events_lost}; B's client got {got_b} "
              f"lost={on_b.stats.events_lost} dup={on_b.stats.duplicate_events}")
        assert after > x, "an event number handed out twice"
        assert got_b == [{"e": "after"}] or on_b.stats.events_lost >= 1, "lost silently on B"
        assert on_a.stats.events_lost >= 1 or {"e": "X"} in got_a, "X lost silently on A"
    finally:
        store.events = events
        on_a.stop()
        on_b.stop()
        b.stop(grace=2)
        a.stop()
