"""Exercise checks of notebooks 05-10 run the learner's code against the real system.

For every written-code check: the model solution passes, a plausible wrong answer fails
with a message naming what is wrong, and the unwritten stub says "not written yet".
"""

from __future__ import annotations

import json
import random
import re
import time

import wslab
from tests.conftest import need
from wslab.exercises import Result, ex05, ex06, ex07, ex08, ex09, ex10
from wslab.exercises import _solutions as sol


def _passes(r: Result) -> None:
    assert isinstance(r, Result) and r.ok, str(r)
    assert "PASS" in str(r) and "data-ok='true'" in r._repr_html_()


def _fails(r: Result, *words: str) -> None:
    assert isinstance(r, Result) and not r.ok, str(r)
    assert "NOT YET" in str(r) and "data-ok='false'" in r._repr_html_()
    for w in words:
        assert w in r.message, (w, r.message)


def _stub(*args):
    raise NotImplementedError


# --- 05: heartbeat loop -----------------------------------------------------------------

def _keeps_pinging(client, interval, timeout):
    while client.state == wslab.State.OPEN:
        time.sleep(interval)
        try:
            client.ping(timeout=timeout)
        except TimeoutError:
            continue  # never gives up
        except wslab.WSLabError:
            return


def _closes_normally(client, interval, timeout):
    while client.state == wslab.State.OPEN:
        time.sleep(interval)
        try:
            client.ping(timeout=timeout)
        except TimeoutError:
            client.close(1000, timeout=0.5)
            return


def test_ex05_heartbeat_loop():
    _passes(ex05.check_heartbeat(sol.get("ex05", "heartbeat")))
    _fails(ex05.check_heartbeat(_stub), "not written yet")
    _fails(ex05.check_heartbeat(_keeps_pinging), "blackhole", "no Close")
    _fails(ex05.check_heartbeat(_closes_normally), "1000", "1011")
    swapped = sol.get("ex05", "heartbeat")
    _fails(ex05.check_heartbeat(lambda c, i, t: swapped(c, t, i)), "one every")


# --- 06: backoff ----------------------------------------------------------------------------

def test_ex06_backoff_in_a_real_herd():
    _passes(ex06.check_backoff(sol.get("ex06", "backoff")))
    _fails(ex06.check_backoff(_stub), "not written yet")
    _fails(ex06.check_backoff(lambda a, rng: min(2.0, 0.1 * 2 ** a)), "no jitter")
    _fails(ex06.check_backoff(lambda a, rng: rng.uniform(0, 0.1 * 2 ** a)), "2 s")
    _fails(ex06.check_backoff(lambda a, rng: random.uniform(0, min(2.0, 0.1 * 2 ** a))), "rng")
    _fails(ex06.check_backoff(lambda a, rng: rng.uniform(0, min(2.0, 0.1 * (a + 1)))), "grow")


def test_herd_peak_counts_the_densest_window():
    from wslab.labs.herd import HerdResult
    r = HerdResult("x", 4, 1.0, [0.10, 0.105, 0.11, 0.5], 1.5)
    assert r.peak(0.02) == 3 and r.peak(0.001) == 1 and r.peak(1.0) == 4


# --- 07: rooms ------------------------------------------------------------------------------

def _broadcasts_to_all(rooms, conn, message):
    msg = json.loads(message)
    members = rooms.setdefault(msg["room"], set())
    if msg["op"] == "join":
        members.add(conn)
        conn.send(json.dumps({"op": "joined", "room": msg["room"], "members": len(members)}))
    elif msg["op"] == "leave":
        members.discard(conn)
        conn.send(json.dumps({"op": "left", "room": msg["room"]}))
    else:
        conn.server.broadcast(json.dumps({"op": "said", "room": msg["room"], "text": msg["text"]}))


def _list_members(rooms, conn, message):
    msg = json.loads(message)
    members = rooms.setdefault(msg["room"], [])
    members.append(conn)
    conn.send(json.dumps({"op": "joined", "room": msg["room"], "members": len(members)}))


def test_ex07_rooms_with_real_clients():
    _passes(ex07.check_rooms(sol.get("ex07", "on_message")))
    _fails(ex07.check_rooms(_stub), "not written yet")
    _fails(ex07.check_rooms(_broadcasts_to_all), "cy also received", "lab")
    _fails(ex07.check_rooms(_list_members), "second time", "members")
    _fails(ex07.check_rooms(lambda rooms, conn, message: rooms[message]), "KeyError")


# --- 08: subprotocol selection -----------------------------------------------------------

SUPPORTED = ["chat.json.v1", "chat.bin.v1"]


def _client_order(offered):
    return next((o for o in offered if o in SUPPORTED), None)


def test_ex08_select_in_real_handshakes():
    _passes(ex08.check_select(sol.get("ex08", "select")))
    _fails(ex08.check_select(_stub), "not written yet")
    _fails(ex08.check_select(_client_order), "preference")
    _fails(ex08.check_select(lambda offered: SUPPORTED[0]), "did not offer", "4.1")
    _fails(ex08.check_select(lambda offered: next(
        (m for m in SUPPORTED for o in offered if o.startswith(m[:9])), None)), "chat.json.v2")
    good = sol.get("ex08", "select")
    _fails(ex08.check_select(lambda offered: good(offered) or ""), "cannot send")


def test_chromium_fails_a_connection_when_no_subprotocol_is_selected():
    from wslab.labs.negotiation import chromium_available, chromium_offer
    need(chromium_available() is None, f"headless Chromium ({chromium_available()})")
    chat = wslab.serve(name="pytest-chat", subprotocols=SUPPORTED)
    try:
        none, both = chromium_offer(chat.page_url, [(chat.url, ["mqtt"]),
                                                    (chat.url, ["chat.bin.v1", "chat.json.v1"])])
    finally:
        chat.stop()
    assert not none.opened and none.error_event and none.close_code == 1006
    assert any("Sec-WebSocket-Protocol" in line for line in none.console)
    assert both.opened and both.protocol == "chat.json.v1"


# --- 09: origin and token (more wrong answers: tests/test_exercises_09_12_wrong.py) ----------

def _token_only(origin, token, site):
    return 401 if token is None else (101 if token == "s3cret" else 403)


def _origin_only(origin, token, site):
    return 101 if origin == site else 403


def _origin_required(origin, token, site):
    if origin != site:
        return 403
    return _token_only(origin, token, site)


def test_ex09_admit_against_hijack_and_forgeries():
    _passes(ex09.check_admit(sol.get("ex09", "admit")))
    _fails(ex09.check_admit(_stub), "not written yet")
    _fails(ex09.check_admit(_token_only), "https://evil.example", "compare Origin with site")
    _fails(ex09.check_admit(_origin_only), "no Origin and the right token", "expected 101")
    _fails(ex09.check_admit(_origin_required), "no Origin", "expected 101")
    _fails(ex09.check_admit(lambda o, t, s: True), "returned True")


# --- 10: coordinated omission (more wrong answers: tests/test_exercises_09_12_wrong.py) -------

def _naive(client, n, interval):
    start = time.perf_counter()
    out = []
    for i in range(n):
        due = start + i * interval
        time.sleep(max(0.0, due - time.perf_counter()))
        sent = time.perf_counter()
        client.send("m")
        client.recv()
        out.append(time.perf_counter() - sent)
    return out


def _early_clock(client, n, interval):
    start = time.perf_counter() - 0.05  # the schedule starts 50 ms before the first message
    out = []
    for i in range(n):
        due = start + 0.05 + i * interval
        time.sleep(max(0.0, due - time.perf_counter()))
        client.send("m")
        client.recv()
        out.append(time.perf_counter() - (start + i * interval))
    return out


def test_ex10_measure_through_a_stall():
    _passes(ex10.check_measure(sol.get("ex10", "measure")))
    early = ex10.check_measure(_early_clock)
    _fails(early, "ms off the truth")
    off = re.search(r"about \+(\d+)\.\d ms off", early.message)  # 50 ms, plus a loaded machine's
    assert off is not None and 48 <= int(off.group(1)) <= 60, early.message
    _fails(ex10.check_measure(_stub), "not written yet")
    _fails(ex10.check_measure(_naive), "your loop reports", "from when the message was due")
    _fails(ex10.check_measure(lambda c, n, i: [0.0] * 3), "returned 3 value(s)")


def test_every_solution_is_shown_on_request():
    for nb, name in (("ex05", "heartbeat"), ("ex06", "backoff"), ("ex07", "on_message"),
                     ("ex08", "select"), ("ex09", "admit"), ("ex10", "measure")):
        mod = {"ex05": ex05, "ex06": ex06, "ex07": ex07, "ex08": ex08, "ex09": ex09,
               "ex10": ex10}[nb]
        view = mod.solution(name)
        assert f"def {name}(" in str(view) and "NotImplementedError" not in str(view)
