"""Notebooks 09-12: every written-code check rejects plausible wrong answers.

For each check, at least five wrong answers of different kinds (a prefix or substring match,
a missing case, a wrong unit, off by one, the wrong order, a rule applied in the wrong place,
the insecure comparison), each rejected with feedback that names what is wrong and where.
The model solutions pass.  Security checks reject ``==`` on secrets as NOT YET, whatever the
comments say.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import need
from wslab.exercises import Result, ex09, ex10, ex11, ex12
from wslab.exercises import _predict as predict
from wslab.exercises import _solutions as sol
from wslab.exercises._constant_time import Watch, insecure, tree_comparisons
from wslab.labs.stats import percentile

SECRET = "s3cret"


def _passes(r: Result) -> None:
    assert isinstance(r, Result) and r.ok, str(r)


def _fails(r: Result, *words: str) -> None:
    assert isinstance(r, Result) and not r.ok, str(r)
    assert "NOT YET" in str(r)
    for w in words:
        assert w in r.message, (w, r.message)


# --- 09: admit(origin, token, site) ----------------------------------------------------------

def _admit_with(origin_ok, token_ok=lambda t: hmac.compare_digest(t, SECRET)):
    def admit(origin, token, site):
        if not origin_ok(origin, site):
            return 403
        if token is None:
            return 401
        return 101 if token_ok(token) else 403
    return admit


ADMIT_WRONG = {
    "prefix origin": (_admit_with(lambda o, s: o is None or o.startswith(s)),
                      ["a page on port", "starts with http://127.0.0.1:",
                       "compare the whole Origin"]),
    "port equal, host by prefix": (
        _admit_with(lambda o, s: o is None or (urlsplit(o).port == urlsplit(s).port and
                                               urlsplit(o).hostname.startswith(
                                                   urlsplit(s).hostname))),
        ["bank.example.evil.net", "a prefix match", "compare the whole Origin"]),
    "port equal, host by ending": (
        _admit_with(lambda o, s: o is None or (urlsplit(o).port == urlsplit(s).port and
                                               urlsplit(o).hostname.endswith(
                                                   urlsplit(s).hostname))),
        ["evilbank.example", "an ending or a substring match"]),
    "null as no origin": (_admit_with(lambda o, s: o in (None, "null") or o == s),
                          ["Origin: null", "RFC 6454 section 7", "not a missing one"]),
    "substring origin": (_admit_with(lambda o, s: o is None or s in o),
                         ["starts with", "but is another origin", "compare the whole Origin"]),
    "host only, port and scheme ignored": (
        _admit_with(lambda o, s: o is None or urlsplit(o).hostname == urlsplit(s).hostname),
        ["port", "starts with", "another origin"]),
    "no origin check": (_admit_with(lambda o, s: True),
                        ["https://evil.example", "returned 101, expected 403",
                         "compare Origin with site"]),
    "origin required": (_admit_with(lambda o, s: o == s),
                        ["no Origin and the right token", "expected 101", "their token decides"]),
    "token prefix": (_admit_with(lambda o, s: o is None or o == s,
                                 lambda t: SECRET.startswith(t)),
                     ["'s3c'", "compare the whole token"]),
    "token substring of a longer guess": (_admit_with(lambda o, s: o is None or o == s,
                                                      lambda t: SECRET in t),
                                          ["'s3cret!'", "compare the whole token"]),
    "token case-insensitive": (_admit_with(lambda o, s: o is None or o == s,
                                           lambda t: hmac.compare_digest(t.lower(), SECRET)),
                               ["'S3CRET'", "case-sensitive"]),
    "a bool, not a status": (lambda o, t, s: o in (None, s) and t == SECRET,
                             ["returned True", "(101, 401, 403)"]),
}


def _swapped(origin, token, site):
    if origin is not None and origin != site:
        return 403
    if token is None:
        return 403  # 401 and 403 swapped
    return 101 if hmac.compare_digest(token, SECRET) else 401


def _plain_equality(origin, token, site):
    if origin is not None and origin != site:
        return 403
    if token is None:
        return 401
    # hmac.compare_digest(token, SECRET) would take constant time
    return 101 if token == SECRET else 403


def _bytes_equality(origin, token, site):
    if origin is not None and origin != site:
        return 403
    if token is None:
        return 401
    return 101 if bytes(token, "ascii") == SECRET.encode() else 403  # an unwatched copy


@pytest.mark.parametrize("kind", list(ADMIT_WRONG))
def test_admit_rejects_a_wrong_origin_or_token_rule(kind):
    admit, words = ADMIT_WRONG[kind]
    _fails(ex09.check_admit(admit, secret=SECRET), *words)


def test_admit_rejects_401_and_403_swapped():
    _fails(ex09.check_admit(_swapped), "a script with no Origin and no token",
           "401 means no token was sent")


def test_admit_rejects_token_compared_with_equality_whatever_the_comments_say():
    r = ex09.check_admit(_plain_equality)
    _fails(r, "every answer was right", "_plain_equality()", "token == SECRET",
           "hmac.compare_digest")
    _fails(ex09.check_admit(_bytes_equality), "_bytes_equality()", "bytes(token")


def test_admit_model_passes_and_the_hijack_check_still_runs():
    r = ex09.check_admit(sol.get("ex09", "admit"))
    _passes(r)
    assert "hijack" in r.message and "constant time" in r.message


def test_admit_table_extends_a_random_port_each_run():
    import random
    ports = set()
    for seed in range(5):
        cases = ex09.table(SECRET, random.Random(seed))
        longer = next(c for c in cases if c.origin and c.origin.startswith("http://127.0.0.1:")
                      and c.origin != c.site)
        assert longer.origin.startswith(longer.site) and longer.want == 403
        assert 0 < int(longer.origin.rsplit(":", 1)[1]) <= 65535
        ports.add(longer.site)
    assert len(ports) > 1


# --- the constant-time judge itself ---------------------------------------------------------------

def test_constant_time_judge_reads_behaviour_and_syntax_not_comments():
    def digest(token):
        # never `token == SECRET`: timing
        return hmac.compare_digest(token.encode(), SECRET.encode())

    def length_first(token):
        parts = token.split(".")
        if len(parts) != 2 or parts[0] == "":
            return False
        return hmac.compare_digest(parts[1], SECRET)

    def equality(token):
        # hmac.compare_digest
        return token == SECRET

    def sliced(token):
        return token[:6] != SECRET

    for fn, bad in ((digest, False), (length_first, False), (equality, True), (sliced, True)):
        watch = Watch()
        fn(watch.text("x." + SECRET) if fn is length_first else watch.text(SECRET))
        found = insecure(watch, fn, 0)
        assert (found is not None) == bad, (fn.__name__, found)
    assert tree_comparisons(equality, 0)[0].code == "token == SECRET"
    assert not tree_comparisons(length_first, 0)  # len(...) != 2 and == "" are not secrets


# --- 10: measure(client, n, interval) ----------------------------------------------------------

def _paced(latency):
    """A paced loop whose latency of message i is latency(now, due, sent, start, i, interval)."""
    def measure(client, n, interval):
        start = time.perf_counter()
        out = []
        for i in range(n):
            due = start + i * interval
            time.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            client.send("m")
            client.recv()
            out.append(latency(time.perf_counter(), due, sent, start, i, interval))
        return out
    return measure


def _unpaced(client, n, interval):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        client.send("m")
        client.recv()
        out.append(time.perf_counter() - t)
    return out


MEASURE_WRONG = {
    "from the actual send time": (_paced(lambda now, due, sent, start, i, iv: now - sent),
                                  ["your loop reports", "from when the message was due"]),
    "milliseconds": (_paced(lambda now, due, sent, start, i, iv: (now - due) * 1e3),
                     ["look like milliseconds", "not multiplied by 1000"]),
    "nanoseconds": (_paced(lambda now, due, sent, start, i, iv: (now - due) * 1e9),
                    ["look like nanoseconds"]),
    "off by one interval": (_paced(lambda now, due, sent, start, i, iv:
                                   now - (start + (i + 1) * iv)),
                            ["cannot be negative", "start + i * interval"]),
    "from the start of the run": (_paced(lambda now, due, sent, start, i, iv: now - start),
                                  ["grow by about", "from the start of the run"]),
    "two clocks mixed": (_paced(lambda now, due, sent, start, i, iv: now - time.time()),
                         ["two clocks mixed", "time.time()"]),
    "not paced": (_unpaced, ["before its due time", "pace the loop"]),
    "clock started 50 ms early": (_paced(lambda now, due, sent, start, i, iv:
                                         now - (due - 0.05)),
                                  ["ms off the truth", "starts before the first message"]),
    "too few values": (lambda c, n, i: [0.001] * 3, ["returned 3 value(s)"]),
    "one number": (lambda c, n, i: 0.001, ["returned float", "return a list"]),
}


@pytest.mark.parametrize("kind", list(MEASURE_WRONG))
def test_measure_rejects_a_wrong_latency_loop(kind):
    measure, words = MEASURE_WRONG[kind]
    _fails(ex10.check_measure(measure), *words)


def test_measure_model_passes():
    _passes(ex10.check_measure(sol.get("ex10", "measure")))


def test_stall_trial_truth_includes_the_thread_hop():
    """The naive loop never reports more than the truth: both end where recv() returned."""
    from wslab.labs.latency import stall_trial
    t = stall_trial(MEASURE_WRONG["from the actual send time"][0], n=100, interval=0.005,
                    stall=0.1)
    assert t.error is None and len(t.truth_s) == 100
    for p in (50, 90, 99):
        assert percentile(t.reported_s, p) <= percentile(t.truth_s, p) + 2e-5, p
    over = [r - tr for r, tr in zip(t.reported_s, t.truth_s, strict=True) if r > tr + 2e-5]
    assert len(over) <= 2, f"{len(over)} reports above the truth, up to {max(over) * 1e3:.3f} ms"


# --- 11: deliver_once, ping_interval -------------------------------------------------------------

def _everything(last_seen, incoming):
    return [d for _, d in incoming], max([last_seen] + [s for s, _ in incoming])


def _past_gaps(last_seen, incoming):
    out = []
    for s, d in incoming:
        if s > last_seen:
            out.append(d)
            last_seen = s
    return out, last_seen


def _set_of_seen(last_seen, incoming):
    seen, out = set(), []
    for s, d in incoming:
        if s not in seen:
            seen.add(s)
            out.append(d)
    return out, max([last_seen] + list(seen))


def _off_by_one(last_seen, incoming):
    out = []
    for s, d in incoming:
        if s >= last_seen and s <= last_seen + 1:
            out.append(d)
            last_seen = s
    return out, last_seen


def _forgets_last_seen(last_seen, incoming):
    out, nxt = [], last_seen
    for s, d in incoming:
        if s == nxt + 1:
            out.append(d)
            nxt = s
    return out, last_seen


def _last_arrived(last_seen, incoming):
    out, cur = [], last_seen
    for s, d in incoming:
        if s == cur + 1:
            out.append(d)
            cur = s
    return out, (incoming[-1][0] if incoming else last_seen)


def _by_data(last_seen, incoming):
    out = []
    for s, d in incoming:
        if s > last_seen and d not in out:
            out.append(d)
    return out, max([last_seen] + [s for s, _ in incoming])


DELIVER_WRONG = {
    "no dedupe": (_everything, ["a replay overlapping", "skip every seq <= last_seen"]),
    "past a gap": (_past_gaps, ["a gap (7 is missing)", "past a gap"]),
    "a set instead of last_seen": (_set_of_seen, ["a replay overlapping",
                                                  "skip every seq <= last_seen"]),
    "off by one (>= last_seen)": (_off_by_one, ["a replay overlapping", "delivered ['b', 'c', "]),
    "last_seen never moves": (_forgets_last_seen, ["in order", "should be 3, you returned 0"]),
    "last_seen from the last arrival": (_last_arrived, ["a gap (7 is missing)", "the new "
                                                        "last_seen should be 6", "DELIVERED"]),
    "dedupe by text": (_by_data, ["two events with the same text", "decide by seq"]),
    "not a pair": (lambda a, b: [], ["return a pair"]),
}


@pytest.mark.parametrize("kind", list(DELIVER_WRONG))
def test_deliver_once_rejects(kind):
    fn, words = DELIVER_WRONG[kind]
    _fails(ex11.check_deliver_once(fn), *words)


def test_deliver_once_model_passes():
    _passes(ex11.check_deliver_once(sol.get("ex11", "deliver_once")))


PING_WRONG = {
    "the longest timeout": (lambda ts: max(ts) / 2, ["not below the shortest idle timeout"]),
    "the first hop only": (lambda ts: ts[0] / 2, ["350 s NAT", "shortest idle timeout"]),
    "just under the timeout": (lambda ts: min(ts) * 0.9, ["late or lost ping", "half"]),
    "the mean": (lambda ts: sum(ts) / len(ts) / 2, ["shortest idle timeout"]),
    "a library's default": (lambda ts: 25, ["corporate proxy with 30 s", "25 s works only if",
                                            "late or lost ping"]),
    "milliseconds": (lambda ts: min(ts) / 2 * 1000, ["looks like milliseconds"]),
    "tiny": (lambda ts: 0.01, ["wasteful"]),
    "a string": (lambda ts: "30", ["a number of seconds"]),
}


@pytest.mark.parametrize("kind", list(PING_WRONG))
def test_ping_interval_rejects(kind):
    fn, words = PING_WRONG[kind]
    _fails(ex11.check_ping_interval(fn), *words)


def test_ping_interval_path_puts_its_shortest_anywhere():
    import random
    places = set()
    for seed in range(20):
        random_path = next(p for label, p in ex11._paths(random.Random(seed)).items()
                           if label.startswith("a path with"))
        places.add(random_path.index(min(random_path)))
    assert places == {0, 1, 2}


# --- 12: verify_token ---------------------------------------------------------------------------

def _sig(user):
    return hmac.new(ex12.SECRET, user.encode(), hashlib.sha256).hexdigest()


def _token_check(compare):
    def verify_token(token):
        if not isinstance(token, str) or token.count(".") != 1:
            return None
        user, sig = token.split(".")
        return user if user and compare(sig, _sig(user)[:16]) else None
    return verify_token


def _trusts_name(token):
    return token.split(".")[0] if isinstance(token, str) and "." in token else None


def _ignores_extra(token):
    if not isinstance(token, str) or "." not in token:
        return None
    user, sig = token.split(".")[:2]
    return user if user and hmac.compare_digest(sig, _sig(user)[:16]) else None


def _whole_digest(token):
    if not isinstance(token, str) or token.count(".") != 1:
        return None
    user, sig = token.split(".")
    return user if hmac.compare_digest(sig, _sig(user)) else None


def _empty_name_ok(token):
    if not isinstance(token, str) or token.count(".") != 1:
        return None
    user, sig = token.split(".")
    return user if hmac.compare_digest(sig, _sig(user)[:16]) else None


def _plain(token):
    # hmac.compare_digest would be constant time: a comment proves nothing
    if not isinstance(token, str) or token.count(".") != 1:
        return None
    user, sig = token.split(".")
    return user if user and sig == _sig(user)[:16] else None


TOKEN_WRONG = {
    "trusts the name": (_trusts_name, ["bob's signature", "forged token gets in"]),
    "prefix of the signature": (_token_check(lambda s, good: bool(s) and good.startswith(s)),
                                ["cut to 8 digits"]),
    "ignores what follows": (_ignores_extra, ["a second signature"]),
    "the whole digest": (_whole_digest, ["alice's own token", "first 16 hex digits"]),
    "False for no": (lambda t: sol.get("ex12", "verify_token")(t) or False,
                     ["returned False", "must return None"]),
    "plain ==": (_plain, ["every token was judged right", "sig == _sig(user)[:16]",
                          "hmac.compare_digest"]),
    "empty name accepted": (_empty_name_ok, ["an empty name", "returned ''"]),
}


@pytest.mark.parametrize("kind", list(TOKEN_WRONG))
def test_verify_token_rejects(kind):
    fn, words = TOKEN_WRONG[kind]
    _fails(ex12.check_token(fn), *words)


# --- 12: on_command / on_gone ----------------------------------------------------------------

MODEL = {n: sol.get("ex12", n) for n in ("verify_token", "on_command", "on_gone", "watch",
                                         "resume")}


def _say_with(deliver):
    """The model's join/leave; say through ``deliver(chat, conn, user, msg)``."""
    def on_command(chat, conn, user, msg):
        if msg.get("type") != "say":
            return MODEL["on_command"](chat, conn, user, msg)
        return deliver(chat, conn, user, msg)
    return on_command


def _said(chat, user, msg):
    chat.seq += 1
    said = {"type": "said", "seq": chat.seq, "room": msg["room"], "from": user,
            "text": msg.get("text")}
    chat.history.append(said)
    return said


def _no_membership_check(chat, conn, user, msg):
    said = _said(chat, user, msg)
    for m in chat.rooms.get(msg["room"], set()):
        m.send(json.dumps(said))


def _not_to_sender(chat, conn, user, msg):
    members = chat.rooms.get(msg["room"], set())
    if conn not in members:
        conn.send(json.dumps({"type": "error", "text": "join first"}))
        return
    said = _said(chat, user, msg)
    for m in members - {conn}:
        m.send(json.dumps(said))


def _seq_per_room(chat, conn, user, msg):
    members = chat.rooms.get(msg["room"], set())
    if conn not in members:
        conn.send(json.dumps({"type": "error", "text": "join first"}))
        return
    counts = chat.__dict__.setdefault("per_room", {})
    counts[msg["room"]] = counts.get(msg["room"], 0) + 1
    said = {"type": "said", "seq": counts[msg["room"]], "room": msg["room"], "from": user,
            "text": msg.get("text")}
    chat.history.append(said)
    for m in members:
        m.send(json.dumps(said))


def _no_history(chat, conn, user, msg):
    members = chat.rooms.get(msg["room"], set())
    if conn not in members:
        conn.send(json.dumps({"type": "error", "text": "join first"}))
        return
    chat.seq += 1
    said = {"type": "said", "seq": chat.seq, "room": msg["room"], "from": user,
            "text": msg.get("text")}
    for m in members:
        m.send(json.dumps(said))


def _leave_drops_room(chat, conn, user, msg):
    if msg.get("type") == "leave":
        chat.rooms.pop(msg.get("room"), None)
        conn.send(json.dumps({"type": "left", "room": msg.get("room")}))
        return
    MODEL["on_command"](chat, conn, user, msg)


def _gone_first_room_only(chat, conn):
    for members in chat.rooms.values():
        if conn in members:
            members.discard(conn)
            return


ROOMS_WRONG = {
    "say without membership": ((_say_with(_no_membership_check), MODEL["on_gone"]),
                               ["without joining it", "error to the sender"]),
    "not to the sender": ((_say_with(_not_to_sender), MODEL["on_gone"]),
                          ["alice got nothing", "alice said 'hi'"]),
    "seq per room": ((_say_with(_seq_per_room), MODEL["on_gone"]),
                     ["carol said 'yo' in games", "seq 1 instead of 2"]),
    "no history": ((_say_with(_no_history), MODEL["on_gone"]),
                   ["chat.history holds []", "append every 'said'"]),
    "leave drops the room": ((_leave_drops_room, MODEL["on_gone"]),
                             ["alice said 'still there?'", "type 'error' instead of 'said'"]),
    "cleanup of one room only": ((MODEL["on_command"], _gone_first_room_only),
                                 ["carol disconnected", "every room"]),
}


@pytest.mark.parametrize("kind", list(ROOMS_WRONG))
def test_rooms_reject(kind):
    (on_command, on_gone), words = ROOMS_WRONG[kind]
    _fails(ex12.check_rooms(on_command, on_gone), *words)


# --- 12: watch ---------------------------------------------------------------------------------

def _swapped_watch(client, interval, timeout):
    return MODEL["watch"](client, timeout, interval)


def _no_pause(client, interval, timeout):
    while True:
        try:
            client.app_ping(timeout=timeout)
        except TimeoutError:
            return "dead"


def _keeps_going(client, interval, timeout):
    while True:
        time.sleep(interval)
        try:
            client.app_ping(timeout=timeout)
        except TimeoutError:
            continue  # counts it, never gives up


def _frames_without_timeout(client, interval, timeout):
    while True:
        time.sleep(interval)
        try:
            client.ping()  # the default 5 s
        except TimeoutError:
            return "dead"


def _by_state(client, interval, timeout):
    while client.state.name == "OPEN":
        time.sleep(interval)
    return "dead"


WATCH_WRONG = {
    "interval and timeout swapped": (_swapped_watch, ["heartbeats in 2.4 s",
                                                      "sleep(interval)"]),
    "no pause between pings": (_no_pause, ["heartbeats in 2.4 s", "wait interval"]),
    "keeps going after a missed pong": (_keeps_going, ["none was answered", "kept going"]),
    "ping frames without timeout": (_frames_without_timeout, ["no detection within",
                                                             "ping(timeout=timeout)"]),
    "state instead of a heartbeat": (_by_state, ["sent nothing", "unanswered"]),
}


@pytest.mark.parametrize("kind", list(WATCH_WRONG))
def test_watch_rejects(kind):
    fn, words = WATCH_WRONG[kind]
    _fails(ex12.check_heartbeat(fn), *words)


# --- 12: resume ---------------------------------------------------------------------------------

def _resume_with(keep, *, order=lambda h: h, rooms_of=lambda msg: msg.get("rooms", [])):
    def resume(chat, conn, user, msg):
        rooms, last = rooms_of(msg), msg.get("last_seq", 0)
        for room in rooms:
            chat.rooms.setdefault(room, set()).add(conn)
        for said in order(list(chat.history)):
            if keep(said, rooms, last):
                conn.send(json.dumps(said))
    return resume


RESUME_WRONG = {
    ">= last_seq": (_resume_with(lambda s, r, last: s["seq"] >= last and s["room"] in r),
                    ["reached the reader twice", "seq > last_seq"]),
    "no replay": (_resume_with(lambda s, r, last: False), ["never reached the reader"]),
    "every room": (_resume_with(lambda s, r, last: s["seq"] > last), ["from room 'other'"]),
    "newest first": (_resume_with(lambda s, r, last: s["seq"] > last and s["room"] in r,
                                  order=lambda h: h[::-1]), ["arrived after", "seq order"]),
    "only the last ten": (_resume_with(lambda s, r, last: s["seq"] > last and s["room"] in r,
                                       order=lambda h: h[-10:]), ["never reached the reader"]),
    "no rejoin": (lambda chat, conn, user, msg: None, ["got no 'said' at all"]),
}


@pytest.mark.parametrize("kind", list(RESUME_WRONG))
def test_resume_rejects(kind):
    fn, words = RESUME_WRONG[kind]
    _fails(ex12.check_resume(fn), *words)


# --- 12: the whole chat names the failing part ----------------------------------------------------

CHAT_WRONG = {
    "plain == token": ({"verify_token": _plain}, ["part (a) sign in", "hmac.compare_digest"]),
    "forged names": ({"verify_token": _trusts_name}, ["part (a) sign in", "forged"]),
    "say to non-members": ({"on_command": _say_with(_no_membership_check)},
                           ["part (b) rooms", "without joining it"]),
    "no cleanup": ({"on_gone": lambda chat, conn: None}, ["part (b) rooms", "on_gone"]),
    "patient heartbeat": ({"watch": _frames_without_timeout},
                          ["part (c) heartbeat", "no detection"]),
    "duplicating resume": ({"resume": RESUME_WRONG[">= last_seq"][0]},
                           ["part (d) resume", "twice"]),
}


@pytest.mark.parametrize("kind", list(CHAT_WRONG))
def test_chat_names_the_part_that_is_wrong(kind):
    swap, words = CHAT_WRONG[kind]
    parts = {**MODEL, **swap}
    r = ex12.check_chat(parts["verify_token"], parts["on_command"], parts["on_gone"],
                        parts["watch"], parts["resume"])
    _fails(r, *words)


# --- predictions: asked before the demo, compared after it ----------------------------------------

def test_predictions_are_compared_with_the_measurement():
    from wslab.labs.gil import GilRecord
    from wslab.labs.hijack import TokenPlaces
    from wslab.labs.scaling import LatencyRecord
    predict.forget()
    assert not ex10.predict_gil(None).ok and not ex10.predict_gil("x10").ok
    assert ex10.predict_gil("tens").ok
    gil = [GilRecord("in-kernel server, cell idle, switch interval 0.5 ms", 0.0005, False,
                     [0.0001]),
           GilRecord("in-kernel server, cell computing, switch interval 5 ms", 0.005, True,
                     [0.004])]
    _passes(ex10.compare_gil(gil))
    assert ex10.predict_gil("few").ok
    after = [GilRecord(r.label, r.switch_interval, r.busy, r.samples_s) for r in gil]
    _fails(ex10.compare_gil(after), "x40.0", "a few times")
    _fails(ex10.compare_gil(gil), "after the demo")  # the guess came after this measurement

    assert ex11.predict_redis_hop("less").ok
    rec = LatencyRecord("2 processes", 2, 1000, 20, [1.0, 40.0], [1.0, 2.0], [40.0, 41.0])
    _fails(ex11.compare_redis_hop([rec]), "39.00 ms later", "queueing", "500 sends")
    _fails(ex11.compare_redis_hop([]), "run the broadcast_latency cell")

    assert not ex09.predict_browser_token("headers").ok
    assert ex09.predict_browser_token(" Header").ok
    seen = TokenPlaces({"query": True, "header": False, "cookie": True},
                       {"header": "HTTP 401: no token"}, time.monotonic())
    _passes(ex09.compare_browser_token(seen))
    assert ex09.predict_browser_token("cookie").ok
    seen = TokenPlaces(seen.opened, seen.refused, time.monotonic())
    _fails(ex09.compare_browser_token(seen), "you predicted 'cookie'", "header: refused")
    predict.forget()
    _fails(ex09.compare_browser_token(seen), "no prediction recorded")


@pytest.mark.browser
def test_browser_token_places_measured_in_chromium():
    from wslab.labs.hijack import token_places
    from wslab.labs.negotiation import chromium_available
    need(chromium_available() is None, f"headless Chromium ({chromium_available()})")
    places = token_places()
    assert places.skipped is None, places.skipped
    assert places.opened == {"query": True, "header": False, "cookie": True}
    assert "401" in places.refused["header"]


def test_cold_summary_tables_first_against_later():
    from wslab.labs.latency import ColdPath, cold_summary
    runs = [ColdPath(0.5, 0.020, [0.004, 0.005], [0.002, 0.0002], [0.0004, 0.0002]),
            ColdPath(0.6, 0.010, [0.005], [0.001, 0.0003], [0.0002, 0.0002, 0.0002])]
    lines = cold_summary(runs).splitlines()
    assert lines[2].split() == ["1", "20.00", "4.50", "4.4x", "2.00", "0.40", "5.0x"]
    assert lines[3].split() == ["2", "10.00", "5.00", "2.0x", "1.00", "0.20", "5.0x"]
    assert lines[4].split()[:3] == ["median", "15.00", "4.75"]
    assert lines[5] == "steady state: a median round trip of 0.25 ms"  # of 0.3 and 0.2
