"""Checks for 06_reconnect.ipynb (layer 4): the student's backoff, in a real herd.

``check_backoff(backoff)`` first calls ``backoff(attempt, rng)`` many times
(never negative, never above ``min(2, 0.1 * 2**attempt)``, random, replayable
from ``rng``, growing), then gives it to real ReconnectingClients whose server
goes down for a second (:func:`wslab.labs.herd.herd_experiment`): their retries
must not come in a spike, and all must be back soon after the server is.
RFC 6455 section 7.2.3 asks for exactly this: a randomised first delay and a
growing one after that.  The delays are judged first, on fixed seeds: at most the
ceiling, spread evenly from 0 to it (no mass at the cap, no floor), so a cap applied
after the jitter, an exponent off by one or equal jitter are named before the herd runs.

The prediction (:func:`predict_give_up`, :func:`give_up`) is asked before
:func:`wslab.labs.retry_codes.close_code_demo` runs and compared with what it saw.
"""

from __future__ import annotations

import math
import random

from ..i18n import N_, _
from ..labs.herd import herd_experiment
from ..labs.retry_codes import CloseCodeDemo
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex06")

NAME = N_("Exercise 1 (backoff with jitter)")
INITIAL, FACTOR, CAP = 0.1, 2.0, 2.0
SPIKE_WINDOW = 0.05  # seconds: attempts this close together hit the server as one spike


def _ceiling(attempt: int) -> float:
    return min(CAP, INITIAL * FACTOR ** attempt)


def _draws(backoff: object, attempt: int, rng: random.Random, n: int) -> list[float]:
    out = []
    for _i in range(n):
        v = call(backoff, attempt, rng, what=f"backoff({attempt}, rng)")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise StudentError(_("backoff({attempt}, rng) returned {v!r}; return a number of "
                                 "seconds (a float)").format(attempt=attempt, v=v))
        out.append(float(v))
    return out


N_DRAWS = 200
ATTEMPTS = range(10)  # 0-4 below the cap, 5-9 at it (0.1 x 2**5 = 3.2 > 2)


def _over(a: int, top: float) -> str:
    """The first delay above the ceiling, with the likely reason."""
    ceiling = _ceiling(a)
    said = (_("backoff({a}, rng) returned {top:.3f} s; the longest wait before retry {a} is "
              "min({cap:g}, {initial:g} x {factor:g}**{a}) = {ceiling:g} s").format(
                a=a, top=top, cap=CAP, initial=INITIAL, factor=FACTOR, ceiling=ceiling))
    ratio = top / ceiling
    if ratio > 100:
        return _("{said}: return seconds, not milliseconds").format(said=said)
    if ceiling == CAP:
        return _("{said}: the cap of {cap:g} s is missing").format(said=said, cap=CAP)
    if 1.5 < ratio <= 2.05:
        return _("{said}: about twice as long, is the exponent one too high "
                 "(2 ** (attempt + 1))?").format(said=said)
    return _("{said}: the ceiling starts at {initial:g} s and grows x{factor:g} per "
             "attempt").format(said=said, initial=INITIAL, factor=FACTOR)


def _shape(a: int, vals: list[float]) -> str | None:
    """What is wrong with the spread of ``N_DRAWS`` delays before retry ``a``, or None."""
    ceiling = _ceiling(a)
    at_cap = sum(1 for v in vals if abs(v - CAP) < 1e-9)
    if ceiling == CAP and at_cap > N_DRAWS // 20:
        return (_("{at_cap} of {n_draws} calls of backoff({a}, rng) returned exactly {cap:g} s: "
                  "the cap was applied after the jitter (min(cap, random wait)), so the clients "
                  "that reach it all wait the same. Cap the ceiling first, then draw uniformly "
                  "between 0 and it").format(at_cap=at_cap, n_draws=N_DRAWS, a=a, cap=CAP))
    if max(vals) < 0.9 * ceiling:
        said = (_("{n_draws} calls of backoff({a}, rng) never returned more than {value:.3f} s; "
                  "full jitter reaches up to the ceiling, min({cap:g}, {initial:g} x "
                  "{factor:g}**{a}) = {ceiling:g} s").format(
                    n_draws=N_DRAWS, a=a, value=max(vals), cap=CAP, initial=INITIAL,
                    factor=FACTOR, ceiling=ceiling))
        if a == 0 and 0.4 <= max(vals) / ceiling <= 0.55:
            return _("{said}: half of it, is the exponent one too low "
                     "(2 ** (attempt - 1))?").format(said=said)
        return _("{said}: the ceiling grows x{factor:g} per attempt up to the cap").format(
                   said=said, factor=FACTOR)
    if min(vals) > 0.25 * ceiling:
        return (_("{n_draws} calls of backoff({a}, rng) never returned less than {value:.3f} s "
                  "(ceiling {ceiling:g} s): that is equal jitter or less; full jitter draws "
                  "anywhere between 0 and the ceiling").format(
                    n_draws=N_DRAWS, a=a, value=min(vals), ceiling=ceiling))
    dist = _ks_uniform(vals, ceiling)
    if dist > 0.2:
        mean = sum(vals) / len(vals)
        return (_("the delays before retry {a} are not spread evenly between 0 and {ceiling:g} s "
                  "(mean {mean:.3f} s, expected about {value:.3f} s): draw with rng.uniform(0, "
                  "ceiling)").format(a=a, ceiling=ceiling, mean=mean, value=ceiling / 2))
    return None


def _ks_uniform(vals: list[float], top: float) -> float:
    """The Kolmogorov-Smirnov distance between ``vals`` and uniform(0, top)."""
    xs = sorted(vals)
    n = len(xs)
    return max(max((i + 1) / n - x / top, x / top - i / n) for i, x in enumerate(xs))


def _properties(backoff: object) -> str | None:
    """What is wrong with the delays themselves, or None."""
    draws = {a: _draws(backoff, a, random.Random(100 + a), N_DRAWS) for a in ATTEMPTS}
    for a, vals in draws.items():
        if min(vals) < 0:
            return _("backoff({a}, rng) returned {value:.3f} s: a wait cannot be negative").format(
                       a=a, value=min(vals))
        if max(vals) > _ceiling(a) + 1e-9:
            return _over(a, max(vals))
    if _draws(backoff, 3, random.Random(7), 20) != _draws(backoff, 3, random.Random(7), 20):
        return (_("two rngs with the same seed gave different delays: draw the randomness from "
                  "the `rng` argument (rng.uniform, rng.random), not the random module, so a run "
                  "can be replayed"))
    spread = max(draws[3]) - min(draws[3])
    if spread < 0.1 * _ceiling(3):
        return (_("{n_draws} calls of backoff(3, rng) all gave {value:.3f} to {value2:.3f} s: no "
                  "jitter, so clients that dropped together retry together (a herd)").format(
                    n_draws=N_DRAWS, value=min(draws[3]), value2=max(draws[3])))
    for a, vals in draws.items():
        wrong = _shape(a, vals)
        if wrong:
            return wrong
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
        return hint(NAME, _("once the server was back, {peak} of {clients} clients were due to "
                            "retry within {value:.0f} ms of each other: a spike the restarted "
                            "server has to absorb").format(
                              peak=peak, clients=clients, value=SPIKE_WINDOW * 1e3))
    limit = herd.restart_after + 2 * CAP + 1.0
    if herd.all_back_after is None or herd.all_back_after > limit:
        took = _("not within 20 s") if herd.all_back_after is None \
            else f"{herd.all_back_after:.2f} s"
        return hint(NAME, _("the server was back after {restart_after:.2f} s but the last client "
                            "only after {took} (allowed {limit:.1f} s): is the cap "
                            "applied?").format(restart_after=herd.restart_after, took=took,
                                               limit=limit))
    return passed(NAME, _("{n} delays per attempt 0-9 spread from 0 to min({cap:g}, {initial:g} "
                          "x {factor:g}**attempt); {clients} real clients, server down "
                          "{down:.2f} s: {attempts} attempts; once it was back, at most {peak} "
                          "within {window:.0f} ms were due (allowed: {allowed}); all back "
                          "{back:.2f} s after the outage began").format(
        n=N_DRAWS, cap=CAP, initial=INITIAL, factor=FACTOR, clients=clients,
        down=herd.restart_after, attempts=len(herd.attempts), peak=peak,
        window=SPIKE_WINDOW * 1e3, allowed=int(0.4 * clients), back=herd.all_back_after)
        + _lag_note(herd.max_late))


def _lag_note(late: float) -> str:
    if late < 0.02:
        return ""
    return (_(" (this machine started some retries up to {value:.0f} ms late, which bunches "
              "them; the spike above counts when they were due)").format(value=late * 1e3))


# --- predict, then observe: which close ends retrying ---------------------------------------

GIVE_UP = N_("Prediction (when to stop retrying)")
CODES = (1001, 1011, 1013, 1008)


def predict_give_up(answer: object) -> Result:
    """Keep the guess: after which of :data:`CODES` will a ReconnectingClient give up?"""
    if isinstance(answer, int) and not isinstance(answer, bool):
        answer = str(answer)
    return _predict.record(GIVE_UP, answer, choices=tuple(str(c) for c in CODES))


def give_up(demo: CloseCodeDemo) -> Result:
    """Compare the guess with what :func:`wslab.labs.retry_codes.close_code_demo` saw."""
    if not isinstance(demo, CloseCodeDemo):
        return hint(GIVE_UP, _("pass the result of close_code_demo(...) (run the demo cell)"))

    def judge(value: float | str) -> tuple[bool, str]:
        came_back = [o for o in demo.outcomes if not o.gave_up]
        quit_ = demo.gave_up()
        back = ", ".join(f"{o.code}" for o in came_back) or "none"
        stopped = ", ".join(str(c) for c in quit_) or "none"
        measured = (_("measured: the client connected again after {back}, and gave up after "
                      "{stopped}; you said {value}").format(
                        back=back, stopped=stopped, value=value))
        right = str(value) in {str(c) for c in quit_}
        if quit_ != [1008] or len(came_back) != len(demo.outcomes) - 1:
            return right, measured  # an unusual run: the measurement alone, no story
        why = (_("1008 (policy violation) says the server refused this client on purpose: the "
                 "same connection would be refused again (RFC 6455 7.4.1). The others say the "
                 "server went away, failed or is overloaded: a later try may well work"))
        return right, _("{measured}. {why}").format(measured=measured, why=why)

    return _predict.compare(GIVE_UP, measured_at=demo.started_at, judge=judge)
