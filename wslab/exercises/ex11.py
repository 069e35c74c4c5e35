"""Checks for 11_scaling_out.ipynb (layer 4): exactly-once delivery, heartbeat intervals,
and reading the measured cost of the Redis hop."""

from __future__ import annotations

from collections.abc import Sequence

from ..labs.stats import percentile
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex11")


def check_deliver_once(deliver_once: object) -> Result:
    """Exercise 1: ``deliver_once(last_seen, incoming) -> (data to deliver, new last_seen)``."""
    name = "Exercise 1 (exactly once)"
    try:
        takes(deliver_once, 2, what="deliver_once(last_seen, incoming)")
    except StudentError as exc:
        return hint(name, exc.hint)
    cases = [
        ("in order", 0, [(1, "a"), (2, "b"), (3, "c")], (["a", "b", "c"], 3)),
        ("a replay overlapping what arrived live", 2,
         [(1, "a"), (2, "b"), (3, "c"), (3, "c"), (4, "d")], (["c", "d"], 4)),
        ("the same event from two servers", 5, [(6, "x"), (6, "x"), (7, "y")], (["x", "y"], 7)),
        ("nothing new", 9, [(8, "old"), (9, "older")], ([], 9)),
        ("a gap (7 is missing): 8 must wait", 6, [(8, "late")], ([], 6)),
        ("an empty batch", 3, [], ([], 3)),
    ]
    for label, last_seen, incoming, want in cases:
        try:
            got = call(deliver_once, last_seen, list(incoming), what="deliver_once()")
        except StudentError as exc:
            return hint(name, f"{label}: {exc.hint}")
        if not isinstance(got, tuple) or len(got) != 2:
            return hint(name, f"return a pair (list of data, new last_seen); got {got!r}")
        out, seen = got
        if list(out) != want[0]:
            why = ""
            if len(out) > len(want[0]):
                why = " (something was delivered twice, or out of order)"
            return hint(name, f"{label}: last_seen={last_seen}, incoming={incoming} -> you "
                              f"delivered {list(out)!r}, expected {want[0]!r}{why}")
        if seen != want[1]:
            return hint(name,
                        f"{label}: the new last_seen should be {want[1]}, you returned {seen!r}")
    return passed(name, "each number delivered once, in order, duplicates and replays "
                        "skipped, and nothing delivered past a gap: what ReconnectingClient "
                        "and each server's event pump do")


def check_ping_interval(ping_interval: object) -> Result:
    """Exercise 2: a heartbeat interval for a path of proxies and balancers."""
    name = "Exercise 2 (heartbeat interval)"
    try:
        takes(ping_interval, 1, what="ping_interval(idle_timeouts)")
    except StudentError as exc:
        return hint(name, exc.hint)
    paths = {
        "nginx alone (proxy_read_timeout 60 s)": [60.0],
        "a cloud load balancer (60 s) then nginx (60 s)": [60.0, 60.0],
        "a router with a 55 s limit, a 350 s NAT and nginx": [55.0, 350.0, 60.0],
        "a 2 s lab proxy": [2.0],
    }
    for label, timeouts in paths.items():
        try:
            got = call(ping_interval, list(timeouts), what="ping_interval()")
        except StudentError as exc:
            return hint(name, f"{label}: {exc.hint}")
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return hint(name, f"{label}: return a number of seconds, got {got!r}")
        low = min(timeouts)
        if got >= low:
            return hint(name, f"{label}: {got:g} s is not below the shortest idle timeout "
                              f"({low:g} s): the connection is cut before the first ping")
        if got > low / 2:
            return hint(name, f"{label}: {got:g} s works only if every ping arrives on time; "
                              "leave room for one late or lost ping (at most half the timeout)")
        if got < low / 20:
            return hint(name, f"{label}: {got:g} s is safe but wasteful: thousands of clients "
                              "pinging that often cost the server real work")
    return passed(name, "below half the shortest idle timeout on the path, and not wastefully "
                        "small: the timeout that matters is the smallest one, wherever it is")


def redis_hop(answer: object, records: Sequence) -> Result:
    """Question: how many ms does crossing Redis add at p50 (two-process record)?"""
    name = "Question (the Redis hop)"
    two = [r for r in records if getattr(r, "remote_ms", None)]
    if not two:
        return hint(name, "run the broadcast_latency cell first (it measures both setups)")
    r = two[0]
    truth = percentile(r.remote_ms, 50) - percentile(r.local_ms, 50)
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return hint(name, "answer with a number of milliseconds")
    if abs(answer - truth) <= max(0.25 * abs(truth), 0.5):
        return passed(name, f"about {truth:.2f} ms at p50 between a local client and one "
                            "reached through Redis, in this run")
    if abs(answer - truth / 1e3) <= max(0.25 * abs(truth) / 1e3, 0.0005):
        return hint(name, "that looks like seconds; answer in milliseconds")
    return hint(name, "subtract the local clients' p50 from the p50 of the clients reached "
                      "through Redis (both printed under the two-process row)")
