"""Checks for 11_scaling_out.ipynb (layer 4): exactly-once delivery, heartbeat intervals,
and reading the measured cost of the Redis hop."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..i18n import N_, _
from ..labs.stats import percentile
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex11")


def _deliver_cases() -> list[tuple[str, int, list[tuple[int, str]], tuple[list[str], int]]]:
    """(label, last_seen, incoming, (data to deliver, new last_seen)), simplest first."""
    return [
        ("in order", 0, [(1, "a"), (2, "b"), (3, "c")], (["a", "b", "c"], 3)),
        ("two events with the same text", 20, [(21, "ok"), (22, "ok")], (["ok", "ok"], 22)),
        ("a replay overlapping what arrived live", 2,
         [(1, "a"), (2, "b"), (3, "c"), (3, "c"), (4, "d")], (["c", "d"], 4)),
        ("the same event from two servers", 5, [(6, "x"), (6, "x"), (7, "y")], (["x", "y"], 7)),
        ("nothing new", 9, [(8, "old"), (9, "older")], ([], 9)),
        ("a gap (7 is missing): 8 must wait", 6, [(8, "late")], ([], 6)),
        ("a gap after two good ones (13 is missing)", 10, [(11, "k"), (12, "l"), (14, "n")],
         (["k", "l"], 12)),
        ("a late duplicate after newer events", 3, [(4, "d"), (5, "e"), (4, "d")],
         (["d", "e"], 5)),
        ("an empty batch", 3, [], ([], 3)),
    ]


def _deliver_why(out: list, want: list, incoming: list, last_seen: int) -> str:
    """What the difference between ``out`` and ``want`` says about the rule."""
    seqs = [s for s, _d in incoming]
    if len(out) > len(want):
        if any(s <= last_seen for s in seqs):
            return (_(" (numbers up to last_seen={last_seen} were delivered already: skip every "
                      "seq <= last_seen)").format(last_seen=last_seen))
        return _(" (something was delivered twice, or past a gap: deliver seq == last_seen + 1 "
                 "only)")
    if len(out) < len(want):
        if len(set(out)) < len(out) or len(set(d for _s, d in incoming)) < len(set(seqs)):
            return (_(" (two events are two numbers even when their text is the same: decide by "
                      "seq, not by data)"))
        return _(" (seq {value} was the next one: it must be delivered)").format(
                   value=last_seen + 1)
    if sorted(out) == sorted(want):
        return _(" (the right data, in the wrong order: deliver in seq order)")
    return _(" (deliver a number only when it is last_seen + 1, then move last_seen on)")


def check_deliver_once(deliver_once: object) -> Result:
    """Exercise 1: ``deliver_once(last_seen, incoming) -> (data to deliver, new last_seen)``."""
    name = N_("Exercise 1 (exactly once)")
    try:
        takes(deliver_once, 2, what="deliver_once(last_seen, incoming)")
    except StudentError as exc:
        return hint(name, exc.hint)
    for label, last_seen, incoming, want in _deliver_cases():
        try:
            got = call(deliver_once, last_seen, list(incoming), what="deliver_once()")
        except StudentError as exc:
            return hint(name, _("{label}: {hint}").format(label=label, hint=exc.hint))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return hint(name, _("{label}: return a pair (list of data, new last_seen); got "
                                "{got!r}").format(label=label, got=got))
        out, seen = got
        if not isinstance(out, (list, tuple)):
            return hint(name, _("{label}: the first item is the list of data to deliver; got "
                                "{out!r}").format(label=label, out=out))
        if list(out) != want[0]:
            return hint(name, _("{label}: last_seen={last_seen}, incoming={incoming} -> you "
                                "delivered {got!r}, expected {want!r}").format(
                label=label, last_seen=last_seen, incoming=incoming, got=list(out),
                want=want[0]) + _deliver_why(list(out), want[0], incoming, last_seen))
        if isinstance(seen, bool) or seen != want[1]:
            why = (_(" (the last number DELIVERED, not the last or largest one that arrived)")
                   if seen in [s for s, _d in incoming] else "")
            return hint(name, _("{label}: last_seen={last_seen}, incoming={incoming} -> the new "
                                "last_seen should be {want}, you returned {seen!r}{why}").format(
                                  label=label, last_seen=last_seen, incoming=incoming,
                                  want=want[1], seen=seen, why=why))
    return passed(name, _("each number delivered once, in order, duplicates and replays skipped, "
                          "and nothing delivered past a gap: what ReconnectingClient and each "
                          "server's event pump do"))


def _paths(rng: random.Random) -> dict[str, list[float]]:
    """Paths of idle timeouts (s); the last one random, its shortest anywhere in the list."""
    shortest = float(rng.randrange(20, 50))
    hops = [shortest, float(rng.randrange(60, 120)), float(rng.randrange(300, 400))]
    rng.shuffle(hops)
    return {
        _("nginx alone (proxy_read_timeout 60 s)"): [60.0],
        _("a cloud load balancer (60 s) then nginx (60 s)"): [60.0, 60.0],
        _("a router with a 55 s limit, a 350 s NAT and nginx"): [55.0, 350.0, 60.0],
        _("a 350 s NAT, then a corporate proxy with 30 s, then nginx (60 s)"):
            [350.0, 30.0, 60.0],
        _("a path with the idle timeouts {hops}").format(hops=hops): hops,
        _("a 2 s lab proxy"): [2.0],
    }


def check_ping_interval(ping_interval: object) -> Result:
    """Exercise 2: a heartbeat interval for a path of proxies and balancers."""
    name = N_("Exercise 2 (heartbeat interval)")
    try:
        takes(ping_interval, 1, what="ping_interval(idle_timeouts)")
    except StudentError as exc:
        return hint(name, exc.hint)
    for label, timeouts in _paths(random.Random()).items():
        try:
            got = call(ping_interval, list(timeouts), what="ping_interval()")
        except StudentError as exc:
            return hint(name, _("{label}: {hint}").format(label=label, hint=exc.hint))
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return hint(name, _("{label}: return a number of seconds, got {got!r}").format(
                                  label=label, got=got))
        low = min(timeouts)
        if got >= 100 * low:
            return hint(name, _("{label}: {got:g} looks like milliseconds; the timeouts are in "
                                "seconds, and so is the answer (at most {value:g} here)").format(
                                  label=label, got=got, value=low / 2))
        if got >= low:
            return hint(name, _("{label}: {got:g} s is not below the shortest idle timeout "
                                "({low:g} s): the connection is cut before the first ping").format(
                                  label=label, got=got, low=low))
        if got > low / 2:
            return hint(name, _("{label}: {got:g} s works only if every ping arrives on time; "
                                "leave room for one late or lost ping (at most half the shortest "
                                "timeout, {value:g} s)").format(
                                  label=label, got=got, value=low / 2))
        if got <= 0 or got < low / 20:
            return hint(name, _("{label}: {got:g} s is safe but wasteful: thousands of clients "
                                "pinging that often cost the server real work").format(
                                  label=label, got=got))
    return passed(name, _("below half the shortest idle timeout on the path, and not wastefully "
                          "small: the timeout that matters is the smallest one, wherever it is"))


# --- prediction: what does crossing Redis cost a broadcast to 1,000 clients? ----------------

HOP = N_("Prediction (the Redis hop)")
GAPS = ("less", "more")  # than 1 ms later, at p50, for the clients reached through Redis


def predict_redis_hop(answer: object) -> Result:
    """Record the guess: will the clients reached through Redis get a broadcast 'less' or
    'more' than 1 ms later (p50) than the sending process's own clients?"""
    return _predict.record(HOP, answer, choices=GAPS)


def compare_redis_hop(records: Sequence) -> Result:
    """The guess against the two-process record of ``broadcast_latency``."""
    two = [r for r in records if getattr(r, "remote_ms", None)]
    if not two:
        return hint(HOP, _("run the broadcast_latency cell first (it measures both setups)"))
    r = two[0]
    local, remote = percentile(r.local_ms, 50), percentile(r.remote_ms, 50)
    gap = remote - local

    def judge(value: float | str) -> tuple[bool, str]:
        truth = "more" if gap >= 1.0 else "less"
        measured = (f"measured: the clients reached through Redis got it {gap:.2f} ms later "
                    f"at p50 ({remote:.2f} ms against {local:.2f} ms for the local clients). "
                    + ("A Redis round trip costs a fraction of a millisecond (hop_costs below); "
                       "the rest is queueing: the second process starts its "
                       f"{r.clients // r.processes} sends only after Redis delivered the "
                       "message, and one client process decodes them after the local ones"
                       if gap >= 1.0 else
                       "Little more than a Redis round trip: nothing queued behind it"))
        if value == truth:
            return True, _("right, {value} than 1 ms: {measured}").format(
                             value=value, measured=measured)
        return False, _("you predicted {value} than 1 ms; {measured}").format(
                          value=value, measured=measured)

    return _predict.compare(HOP, measured_at=r.at, judge=judge)
