"""Notebooks 05-08: every written-code check rejects plausible wrong answers, by name.

Each wrong answer below is one a student could write (off by one, the wrong one of two
arguments, a rule applied in the wrong place, a shortcut that only looks right), and its
feedback must say what is wrong and where.  Valid variants of the model solutions must
pass.  The predict-then-observe questions keep a guess made before the demo and compare
it with what the demo measured; with no guess they reveal nothing.
"""

from __future__ import annotations

import json
import random
import socket
import time

import pytest

import wslab
from tests.conftest import need
from wslab.exercises import Result, _predict, ex05, ex06, ex07, ex08
from wslab.exercises import _solutions as sol
from wslab.labs.compression import CompressionRecord
from wslab.labs.heartbeat import PingModes
from wslab.labs.retry_codes import CloseCodeDemo, CloseOutcome, close_code_demo
from wslab.protocol import handshake


def _passes(r: Result) -> None:
    assert isinstance(r, Result) and r.ok, str(r)
    assert "PASS" in str(r)


def _fails(r: Result, *words: str) -> None:
    assert isinstance(r, Result) and not r.ok, str(r)
    assert "NOT YET" in str(r) and "data-ok='false'" in r._repr_html_()
    for w in words:
        assert w in r.message, (w, r.message)


# --- 05: heartbeat loop (interval 0.6 s, timeout 0.2 s: 0.4 s apart) ----------------------

def _loop(*, wait="timeout", ping_kw=True, positional=False, sleep_after=False,
          code=1011, keep_going=False, give_up=True, returns=True):
    """A heartbeat loop with one mistake chosen by the keywords."""
    def heartbeat(client, interval, timeout):
        limit = {"timeout": timeout, "interval": interval, "quarter": timeout / 4}[wait]
        while keep_going or client.state == wslab.State.OPEN:
            time.sleep(interval)
            try:
                if positional:
                    client.ping(limit)
                elif ping_kw:
                    client.ping(timeout=limit)
                else:
                    client.ping()
            except TimeoutError:
                if not give_up:
                    continue
                if sleep_after:
                    time.sleep(interval)
                client.close(code, "keepalive timeout", timeout=0.5)
                if returns:
                    return
            except wslab.WSLabError:
                if returns:
                    return
                raise
    return heartbeat


HEARTBEAT_WRONG = {
    # waits `interval` for the pong: the bug that passed before (0.6 s vs 0.2 s)
    "waits interval for the pong": (_loop(wait="interval"), ("`interval`", "0.6 s", "timeout")),
    "no timeout= on ping": (_loop(ping_kw=False), ("without timeout=", "5 s", "timeout=timeout")),
    "timeout passed positionally": (_loop(positional=True), ("client.ping(0.2)", "keyword")),
    "never gives up": (_loop(give_up=False), ("unanswered", "kept pinging", "1011")),
    "sleeps again before closing": (_loop(sleep_after=True), ("plus another interval",
                                                              "do not sleep")),
    "gives up before the timeout": (_loop(wait="quarter"), ("timeout",)),
    "closes with 1000": (_loop(code=1000), ("1000", "1011")),
    "closes with 1001": (_loop(code=1001), ("1001", "going away", "1011")),
    "no return after closing": (_loop(keep_going=True, returns=False),
                                ("went on", "ConnectionClosed", "Return")),
    "interval and timeout swapped": (lambda c, i, t: sol.get("ex05", "heartbeat")(c, t, i),
                                     ("one every", "0.6 s")),
}


@pytest.mark.parametrize("name", list(HEARTBEAT_WRONG))
def test_ex05_rejects_a_wrong_heartbeat(name):
    loop, words = HEARTBEAT_WRONG[name]
    _fails(ex05.check_heartbeat(loop), *words)


def test_ex05_pass_states_only_what_was_measured():
    r = ex05.check_heartbeat(sol.get("ex05", "heartbeat"))
    _passes(r)
    waited = float(r.message.split("Close '1011 keepalive timeout' ")[1].split(" s")[0])
    assert 0.2 - ex05.EARLY_S <= waited <= 0.2 + ex05.wait_slack(0.6, 0.2), r.message
    detected = float(r.message.split(" s after the blackhole")[0].rsplit(" ", 1)[1])
    if detected <= 0.8:
        assert "within interval + timeout = 0.80 s" in r.message
    else:  # never a bound the measurement exceeds
        assert "within" not in r.message and "this busy machine" in r.message


def test_ex05_refuses_arguments_it_cannot_tell_apart():
    _fails(ex05.check_heartbeat(sol.get("ex05", "heartbeat"), interval=0.3, timeout=0.25),
           "too close", "0.15 s apart")
    _fails(ex05.check_heartbeat(sol.get("ex05", "heartbeat"), interval=0, timeout=0.2),
           "interval", "0.05-5")


def _modes(idle: int, fixed: int = 5, *, at: float) -> PingModes:
    return PingModes(interval=0.2, seconds=1.1, messages=60, fixed_pings=fixed,
                     idle_pings=idle, started_at=at)


def test_ex05_prediction_is_compared_with_the_count():
    _predict.forget()
    _fails(ex05.predict_idle_pings(None), "write your prediction first")
    blank = ex05.idle_pings(_modes(0, at=time.monotonic()))
    _fails(blank, "no prediction recorded")
    assert "0 ping" not in blank.message  # Run All with the stub reveals nothing
    _fails(ex05.predict_idle_pings("none"), "number")
    _passes(ex05.predict_idle_pings(0))
    r = ex05.idle_pings(_modes(0, at=time.monotonic()))
    _passes(r)
    assert "idle-mode client sent 0 ping(s)" in r.message and "fixed-interval one 5" in r.message
    _passes(ex05.predict_idle_pings(5))
    _fails(ex05.idle_pings(_modes(0, at=time.monotonic())), "you predicted 5", "sent 0")
    measured = time.monotonic()
    _passes(ex05.predict_idle_pings(0))
    _fails(ex05.idle_pings(_modes(0, at=measured)), "after the demo")
    _fails(ex05.idle_pings(None), "ping_modes_demo")
    _predict.forget()


def test_ex05_ping_modes_demo_counts_real_pings(server):
    from wslab.labs.heartbeat import ping_modes_demo
    modes = ping_modes_demo(server.url, interval=0.2, messages=30)
    assert modes.fixed_pings >= 2 and modes.idle_pings <= 1, modes
    assert modes.started_at <= time.monotonic() - modes.seconds


# --- 06: backoff ----------------------------------------------------------------------------

def _ceiling(a):
    return min(2.0, 0.1 * 2 ** a)


BACKOFF_WRONG = {
    "cap applied after the jitter": (lambda a, rng: min(2.0, rng.uniform(0, 0.1 * 2 ** a)),
                                     ("exactly 2 s", "after the jitter", "backoff(5, rng)")),
    "exponent one too high": (lambda a, rng: rng.uniform(0, min(2.0, 0.1 * 2 ** (a + 1))),
                              ("backoff(0, rng)", "attempt + 1")),
    "exponent one too low": (lambda a, rng: rng.uniform(0, min(2.0, 0.1 * 2 ** (a - 1))),
                             ("backoff(0, rng)", "attempt - 1")),
    "no jitter": (lambda a, rng: _ceiling(a), ("no jitter", "backoff(3, rng)")),
    "no cap": (lambda a, rng: rng.uniform(0, 0.1 * 2 ** a), ("backoff(5, rng)", "cap", "2 s")),
    "the random module": (lambda a, rng: random.uniform(0, _ceiling(a)), ("`rng`", "replayed")),
    "equal jitter": (lambda a, rng: _ceiling(a) / 2 + rng.uniform(0, _ceiling(a) / 2),
                     ("never returned less", "full jitter")),
    "milliseconds": (lambda a, rng: rng.uniform(0, min(2000, 100 * 2 ** a)),
                     ("milliseconds", "backoff(0, rng)")),
    "linear growth": (lambda a, rng: rng.uniform(0, min(2.0, 0.1 * (a + 1))),
                      ("backoff(2, rng)", "0.4 s", "grows")),
    "skewed towards 0": (lambda a, rng: _ceiling(a) * rng.random() ** 2,
                         ("not spread evenly", "retry 0")),
    "the cap from the start": (lambda a, rng: rng.uniform(0, 2.0), ("backoff(0, rng)", "0.1 s")),
}


@pytest.mark.parametrize("name", list(BACKOFF_WRONG))
def test_ex06_rejects_a_wrong_backoff(name):
    fn, words = BACKOFF_WRONG[name]
    _fails(ex06.check_backoff(fn), *words)


def test_ex06_accepts_another_full_jitter():
    r = ex06.check_backoff(lambda a, rng: rng.random() * _ceiling(a))
    _passes(r)
    assert "allowed: 16" in r.message and "were due" in r.message


def _codes(gave_up: dict[int, bool], *, at: float) -> CloseCodeDemo:
    return CloseCodeDemo(tuple(CloseOutcome(c, None if g else 0.05,
                                            f"the server closed with {c}" if g else None)
                               for c, g in gave_up.items()), at)


def test_ex06_prediction_is_compared_with_what_the_clients_did():
    _predict.forget()
    usual = {1001: False, 1011: False, 1013: False, 1008: True}
    blank = ex06.give_up(_codes(usual, at=time.monotonic()))
    _fails(blank, "no prediction recorded")
    assert "1008" not in blank.message
    _fails(ex06.predict_give_up(4000), "one of")
    _passes(ex06.predict_give_up(1008))
    _passes(ex06.give_up(_codes(usual, at=time.monotonic())))
    _passes(ex06.predict_give_up(1013))
    r = ex06.give_up(_codes(usual, at=time.monotonic()))
    _fails(r, "gave up after 1008", "you said 1013")
    # an odd measurement is stated as measured, without the usual story
    _passes(ex06.predict_give_up(1008))
    odd = ex06.give_up(_codes({1001: True, 1008: True}, at=time.monotonic()))
    assert "gave up after 1001, 1008" in odd.message and "policy" not in odd.message
    _predict.forget()


def test_ex06_close_code_demo_on_a_real_server(server):
    demo = close_code_demo(server, (1001, 1013, 1008, 4003))
    assert demo.gave_up() == [1008, 4003], str(demo)
    assert all(o.reconnected_after is not None for o in demo.outcomes if not o.gave_up)


# --- 07: rooms ------------------------------------------------------------------------------

def _rooms(*, send_to="members", check=True, discard=True, count="after", error_to="sender",
           container=set, any_room=False, key="members"):
    """An on_message for rooms with one mistake chosen by the keywords."""
    def on_message(rooms, conn, message):
        msg = json.loads(message)
        op, room = msg.get("op"), msg.get("room")
        members = rooms.setdefault(room, container())
        if op == "join":
            before = len(members)
            if container is set:
                members.add(conn)
            else:
                members.append(conn)
            n = len(members) if count == "after" else before
            conn.send(json.dumps({"op": "joined", "room": room, key: n}))
        elif op == "leave":
            if discard:
                members.discard(conn)
            conn.send(json.dumps({"op": "left", "room": room}))
        elif op == "say":
            inside = any(conn in m for m in rooms.values()) if any_room else conn in members
            if check and not inside:
                err = json.dumps({"op": "error", "reason": f"not in room {room}"})
                for m in ([conn] if error_to == "sender" else list(members)):
                    m.send(err)
                return
            out = json.dumps({"op": "said", "room": room, "text": msg.get("text")})
            if send_to == "all":
                conn.server.broadcast(out)
                return
            for m in members:
                if not (send_to == "others" and m is conn):
                    m.send(out)
    return on_message


ROOMS_WRONG = {
    "broadcast to everyone": (_rooms(send_to="all"), ("'hi'", "cy also received", "lab")),
    "a list, joining twice counts twice": (_rooms(container=list),
                                           ("second time", "'members': 3".replace("'", '"'))),
    "the sender left out": (_rooms(send_to="others"), ("ann received nothing", "'hi'")),
    "no membership check": (_rooms(check=False), ("'psst'", "cy received nothing",
                                                  "meanwhile ann received")),
    "member of any room may speak": (_rooms(any_room=True), ("member of lobby but not of lab",
                                                             "psst")),
    "leaving removes nobody": (_rooms(discard=False), ("after bob left", "bob also received")),
    "count taken before adding": (_rooms(count="before"), ("ann joins lab", '"members": 0')),
    "the error to the whole room": (_rooms(error_to="room"), ("an error, to cy only",
                                                              "meanwhile ann received")),
    "a misspelt field": (_rooms(key="member"), ('"member": 1', "expected")),
    "a crash": (lambda rooms, conn, message: rooms[message], ("KeyError", "on_message()")),
}


@pytest.mark.parametrize("name", list(ROOMS_WRONG))
def test_ex07_rejects_wrong_rooms(name):
    fn, words = ROOMS_WRONG[name]
    _fails(ex07.check_rooms(fn), *words)


def _lazy_demo(send_buffer_max: int, messages: int) -> tuple[wslab.LabServer, list[int]]:
    """The notebook's slow-consumer demo, smaller: two fast clients and a raw socket that
    never reads after its handshake."""
    srv = wslab.serve(name="pytest-lazy", send_buffer_max=send_buffer_max)
    fast = [wslab.connect(srv.url) for _ in range(2)]
    lazy = socket.socket()
    try:
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.connect(("127.0.0.1", srv.port))
        lazy.sendall(handshake.build_request(host=f"127.0.0.1:{srv.port}", path="/echo",
                                             key=handshake.make_key()))
        assert lazy.recv(200).startswith(b"HTTP/1.1 101")
        for i in range(messages):
            srv.broadcast(f"{i:03d}" + "x" * 65536)
        got = [len([f.recv(timeout=10) for _ in range(messages)]) for f in fast]
        deadline = time.monotonic() + 5
        while not srv.events.of("error") and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        lazy.close()
        for f in fast:
            f.stop()
    return srv, got


def test_ex07_prediction_is_compared_with_the_servers_events():
    _predict.forget()
    _fails(ex07.predict_lazy(None), "write your prediction first")
    _fails(ex07.predict_lazy("wait"), "one of")
    _passes(ex07.predict_lazy("drop"))
    srv, got = _lazy_demo(128 * 1024, 60)
    try:
        r = ex07.lazy_client(srv, got, sent=60)
        _passes(r)
        assert "[60, 60] of 60" in r.message and "1013" in r.message
        _passes(ex07.predict_lazy("slow"))
        _fails(ex07.lazy_client(srv, got, sent=60), "after the demo")
        _predict.forget()
        blank = ex07.lazy_client(srv, got, sent=60)
        _fails(blank, "no prediction recorded")
        assert "1013" not in blank.message
    finally:
        srv.stop()
    _fails(ex07.lazy_client(None, [], sent=60), "run the demo cell")
    _predict.forget()


# --- 08: subprotocol selection --------------------------------------------------------------

SUPPORTED = ["chat.json.v1", "chat.bin.v1"]


def _set_pop(offered):
    common = set(SUPPORTED) & set(offered)
    return common.pop() if common else None


def _substring(offered):
    return next((m for m in SUPPORTED if any(o in m for o in offered)), None)


def _stop_iteration(offered):
    return next(m for m in SUPPORTED if m in offered)


def _joined(offered):
    return ", ".join(o for o in offered if o in SUPPORTED) or None


def _first_offer(offered):
    return offered[0] if offered else None


def _sorted_first(offered):
    common = sorted(set(SUPPORTED) & set(offered))
    return common[0] if common else None


SELECT_WRONG = {
    # a set's order is fixed per process: right or wrong by luck, until SUPPORTED is reversed
    "a set's arbitrary order": (_set_pop, ("preference", "SUPPORTED")),
    "a substring match": (_substring, ("['chat.json']", "did not offer", "4.1")),
    "no default for next()": (_stop_iteration, ("select(['mqtt'])", "StopIteration")),
    "every match, joined": (_joined, ("cannot send", "chat.bin.v1, chat.json.v1")),
    "the client's first offer": (_first_offer, ("preference",)),
    "alphabetical order": (_sorted_first, ("preference", "chat.json.v1")),
}


@pytest.mark.parametrize("name", list(SELECT_WRONG))
def test_ex08_rejects_a_wrong_select(name):
    fn, words = SELECT_WRONG[name]
    _fails(ex08.check_select(fn), *words)
    assert SUPPORTED == ["chat.json.v1", "chat.bin.v1"]  # the check put the list back


def test_ex08_set_order_is_caught_whichever_way_it_falls():
    """With SUPPORTED reversed, a choice that ignores its order is wrong in one of the two."""
    r = ex08.check_select(_set_pop)
    _fails(r)
    lucky = _set_pop(["chat.bin.v1", "chat.json.v1"]) == "chat.json.v1"  # as in round 1
    assert ("reversed" in r.message) == lucky, r.message


def test_ex08_accepts_a_solution_that_keeps_its_own_list():
    def select(offered, mine=("chat.json.v1", "chat.bin.v1")):
        return next((m for m in mine if m in offered), None)
    r = ex08.check_select(select)
    _passes(r)
    assert "both orders" not in r.message  # only what was run is claimed


def _records(random_ratio: float, *, at: float) -> list[CompressionRecord]:
    out = []
    for kind, ratio in (("json", 0.2), ("repetitive", 0.01), ("random", random_ratio)):
        for compressed in (False, True):
            r = ratio if compressed else 1.004
            out.append(CompressionRecord(kind=kind, size=1000, compressed=compressed,
                                         wire_bytes_up=int(1000 * r) + 8,
                                         wire_bytes_down=int(1000 * r) + 4, ratio=r,
                                         rtt_median_s=0.001, measured_at=at))
    return out


def test_ex08_prediction_is_compared_with_the_records():
    _predict.forget()
    blank = ex08.no_gain(_records(1.01, at=time.monotonic()))
    _fails(blank, "no prediction recorded")
    assert "random" not in blank.message
    _fails(ex08.predict_no_gain("rand"), "one of")
    _passes(ex08.predict_no_gain("random"))
    r = ex08.no_gain(_records(1.01, at=time.monotonic()))
    _passes(r)
    assert "random 1,012 -> 1,018 bytes" in r.message
    _passes(ex08.predict_no_gain("json"))
    _fails(ex08.no_gain(_records(1.01, at=time.monotonic())), "you said 'json'", "json 1,012")
    _passes(ex08.predict_no_gain("random"))
    _fails(ex08.no_gain(_records(1.01, at=0.0)), "after the demo")
    _fails(ex08.no_gain([]), "compression_experiment")
    _predict.forget()


def test_chromium_reports_an_empty_string_when_no_subprotocol_was_chosen():
    from wslab.labs.negotiation import chromium_available, chromium_offer
    need(chromium_available() is None, f"headless Chromium ({chromium_available()})")
    chat = wslab.serve(name="pytest-chat", subprotocols=SUPPORTED)
    try:
        (plain,) = chromium_offer(chat.page_url, [(chat.url, [])])
    finally:
        chat.stop()
    assert plain.opened and plain.protocol == "", plain
    assert "ws.protocol = ''" in str(plain)
