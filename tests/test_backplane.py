"""The Redis backplane with a real redis-server: broadcast, /chat, /pubsub and /ack across
processes, exactly once; Redis going away and coming back."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import wslab
from tests.conftest import backplane_events, wait_until
from wslab.net import services


def test_the_default_path_never_imports_redis():
    code = ("import sys, wslab\n"
            "s = wslab.serve(); c = wslab.connect(s.url); c.send('x'); assert c.recv() == 'x'\n"
            "s.broadcast('y'); wslab.stop_all()\n"
            "print('redis' in sys.modules, s.backplane)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "None"]


def test_a_bad_or_unreachable_backplane_is_a_clear_error():
    with pytest.raises(ValueError, match="Redis URL"):
        wslab.serve(name="bp-bad", backplane="http://127.0.0.1:1/")
    port = services.free_port()
    with pytest.raises(wslab.ServerStartError, match=f"redis://127.0.0.1:{port}/0"):
        wslab.serve(name="bp-bad", backplane=f"redis://127.0.0.1:{port}/0")
    assert "bp-bad" not in wslab.servers()


def test_a_missing_program_names_the_debian_package():
    with pytest.raises(services.ServiceMissing, match="apt-get install no-such-pkg"):
        services.find_program("wslab-no-such-program", package="no-such-pkg")
    assert issubclass(services.ServiceMissing, wslab.WSLabError)


def test_broadcast_reaches_every_client_of_every_process_exactly_once(pair):
    a, b = pair
    on_a = [wslab.connect(a.url) for _ in range(2)]
    on_b = [wslab.connect(b.url) for _ in range(3)]
    # a 101 can arrive before the child process has run open(): wait until B counts all 3
    wait_until(lambda: len(b.clients) == 3, what="B counts its 3 clients")
    assert a.broadcast("from A") == 2          # local recipients, counted by the sender
    assert b.broadcast(b"\x00from B") == 3
    a.broadcast("end A")
    b.broadcast("end B")

    def until(c, wanted: set) -> list:
        got = []
        while not wanted <= set(got):
            got.append(c.recv(5))
        return got

    for c in on_a + on_b:
        got = until(c, {"from A", b"\x00from B", "end A", "end B"})
        assert len(got) == 4
        # Each server's messages keep their order; across servers a local client gets
        # its own server's message before one that crossed Redis.
        assert got.index("from A") < got.index("end A")
        assert got.index(b"\x00from B") < got.index("end B")
    # A fence from each side: any duplicate (local or through the bus) would come before it.
    a.broadcast("fence A")
    b.broadcast("fence B")
    for c in on_a + on_b:
        assert sorted(until(c, {"fence A", "fence B"})) == ["fence A", "fence B"]
    assert a.backplane.stats.received == 3 and a.backplane.stats.own_skipped == 3
    # B counts a publication when Redis has answered it, which can be after A's clients
    # already got the message: wait for the count, then it must be exactly 3.
    wait_until(lambda: b.backplane["published"] >= 3, what="B counts its 3 publications")
    assert b.backplane["received"] == 3 and b.backplane["published"] == 3
    for c in on_a + on_b:
        c.close()


def test_chat_across_processes(pair):
    a, b = pair
    alice, bob = wslab.connect(a.chat_url), wslab.connect(b.chat_url)
    bob.send("hi from B")
    assert alice.recv(5) == "hi from B"
    assert bob.recv(5) == "hi from B"          # /chat echoes to its sender too, once
    alice.send("hi from A")
    assert bob.recv(5) == "hi from A" and alice.recv(5) == "hi from A"


def test_pubsub_channels_across_processes(pair):
    a, b = pair
    sub_a, sub_b, other = (wslab.connect(u) for u in (a.pubsub_url, b.pubsub_url, a.pubsub_url))
    for c, ch in ((sub_a, "news"), (sub_b, "news"), (other, "sport")):
        c.send(json.dumps({"op": "sub", "channel": ch}))
        assert json.loads(c.recv(5))["op"] == "subscribed"
    sub_b.send(json.dumps({"op": "pub", "channel": "news", "data": {"n": 1}}))
    b.publish("sport", "goal")
    for c in (sub_a, sub_b):
        msg = json.loads(c.recv(5))
        assert (msg["op"], msg["channel"], msg["data"]) == ("msg", "news", {"n": 1})
    # 'other' is not on "news": the first thing it gets is the "sport" publication
    assert json.loads(other.recv(5))["data"] == "goal"


def test_ack_state_lives_in_redis(pair):
    a, b = pair
    rc = wslab.ReconnectingClient(b.ack_url, initial_delay=0.05, max_delay=0.2, seed=1)
    wait_until(lambda: rc.phase == "open", what="rc open")
    for i in range(3):
        rc.send(i)
    rc.flush(10)
    numbers = [a.ack_broadcast({"n": i}) for i in range(3)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert [rc.recv(5) for _ in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
    session = a.backplane.session(rc.session)   # read on A, written through B
    assert session.delivered == [0, 1, 2] and session.expected == 4
    assert session.duplicates == 0 and session.connections == 1
    with pytest.raises(ValueError, match="no /ack session"):
        a.backplane.session("nobody")
    rc.stop()


def test_ack_resumes_exactly_once_after_the_process_is_killed(redis_server):
    """The process the client was on dies (SIGKILL); a NEW process on the same port,
    which remembers nothing itself, resumes the session from Redis."""
    a = wslab.serve(name="bp-a", process=True, backplane=redis_server.url)
    b = wslab.serve(name="bp-b", process=True, backplane=redis_server.url)
    rc = wslab.ReconnectingClient(a.ack_url, initial_delay=0.05, max_delay=0.2, seed=2)
    wait_until(lambda: rc.phase == "open", what="rc open")
    sent = [rc.send(i) for i in range(50)]
    for i in range(50):
        b.ack_broadcast(i)
    got = [rc.recv(10) for _ in range(50)]
    port = a.port
    a.kill()                                   # no close frame; acks in flight are lost
    sent += [rc.send(i) for i in range(50, 100)]   # queued while the client is away
    for i in range(50, 100):
        b.ack_broadcast(i)                     # missed while away: replayed from the stream
    a2 = wslab.serve(name="bp-a", process=True, port=port, backplane=redis_server.url)
    got += [rc.recv(20) for _ in range(50)]
    rc.flush(20)
    assert got == list(range(100))             # in order, none twice, none missing
    assert sent == list(range(1, 101))
    assert rc.stats.duplicate_events == 0 and rc.stats.events_lost == 0
    assert rc.stats.connects == 2
    reader = wslab.serve(name="bp-reader", backplane=redis_server.url)
    session = reader.backplane.session(rc.session)
    assert session.delivered == list(range(100)) and session.connections == 2
    reader.stop()
    rc.stop()
    a2.stop()
    b.stop()


def test_redis_going_away_and_coming_back(pair, redis_server):
    a, b = pair
    on_a, on_b = wslab.connect(a.url), wslab.connect(b.url)
    wait_until(lambda: len(b.clients) == 1, what="B counts its client")
    a.broadcast("before")
    assert on_a.recv(5) == "before" and on_b.recv(5) == "before"
    redis_server.kill()
    wait_until(lambda: backplane_events(a, "lost"), what="A reports the backplane lost")
    wait_until(lambda: b.backplane["state"] == "lost", what="B reports the backplane lost")
    # Local clients are still served: echo, and a broadcast to this process's own clients.
    on_a.send("echo?")
    assert on_a.recv(5) == "echo?"
    assert a.broadcast("local only") == 1
    assert on_a.recv(5) == "local only"
    assert a.backplane.stats.dropped == 1     # not relayed, and counted
    lost = backplane_events(a, "lost")[0]
    assert "local clients are still served" in lost.extra["effect"]
    redis_server.restart()
    wait_until(lambda: backplane_events(a, "recovered"), what="A recovers")
    wait_until(lambda: b.backplane["state"] == "connected", what="B recovers")
    assert backplane_events(a, "recovered")[0].extra["down_s"] > 0
    assert b.backplane["recovered"] == 1
    b.broadcast("after")
    assert on_a.recv(5) == "after" and on_b.recv(5) == "after"
    # B's client never saw "local only": its first message after "before" is "after".


def test_ack_client_is_sent_elsewhere_with_1013_while_redis_is_away(pair, redis_server):
    a, _ = pair
    client = wslab.connect(a.ack_url)
    redis_server.kill()
    wait_until(lambda: a.backplane.state == "lost", what="A reports the backplane lost")
    client.send(json.dumps({"op": "hello", "session": "s1", "last_seen": 0}))
    wait_until(lambda: client.close_code is not None, what="the /ack client is closed")
    assert client.close_code == 1013
    redis_server.restart()
    wait_until(lambda: a.backplane.state == "connected", what="A recovers")


def test_stop_with_1012_and_a_bad_code(redis_server):
    server = wslab.serve(name="bp-a", backplane=redis_server.url)
    client = wslab.connect(server.url)
    with pytest.raises(ValueError, match="1012"):
        server.stop(code=1006)
    server.stop(code=1012, reason="service restart")
    wait_until(lambda: client.close_code is not None, what="client closed")
    assert (client.close_code, client.close_reason) == (1012, "service restart")
    assert server.backplane.state == "stopped"
