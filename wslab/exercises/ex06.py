"""Checks for 06_reconnect.ipynb (layer 4): the student's backoff, in a real herd.

``check_backoff(backoff)`` first calls ``backoff(attempt, rng)`` many times
(never negative, never above ``min(2, 0.1 * 2**attempt)``, random, replayable
from ``rng``, growing), then gives it to real ReconnectingClients whose server
goes down for a second (:func:`wslab.labs.herd.herd_experiment`): their retries
must not come in a spike, and all must be back soon after the server is.
RFC 6455 section 7.2.3 asks for exactly this: a randomised first delay and a
growing one after that.
"""

from __future__ import annotations

import math
import random

from ..labs.herd import herd_experiment
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex06")

NAME = "Exercise 1 (backoff with jitter)"
INITIAL, FACTOR, CAP = 0.1, 2.0, 2.0
SPIKE_WINDOW = 0.05  # seconds: attempts this close together hit the server as one spike


def _ceiling(attempt: int) -> float:
    return min(CAP, INITIAL * FACTOR ** attempt)


def _draws(backoff: object, attempt: int, rng: random.Random, n: int) -> list[float]:
    out = []
    for _ in range(n):
        v = call(backoff, attempt, rng, what=f"backoff({attempt}, rng)")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise StudentError(f"backoff({attempt}, rng) returned {v!r}; return a number of "
                               "seconds (a float)")
        out.append(float(v))
    return out


def _properties(backoff: object) -> str | None:
    """What is wrong with the delays themselves, or None."""
    draws = {a: _draws(backoff, a, random.Random(100 + a), 200) for a in range(10)}
    for a, vals in draws.items():
        if min(vals) < 0:
            return f"backoff({a}, rng) returned {min(vals):.3f} s: a wait cannot be negative"
        if max(vals) > _ceiling(a) + 1e-9:
            return (f"backoff({a}, rng) returned {max(vals):.3f} s; the longest wait before "
                    f"retry {a} is min({CAP:g}, {INITIAL:g} x {FACTOR:g}**{a}) = {_ceiling(a):g} s")
    if _draws(backoff, 3, random.Random(7), 20) != _draws(backoff, 3, random.Random(7), 20):
        return ("two rngs with the same seed gave different delays: draw the randomness from "
                "the `rng` argument (rng.uniform, rng.random), not the random module, so a run "
                "can be replayed")
    spread = max(draws[3]) - min(draws[3])
    if spread < 0.1 * _ceiling(3):
        return (f"200 calls of backoff(3, rng) all gave {min(draws[3]):.3f} to "
                f"{max(draws[3]):.3f} s: "
                "no jitter, so clients that dropped together retry together (a herd)")
    m1, m4 = sum(draws[1]) / 200, sum(draws[4]) / 200
    if m4 < 3 * m1:
        return (f"the mean wait is {m1:.3f} s before retry 1 and {m4:.3f} s before retry 4: "
                f"it should grow by x{FACTOR:g} per attempt (exponential backoff)")
    return None


def check_backoff(backoff: object, *, clients: int = 40, seed: int = 0) -> Result:
    """Check ``backoff(attempt, rng)`` by its delays, then by a real thundering herd."""
    try:
        takes(backoff, 2, what="backoff(attempt, rng)")
        wrong = _properties(backoff)
    except StudentError as exc:
        return hint(NAME, exc.hint)
    if wrong:
        return hint(NAME, wrong)
    herd = herd_experiment(clients=clients, backoff=backoff, label="yours", seed=seed,
                           initial_delay=INITIAL, factor=FACTOR, max_delay=CAP)
    # judged on when the retries were due: a busy machine starts late timers together, a
    # bunching that is the loop's, not the backoff's (the lag is reported, never hidden)
    peak = herd.peak(SPIKE_WINDOW, since=herd.restart_after, scheduled=True)
    if peak > 0.4 * clients:
        return hint(NAME, f"once the server was back, {peak} of {clients} clients were due to "
                          f"retry within {SPIKE_WINDOW * 1e3:.0f} ms of each other: a spike the "
                          "restarted server has to absorb")
    limit = herd.restart_after + 2 * CAP + 1.0
    if herd.all_back_after is None or herd.all_back_after > limit:
        took = "not within 20 s" if herd.all_back_after is None else f"{herd.all_back_after:.2f} s"
        return hint(NAME, f"the server was back after {herd.restart_after:g} s but the last client "
                          f"only after {took} (allowed {limit:.1f} s): is the cap applied?")
    return passed(NAME, f"{clients} real clients, server down {herd.restart_after:g} s: "
                        f"{len(herd.attempts)} attempts; once it was back, at most {peak} within "
                        f"{SPIKE_WINDOW * 1e3:.0f} ms were due (without jitter all {clients} come "
                        f"at once); all back {herd.all_back_after:.2f} s after the outage began"
                        + _lag_note(herd.max_late))


def _lag_note(late: float) -> str:
    if late < 0.02:
        return ""
    return (f" (this machine started some retries up to {late * 1e3:.0f} ms late, "
            "which bunches them; the spike above counts when they were due)")


def stop_retrying(answer: object) -> Result:
    """Question: after which close code should a client stop retrying?"""
    name = "Question (give up)"
    if isinstance(answer, bool) or not isinstance(answer, int):
        return hint(name, "answer with a close code (a whole number)")
    if answer == 1008:
        return passed(name, "1008 policy violation: the server refused this client on purpose; "
                            "the same connection would be refused again (RFC 6455 7.4.1)")
    if answer in (1001, 1011, 1012, 1013):
        return hint(name, f"{answer} says the server had a problem or is restarting: a later "
                          "retry may well succeed")
    if 4000 <= answer <= 4999:
        return hint(name, f"{answer} means what the application says (RFC 6455 7.4.2): a 4000 "
                          "'session expired' asks for a new login, then a reconnect")
    return hint(name, f"{answer} is not among the four codes offered")
