"""Checks for 05_heartbeat.ipynb."""

from __future__ import annotations

from ._result import Result, hint, passed


def worst_case(answer: object) -> Result:
    """Exercise 1: worst-case detection with a ping every 20 s and a 10 s pong timeout."""
    name = "Exercise 1 (worst case)"
    if not isinstance(answer, (int, float)):
        return hint(name, "answer with a number of seconds")
    if answer == 30:
        return passed(name, "30 s: the failure can happen just after a pong (up to 20 s until "
                            "the next ping), then 10 s waiting for its pong")
    if answer == 10:
        return hint(name, "10 s is only the wait for one pong; when is that ping sent?")
    if answer == 20:
        return hint(name, "the next ping may be 20 s away, and then its pong is awaited")
    return hint(name, "add the longest wait until the next ping and the pong timeout")


def browser_heartbeat(answer: object) -> Result:
    """Exercise 2: which heartbeat can JavaScript in a page send?"""
    name = "Exercise 2 (browsers)"
    text = str(answer).lower()
    if "app" in text or "json" in text:
        return passed(name, "the browser WebSocket API has no ping(): pages send application "
                            "messages; browsers do answer a server's ping frames by themselves")
    if "protocol" in text or "frame" in text:
        return hint(name, "look for a ping() method on the browser's WebSocket object: there is none")
    return hint(name, "answer 'protocol' or 'application'")


def fewer_pings(answer: object) -> Result:
    """Exercise 3: which keepalive mode sends fewer pings on a busy connection?"""
    name = "Exercise 3 (busy connection)"
    if str(answer).lower() == "idle":
        return passed(name, "'idle' (aiohttp's way): received data proves the peer is alive, "
                            "so a ping is only needed after a quiet interval")
    if str(answer).lower() == "fixed":
        return hint(name, "'fixed' pings every interval whatever the traffic; compare pings_sent")
    return hint(name, "answer 'fixed' or 'idle'")
