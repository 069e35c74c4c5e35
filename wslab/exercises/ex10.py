"""Checks for 10_latency_lab.ipynb (layer 4): coordinated omission, and the GIL.

``check_measure(measure)`` runs the learner's paced latency loop
``measure(client, n, interval)`` through a FaultProxy that holds every reply
for a while once (:func:`wslab.labs.latency.stall_trial`), and compares what
the loop reports with the truth taken from the client's own log: each reply's
arrival minus the time its message was *due*.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..i18n import N_, _
from ..labs.latency import stall_trial
from ..labs.stats import percentile
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex10")

NAME = N_("Exercise 1 (coordinated omission)")
POINTS = (50, 90, 99, 100)


OFFSET_MAX = 0.02  # a schedule started up to 20 ms before the check's is still right
BEHIND_MAX = 0.0015  # ... and one started later than the first send only by noise
EARLY_MAX = 0.002  # messages sent this much before the schedule of the first ten: not paced
# (the bound grows to 4 intervals: on a busy machine the first ten may all leave late)
UNITS = ((1e3, "milliseconds", "not multiplied by 1000"),
         (1e6, "microseconds", "not multiplied by 1e6"),
         (1e9, "nanoseconds", "not of perf_counter_ns(), which counts nanoseconds"))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 0.003 + 0.1 * abs(b)


def _offset(got: Sequence[float], truth: Sequence[float]) -> float:
    """The constant by which the learner's latencies differ from the truth, message by
    message (the median difference): where their clock started against the check's
    schedule.  A constant shift is not the error the exercise is about; measuring from
    the send time instead of the due time is not constant."""
    return percentile([g - t for g, t in zip(got, truth, strict=True)], 50)


def _constant(got: Sequence[float], truth: Sequence[float]) -> bool:
    """Whether most latencies differ from the truth by about the same amount (the middle
    half of the differences within 3 ms): a clock started elsewhere, not a wrong rule."""
    diffs = [g - t for g, t in zip(got, truth, strict=True)]
    return percentile(diffs, 75) - percentile(diffs, 25) <= 0.003


def _slope(got: Sequence[float], truth: Sequence[float]) -> float:
    """Least-squares slope of (yours - truth) against the message number, in s/message."""
    diffs = [g - t for g, t in zip(got, truth, strict=True)]
    n = len(diffs)
    mx, my = (n - 1) / 2, sum(diffs) / n
    den = sum((i - mx) ** 2 for i in range(n))
    return sum((i - mx) * (d - my) for i, d in enumerate(diffs)) / den if den else 0.0


def _scale(got: Sequence[float], truth: Sequence[float]) -> float | None:
    """The factor between yours and the truth when it is about the same for every message
    (the 10th and 90th percentile of the per-message ratios within x3): another unit.
    None when the ratio changes from message to message (another rule, not a unit)."""
    ratios = [g / t for g, t in zip(got, truth, strict=True) if t > 1e-4]
    if len(ratios) < len(truth) // 2:
        return None
    low, high = percentile(ratios, 10), percentile(ratios, 90)
    if low <= 0 or high / low > 3:
        return None
    return percentile(ratios, 50)


def _shape(got: list[float], truth: list[float], interval: float) -> str | None:
    """A hint when the values are in another unit, from two clocks, negative, or grow with
    the message number; None when they are latencies in seconds of the right kind."""
    ratio = _scale(got, truth)
    for factor, unit, fix in UNITS:
        if ratio is not None and factor / 3 <= ratio <= factor * 3:
            return (_("your median is {value:.4g} for a true median of {value2:.3g} ms: your "
                      "latencies look like {unit}. Return seconds: the difference of two "
                      "time.perf_counter() values, {fix}").format(
                        value=percentile(got, 50), value2=percentile(truth, 50) * 1e3, unit=unit,
                        fix=fix))
    big = next((v for v in got if abs(v) > 1e5), None)
    if big is not None:
        return (_("a latency of {big:.4g} s (over a day) comes from two clocks mixed: "
                  "time.time() counts from 1970, time.perf_counter() from an arbitrary point; "
                  "take every time from time.perf_counter()").format(big=big))
    low = min(range(len(got)), key=got.__getitem__)
    if got[low] < -BEHIND_MAX:
        return (_("message {low} has a latency of {value:.2f} ms: a latency cannot be negative. "
                  "You subtract a time later than when the message was due; for message i that is "
                  "start + i * interval, the time you slept until").format(
                    low=low, value=got[low] * 1e3))
    slope = _slope(got, truth)
    if abs(slope - interval) <= 0.25 * interval:
        return (_("your latencies grow by about {value:.2f} ms per message, the interval "
                  "({value2:g} ms): you measure every reply from the start of the run. Measure "
                  "reply i from when message i was due, start + i * interval").format(
                    value=slope * 1e3, value2=interval * 1e3))
    return None


def check_measure(measure: object, *, n: int = 150, interval: float = 0.015,
                  stall: float = 0.2) -> Result:
    """Run ``measure(client, n, interval)`` through a stall; compare with the truth.

    The interval is several round trips long even on a busy machine (a round trip through
    the proxy took up to 5 ms with two CPU hogs on 2 cores), so a loop that does not pace
    gets ahead of the schedule and is named for it; at an interval no longer than a round
    trip it could not get ahead, and not pacing could not be told from pacing."""
    try:
        takes(measure, 3, what="measure(client, n, interval)")
    except StudentError as exc:
        return hint(NAME, exc.hint)

    def loop(client, k, i):  # noqa: ANN001, ANN202
        got = call(measure, client, k, i, what="measure()")
        if not isinstance(got, (list, tuple)):
            raise StudentError(_("measure() returned {name} {got!r:.40}; return a list of {k} "
                                 "latencies in seconds, one per message").format(
                                   name=type(got).__name__, got=got, k=k))
        return got

    t = stall_trial(loop, n=n, interval=interval, stall=stall)
    if t.error is not None:
        return hint(NAME, t.error.hint if isinstance(t.error, StudentError) else str(t.error))
    got = list(t.reported_s)
    if len(got) != n or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                for v in got):
        return hint(NAME, _("measure() returned {n} value(s); return a list of {n2} latencies in "
                            "seconds, one per message").format(n=len(got), n2=n))
    if len(t.truth_s) < n:
        return hint(NAME, _("only {n} of {n2} replies arrived: send one message and receive its "
                            "echo per step").format(n=len(t.truth_s), n2=n))
    if t.early_s > max(EARLY_MAX, 4 * interval):
        return hint(NAME, _("a message left {value:.1f} ms before its due time: pace the loop, "
                            "one message every {value2:g} ms from the start").format(
                              value=t.early_s * 1e3, value2=interval * 1e3))
    truth = t.truth_s[:n]
    wrong = _shape(got, truth, interval)
    if wrong:
        return hint(NAME, wrong)
    return _against_truth(got, truth, stall)


def _against_truth(got: list[float], truth: list[float], stall: float) -> Result:
    offset = _offset(got, truth)
    if not _constant(got, truth):
        offset = 0.0  # not where a clock started: an error that grows (the check below names it)
    if offset > OFFSET_MAX or offset < -BEHIND_MAX:
        where = "before" if offset > 0 else "after"
        return hint(NAME, _("your latencies are about {value:+.1f} ms off the truth for most "
                            "messages: your schedule starts {where} the first message. Take start "
                            "just before the first message and measure each reply against start + "
                            "i * interval").format(value=offset * 1e3, where=where))
    got = [v - offset for v in got]
    shift = (_(" (yours less {value:.1f} ms, where your clock started)").format(value=offset * 1e3)
             if abs(offset) > 5e-4 else "")
    table = "; ".join(f"p{p} yours {percentile(got, p) * 1e3:.1f} ms, truth "
                      f"{percentile(truth, p) * 1e3:.1f} ms" for p in POINTS)
    for p in POINTS:
        mine, real = percentile(got, p), percentile(truth, p)
        if not _close(mine, real):
            late = sum(1 for v in truth if v > stall / 4)
            seen = sum(1 for v in got if v > stall / 4)
            return hint(NAME, _("the replies were held {value:.0f} ms once; {late} messages were "
                                "over {value2:.0f} ms late for a user sending on schedule, your "
                                "loop reports {seen}. {table}{shift}. Measure each latency from "
                                "when the message was due, not from when it left").format(
                                  value=stall * 1e3, late=late, value2=stall / 4 * 1e3, seen=seen,
                                  table=table, shift=shift))
    return passed(NAME, _("your loop saw the stall as the users did: {table}{shift}").format(
                            table=table, shift=shift))


# --- prediction: how much slower does a computing cell make the in-kernel server? -----------

GIL = N_("Prediction (the GIL)")
SLOWDOWNS = ("same", "few", "tens")  # under x2, x2 to x10, x10 or more
BOUNDS = (2.0, 10.0)


def _bucket(ratio: float) -> set[str]:
    """The slowdown's bucket; both neighbours when it lies within 25 % of a boundary."""
    out = {SLOWDOWNS[sum(ratio >= b for b in BOUNDS)]}
    for k, b in enumerate(BOUNDS):
        if b / 1.25 <= ratio <= b * 1.25:
            out |= {SLOWDOWNS[k], SLOWDOWNS[k + 1]}
    return out


def predict_gil(answer: object) -> Result:
    """Record the guess: with the cell computing and CPython's default 5 ms switch interval,
    is the in-kernel server's median round trip about the 'same' (under x2), a 'few' times
    slower (x2 to x10) or 'tens' of times slower (x10 or more) than with the cell idle?"""
    return _predict.record(GIL, answer, choices=SLOWDOWNS)


def compare_gil(records: Sequence) -> Result:
    """The guess against the GIL experiment's records (the busy 5 ms median / the idle one)."""
    idle = next(r for r in records if not r.busy and "process" not in r.label)
    busy = next(r for r in records
                if r.busy and r.switch_interval >= 0.004 and "process" not in r.label)
    ratio = busy.p50_ms / idle.p50_ms
    names = {"same": "about the same (under x2)", "few": "a few times slower (x2-x10)",
             "tens": "tens of times slower (x10 or more)"}

    def judge(value: float | str) -> tuple[bool, str]:
        right = value in _bucket(ratio)
        measured = (_("measured x{ratio:.1f}: median {p50_ms:.3f} ms while the cell computed, "
                      "{p50_ms2:.3f} ms while it was idle. Each round trip waits until the "
                      "computing thread hands over the GIL, which it does only when the switch "
                      "interval ({value:g} ms) has passed").format(
                        ratio=ratio, p50_ms=busy.p50_ms, p50_ms2=idle.p50_ms,
                        value=busy.switch_interval * 1e3))
        if right:
            return True, _("right, {names}: {measured}").format(
                             names=names[str(value)], measured=measured)
        return False, _("you predicted {names}; {measured}").format(
                          names=names.get(str(value), value), measured=measured)

    return _predict.compare(GIL, measured_at=min(idle.at, busy.at), judge=judge)
