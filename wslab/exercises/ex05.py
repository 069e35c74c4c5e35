"""Checks for 05_heartbeat.ipynb (layer 4): the student's heartbeat loop, blackholed.

``check_heartbeat(heartbeat)`` runs the learner's ``heartbeat(client, interval,
timeout)`` on a real client behind a FaultProxy: first on a healthy connection
(it must ping about once per interval and not close), then the proxy blackholes
the connection at a random moment.  The loop must wait ``timeout`` for the
missing pong (measured from that ping to the loop's Close frame), close with
1011 and return.  RFC 6455 5.5.2 makes the peer answer a ping (unless it already
received a Close frame) and 5.5.3 says the pong carries the ping's data; when to
give up is the application's choice.

``interval`` and ``timeout`` differ by at least ``MIN_APART`` seconds, so a loop
that waits one where the other was meant is told apart by the measurement.

The prediction (:func:`predict_idle_pings`, :func:`idle_pings`) is asked before
:func:`wslab.labs.heartbeat.ping_modes_demo` runs and compared with what it counted.
"""

from __future__ import annotations

import inspect
import statistics
from typing import Any

from ..i18n import N_, _
from ..labs.heartbeat import LoopTrial, PingModes, heartbeat_trial
from ..net.client import Client
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex05")

NAME = N_("Exercise 1 (heartbeat loop)")
SLACK_S = 0.2    # scheduling on a shared machine: the most added to `timeout` for a Close
DETECT_SLACK_S = 0.3  # ... and to interval + timeout for the whole detection
EARLY_S = 0.03   # a Close this much sooner than `timeout` after the ping gave up early
MIN_APART = 0.15  # interval and timeout at least this far apart: the check can tell them apart
PING_DEFAULT = inspect.signature(Client.ping).parameters["timeout"].default


class _Watched:
    """The client as the learner's loop sees it: every attribute is the client's own;
    the arguments of each ``ping`` call are noted, so a hint can name them."""

    def __init__(self, client: Client) -> None:
        self.client_ = client
        self.ping_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def ping(self, *args: Any, **kwargs: Any) -> float:
        self.ping_calls.append((args, dict(kwargs)))
        return self.client_.ping(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client_, name)


def _close_code(text: str | None) -> int | None:
    try:
        return int(str(text).split()[0])
    except (IndexError, ValueError):
        return None


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _arguments(interval: object, timeout: object) -> str | None:
    """What is wrong with the check's own arguments, or None."""
    for name, value in (("interval", interval), ("timeout", timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.05 <= value <= 5:
            return _("check_heartbeat's {name} is a number of seconds 0.05-5, got "
                     "{value!r}").format(name=name, value=value)
    if abs(interval - timeout) < MIN_APART:  # type: ignore[operator]
        return (_("interval={interval:g} and timeout={timeout:g} are too close for the check to "
                  "tell which one your loop waits for: choose them at least {min_apart:g} s apart "
                  "(e.g. interval=0.6, timeout=0.2)").format(
                    interval=interval, timeout=timeout, min_apart=MIN_APART))
    return None


def check_heartbeat(heartbeat: object, *, interval: float = 0.6, timeout: float = 0.2,
                    seed: int | None = None) -> Result:
    """Run ``heartbeat(client, interval, timeout)`` against a blackhole; say what it did."""
    wrong = _arguments(interval, timeout)
    if wrong:
        return hint(NAME, wrong)
    try:
        takes(heartbeat, 3, what="heartbeat(client, interval, timeout)")
    except StudentError as exc:
        return hint(NAME, exc.hint)
    watched: list[_Watched] = []

    def loop(client: Client, i: float, t: float) -> object:
        view = _Watched(client)
        watched.append(view)
        return call(heartbeat, view, i, t, what="heartbeat()")

    trial = heartbeat_trial(loop, interval=interval, timeout=timeout, seed=seed)
    calls = watched[0].ping_calls if watched else []
    for find in (_crashed, _healthy, _no_close, _waited, _closed_badly):
        wrong = find(trial, calls)
        if wrong:
            return hint(NAME, wrong)
    return passed(NAME, _measured(trial))


def _positional(calls: list) -> str | None:
    for args, _kwargs in calls:
        if args and isinstance(args[0], (int, float)) and not isinstance(args[0], bool):
            return (_("your loop called client.ping({args!r}): a positional argument is the "
                      "ping's payload (bytes), and the timeout is keyword-only: "
                      "client.ping(timeout=timeout)").format(args=args[0]))
    return None


def _crashed(trial: LoopTrial, calls: list) -> str | None:
    """The loop raised while the connection was still ours (not once the trial cut it)."""
    err = trial.loop_error
    if err is None or trial.error_in_cleanup:
        return None
    text = err.hint if isinstance(err, StudentError) else f"{type(err).__name__}: {err}"
    if "not written yet" in text:
        return text
    if trial.close_sent is not None and "ConnectionClosed" in text:
        return (_("your loop sent its Close ({close_sent!r}) and then went on: {text}. Return "
                  "right after closing").format(close_sent=trial.close_sent, text=text))
    return _positional(calls) or text


def _healthy(trial: LoopTrial, calls: list) -> str | None:
    interval, timeout = trial.interval, trial.timeout
    if trial.closed_healthy is not None:
        return (_("your loop closed a HEALTHY connection ({closed_healthy}) after "
                  "{pings_healthy} ping(s) whose pongs came back in {value} at most: close only "
                  "when a pong is missing after `timeout` = {timeout:g} s").format(
                    closed_healthy=trial.closed_healthy, pings_healthy=trial.pings_healthy,
                    value=_ms(max(trial.rtts, default=0)), timeout=timeout))
    expected = trial.healthy_s / interval
    if trial.pings_healthy == 0:
        return (_("your loop sent no ping in {healthy_s:.2f} s of a healthy connection; expected "
                  "about {expected:.0f} (client.ping(timeout=timeout))").format(
                    healthy_s=trial.healthy_s, expected=expected))
    every = statistics.median(trial.gaps) if trial.gaps else trial.healthy_s
    if not 0.8 * interval <= every <= 1.25 * interval + 0.05:
        return (_("your loop sent {pings_healthy} ping(s) in {healthy_s:.2f} s, one every "
                  "{every:.2f} s (median); expected one every interval = {interval:g} s (about "
                  "{expected:.0f})").format(
                    pings_healthy=trial.pings_healthy, healthy_s=trial.healthy_s, every=every,
                    interval=interval, expected=expected))
    return None


def _no_close(trial: LoopTrial, calls: list) -> str | None:
    """The blackhole came and no Close left within the watch."""
    if trial.detection_s is not None:
        return None
    timeout = trial.timeout
    watch = 2 * (trial.interval + timeout) + 2
    bare = [kw for args, kw in calls if "timeout" not in kw and not args]
    if bare:
        return (_("no Close within {watch:.1f} s of the blackhole: your loop called "
                  "client.ping() without timeout=, so each ping waits {ping_default:g} s (the "
                  "default) for its pong. Pass timeout=timeout ({timeout:g} s here)").format(
                    watch=watch, ping_default=PING_DEFAULT, timeout=timeout))
    if trial.unanswered >= 2:  # it went on after a miss
        return (_("{unanswered} pings went unanswered after the blackhole and your loop kept "
                  "pinging, with no Close within {watch:.1f} s: after a missed pong (TimeoutError "
                  "from client.ping), close with 1011 and stop").format(
                    unanswered=trial.unanswered, watch=watch))
    if trial.pending_s is not None and trial.pending_s > timeout + SLACK_S:
        waits = sorted({kw.get("timeout") for _a, kw in calls}, key=str)
        return (_("no Close within {watch:.1f} s of the blackhole: your loop's only unanswered "
                  "ping had waited {pending_s:.2f} s for its pong (client.ping was given "
                  "timeout={value}); wait timeout = {timeout:g} s, then close").format(
                    watch=watch, pending_s=trial.pending_s, value=', '.join(map(repr, waits)),
                    timeout=timeout))
    if trial.returned_unclosed:
        return (_("the proxy blackholed the connection and your loop returned without sending a "
                  "Close: after a missed pong (TimeoutError from client.ping), close with 1011 "
                  "and only then return"))
    return (_("the proxy blackholed the connection and your loop sent no Close within "
              "{watch:.1f} s: after a missed pong (TimeoutError from client.ping), close the "
              "connection and stop").format(watch=watch))


def wait_slack(interval: float, timeout: float) -> float:
    """What a Close may come later than ``timeout`` after its ping: scheduling on a busy
    machine, but never so much that a loop waiting ``interval`` would pass."""
    return min(SLACK_S, (interval - timeout) / 2) if interval > timeout else SLACK_S


def _waited(trial: LoopTrial, calls: list) -> str | None:
    """How long the loop waited for the missing pong: the timeout, not more, not less."""
    interval, timeout, wait = trial.interval, trial.timeout, trial.pong_wait_s
    if wait is None:
        return (_("your loop sent Close {close_sent!r} {detection_s:.3f} s after the blackhole "
                  "began, without a ping going unanswered first: close when a pong is missing "
                  "after {timeout:g} s").format(
                    close_sent=trial.close_sent, detection_s=trial.detection_s, timeout=timeout))
    said = _("your loop sent its Close {wait:.3f} s after the ping whose pong never came").format(
               wait=wait)
    if wait < timeout - EARLY_S:
        return _("{said}, before the timeout ({timeout:g} s) was over: wait `timeout` for the "
                 "pong").format(said=said, timeout=timeout)
    if wait <= timeout + wait_slack(interval, timeout):
        return None
    near = min(0.1, abs(interval - timeout) / 2)
    if abs(wait - interval) <= near:
        return (_("{said}: that is `interval` ({interval:g} s), not `timeout` ({timeout:g} s). "
                  "Wait `timeout` for the pong: client.ping(timeout=timeout)").format(
                    said=said, interval=interval, timeout=timeout))
    if abs(wait - (interval + timeout)) <= near:
        return (_("{said}: the timeout ({timeout:g} s) plus another interval ({interval:g} s). "
                  "Close right after the TimeoutError; do not sleep again first").format(
                    said=said, timeout=timeout, interval=interval))
    return _("{said}; it should wait the timeout, {timeout:g} s, and then close").format(
               said=said, timeout=timeout)


def _closed_badly(trial: LoopTrial, calls: list) -> str | None:
    bound = trial.interval + trial.timeout
    if trial.detection_s is not None and trial.detection_s > bound + DETECT_SLACK_S:
        return (_("detected after {detection_s:.3f} s; the worst case of a ping every "
                  "{interval:g} s with a {timeout:g} s timeout is {bound:.2f} s (one interval "
                  "plus the timeout)").format(
                    detection_s=trial.detection_s, interval=trial.interval, timeout=trial.timeout,
                    bound=bound))
    code = _close_code(trial.close_sent)
    if code == 1000:
        return (_("you closed with 1000 (normal closure: the purpose was fulfilled); a missing "
                  "pong is a failure: close with 1011 (unexpected condition, RFC 6455 7.4.1), as "
                  "the websockets library and wslab's keepalive do"))
    if code == 1001:
        return (_("you closed with 1001 (going away: this endpoint is leaving, a server shutting "
                  "down or a page navigated away); the peer stopped answering, an unexpected "
                  "condition: close with 1011 (RFC 6455 7.4.1)"))
    if code != 1011:
        return _("you closed with {close_sent!r}; use 1011 'keepalive timeout' (RFC 6455 "
                 "7.4.1)").format(close_sent=trial.close_sent)
    if trial.loop_running:
        return (_("the Close was sent in time, but your loop was still running after the "
                  "connection closed: return after closing"))
    return None


def _measured(trial: LoopTrial) -> str:
    """The PASS text: only what was measured, against the bound it can be compared with."""
    bound = trial.interval + trial.timeout
    every = statistics.median(trial.gaps) if trial.gaps else trial.healthy_s
    detected = trial.detection_s or 0.0
    if detected <= bound:
        versus = _("within interval + timeout = {bound:.2f} s").format(bound=bound)
    else:
        versus = (_("interval + timeout = {bound:.2f} s plus {value:.0f} ms this busy machine "
                    "took to run the loop").format(bound=bound, value=(detected - bound) * 1e3))
    return (_("{pings_healthy} pings in {healthy_s:.2f} s while healthy, one every {every:.2f} s "
              "(pongs in {value} to {value2}); blackholed, your loop sent Close {close_sent!r} "
              "{pong_wait_s:.3f} s after the unanswered ping (timeout = {timeout:g} s) and "
              "{detected:.3f} s after the blackhole began, {versus}").format(
                pings_healthy=trial.pings_healthy, healthy_s=trial.healthy_s, every=every,
                value=_ms(min(trial.rtts, default=0)), value2=_ms(max(trial.rtts, default=0)),
                close_sent=trial.close_sent, pong_wait_s=trial.pong_wait_s, timeout=trial.timeout,
                detected=detected, versus=versus))


# --- predict, then observe: pings on a busy connection ------------------------------------

IDLE_PINGS = N_("Prediction (pings while busy)")


def predict_idle_pings(answer: object) -> Result:
    """Keep the guess: how many pings will the ``ping_mode="idle"`` client send while busy?"""
    return _predict.record(IDLE_PINGS, answer, unit="pings")


def idle_pings(modes: PingModes) -> Result:
    """Compare the guess with the pings :func:`ping_modes_demo` counted."""
    if not isinstance(modes, PingModes):
        return hint(IDLE_PINGS, _("pass the result of ping_modes_demo(...) (run the demo cell)"))

    def judge(value: float | str) -> tuple[bool, str]:
        said = f"you predicted {value:g}" if isinstance(value, float) else f"you said {value!r}"
        measured = (_("measured: in {seconds:.2f} s with an echo every {value:.0f} ms, the "
                      "idle-mode client sent {idle_pings} ping(s) and the fixed-interval one "
                      "{fixed_pings} (ping_interval = {interval:g} s); {said}").format(
                        seconds=modes.seconds, value=modes.seconds / modes.messages * 1e3,
                        idle_pings=modes.idle_pings, fixed_pings=modes.fixed_pings,
                        interval=modes.interval, said=said))
        right = isinstance(value, float) and abs(value - modes.idle_pings) <= 1
        why = (_("Every message that arrives restarts the idle client's clock, so a busy "
                 "connection needs no ping") if modes.idle_pings == 0 else
               _("This machine paused the traffic longer than the interval, so the idle client's "
                 "clock ran out"))
        return right, _("{measured}. {why}").format(measured=measured, why=why)

    return _predict.compare(IDLE_PINGS, measured_at=modes.started_at, judge=judge)
