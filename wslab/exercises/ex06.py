"""Checks for 06_reconnect.ipynb."""

from __future__ import annotations

from ._result import Result, hint, passed


def delay_attempt_3(answer: object) -> Result:
    """Exercise 1: the wait before retry 3 (0-based), initial 0.5 s, factor 2, no jitter."""
    name = "Exercise 1 (backoff)"
    if not isinstance(answer, (int, float)):
        return hint(name, "answer with a number of seconds")
    if answer == 4.0:
        return passed(name, "0.5 x 2**3 = 4 s (below the 30 s cap)")
    if answer == 8.0:
        return hint(name, "attempts count from 0: retry 3 waits initial x factor**3")
    if answer == 2.0:
        return hint(name, "that is retry 2; one more doubling")
    return hint(name, "min(max_delay, initial_delay * factor ** attempt)")


def stop_retrying(answer: object) -> Result:
    """Exercise 2: after which close code should a client give up instead of retrying?"""
    name = "Exercise 3 (give up)"
    if answer in (1008,) or (isinstance(answer, int) and 4000 <= answer <= 4999):
        return passed(name, f"{answer}: the server refused this client on purpose (policy or "
                            "the application's own reason); the same request would be refused again")
    if answer in (1001, 1006, 1011, 1012, 1013):
        return hint(name, f"{answer} says the server or the network had a problem: a later retry "
                          "may well succeed")
    return hint(name, "which codes mean 'you, specifically, are not welcome'?")


def delivered_count(answer: object, session) -> Result:  # noqa: ANN001
    """Exercise 3: how many times did the server deliver message 0?"""
    name = "Exercise 2 (exactly once)"
    truth = session.delivered.count(0)
    if answer == truth == 1:
        return passed(name, "once: resent copies are recognised by their sequence number")
    return hint(name, "count it in server.ack.sessions[rc.session].delivered")
