"""Checks for 05_heartbeat.ipynb (layer 4): the student's heartbeat loop, blackholed.

``check_heartbeat(heartbeat)`` runs the learner's ``heartbeat(client, interval,
timeout)`` on a real client behind a FaultProxy: first on a healthy connection
(it must ping about once per interval and not close), then the proxy blackholes
the connection at a random moment and the loop must send its Close within the
worst case, one interval plus the timeout (RFC 6455 5.5.2-5.5.3 give the ping
and pong; when to give up is the application's choice).
"""

from __future__ import annotations

import statistics

from ..labs.heartbeat import heartbeat_trial
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex05")

NAME = "Exercise 1 (heartbeat loop)"
SLACK_S = 0.15  # scheduling on a shared machine: added to the upper bound


def _close_code(text: str | None) -> int | None:
    try:
        return int(str(text).split()[0])
    except (IndexError, ValueError):
        return None


def check_heartbeat(heartbeat: object, *, interval: float = 0.4, timeout: float = 0.25,
                    seed: int | None = None) -> Result:
    """Run ``heartbeat(client, interval, timeout)`` against a blackhole; say what it did."""
    try:
        takes(heartbeat, 3, what="heartbeat(client, interval, timeout)")
    except StudentError as exc:
        return hint(NAME, exc.hint)

    def loop(client, i, t):  # noqa: ANN001, ANN202
        return call(heartbeat, client, i, t, what="heartbeat()")

    trial = heartbeat_trial(loop, interval=interval, timeout=timeout, seed=seed)
    err = trial.loop_error
    if isinstance(err, StudentError) and "not written yet" in err.hint:
        return hint(NAME, err.hint)
    if trial.closed_healthy is not None:
        return hint(NAME, f"your loop closed a HEALTHY connection ({trial.closed_healthy}) "
                          f"after {trial.pings_healthy} ping(s) whose pongs came back in "
                          f"{_ms(max(trial.rtts, default=0))} at most: close only when a pong "
                          f"is missing after {timeout:g} s")
    if err is not None and trial.detection_s is None:
        return hint(NAME,
                    err.hint if isinstance(err, StudentError) else f"{type(err).__name__}: {err}")
    expected = trial.healthy_s / interval
    if trial.pings_healthy == 0:
        return hint(NAME, f"your loop sent no ping in {trial.healthy_s:.2f} s of a healthy "
                          f"connection; expected about {expected:.0f} (client.ping(...))")
    every = statistics.median(trial.gaps) if trial.gaps else trial.healthy_s
    if not 0.8 * interval <= every <= 1.25 * interval + 0.05:
        return hint(NAME,
                    f"your loop sent {trial.pings_healthy} ping(s) in {trial.healthy_s:.2f} s, "
                          f"one every {every:.2f} s (median); expected one every interval = "
                          f"{interval:g} s (about {expected:.0f})")
    bound = interval + timeout
    if trial.detection_s is None:
        extra = ": it returned without sending a Close" if trial.returned_unclosed else ""
        return hint(NAME, f"the proxy blackholed the connection and your loop sent no Close "
                          f"within {2 * bound + 2:.1f} s{extra}: after a missed pong (TimeoutError "
                          "from client.ping), close the connection and stop")
    low = timeout - 0.05 - max(trial.rtts, default=0)
    if trial.detection_s < low:
        return hint(NAME, f"your loop gave up {trial.detection_s:.3f} s after the blackhole "
                          f"began, before a pong could be {timeout:g} s late: wait `timeout` "
                          "for each pong")
    if trial.detection_s > bound + SLACK_S:
        return hint(NAME, f"detected after {trial.detection_s:.3f} s; the worst case of a ping "
                          f"every {interval:g} s with a {timeout:g} s timeout is {bound:.2f} s "
                          "(one interval plus the timeout): do not sleep again after a miss")
    code = _close_code(trial.close_sent)
    if code == 1000:
        return hint(NAME, "you closed with 1000 (normal closure: the purpose was fulfilled); a "
                          "missing pong is a failure: close with 1011 (unexpected condition, "
                          "RFC 6455 7.4.1), as the websockets library and wslab's keepalive do")
    if code not in (1001, 1011):
        return hint(NAME, f"you closed with {trial.close_sent!r}; use 1011 "
                          "'keepalive timeout' (RFC 6455 7.4.1)")
    if trial.loop_running:
        return hint(NAME, "the Close was sent in time, but your loop was still running after "
                          "the connection closed: return after closing")
    return passed(NAME, f"{trial.pings_healthy} pings in {trial.healthy_s:.2f} s while healthy "
                        f"(pongs in {_ms(min(trial.rtts, default=0))} to "
                        f"{_ms(max(trial.rtts, default=0))}); blackholed, your loop sent "
                        f"Close {trial.close_sent!r} after {trial.detection_s:.3f} s, within "
                        f"interval + timeout = {bound:.2f} s")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def browser_heartbeat(answer: object) -> Result:
    """Read-back: which heartbeat can JavaScript in a page send?"""
    name = "Question (browsers)"
    if not isinstance(answer, str):
        return hint(name, "answer with one of the strings 'protocol' or 'application'")
    text = answer.strip().lower()
    if text == "application":
        return passed(name, "the browser WebSocket API has no ping(): pages send application "
                            "messages; browsers do answer a server's ping frames by themselves")
    if text == "protocol":
        return hint(name,
                    "look for a ping() method on the browser's WebSocket object: there is none")
    return hint(name, f"{answer!r} is neither 'protocol' nor 'application'")
