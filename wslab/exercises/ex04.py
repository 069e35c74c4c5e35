"""Checks for 04_closing.ipynb."""

from __future__ import annotations

from ..protocol.closecodes import CloseCode, is_valid_close_code_on_wire
from ._result import Result, hint, passed


def restart_code(answer: object) -> Result:
    """Exercise 1: the code a server sends to every client before it restarts."""
    name = "Exercise 1 (restart)"
    if answer == CloseCode.SERVICE_RESTART:
        return passed(name, "1012 SERVICE_RESTART tells clients to reconnect after a pause; "
                            "1001 GOING_AWAY is also acceptable when the server shuts down for good")
    if answer == CloseCode.GOING_AWAY:
        return hint(name, "1001 says 'going away'; a more precise registered code says "
                          "the service is *restarting* (look in the table)")
    return hint(name, "look for a registered code (1000-1015) about restarting")


def after_drop(answer: object) -> Result:
    """Exercise 2: what close code does a client report when TCP dies without a Close frame?"""
    name = "Exercise 2 (dropped)"
    if answer == 1006:
        return passed(name, "1006 ABNORMAL_CLOSURE, reported locally, never sent (RFC 6455 7.1.5)")
    if answer == 1005:
        return hint(name, "1005 means a Close frame arrived *without* a code; here no Close "
                          "frame arrived at all")
    if answer in (1000, 1001):
        return hint(name, "nobody sent a Close frame, so no code was sent: what does the "
                          "client report then?")
    return hint(name, "run the drop cell above and read client.close_code")


def app_code(answer: object) -> Result:
    """Exercise 3: a code for 'you logged in elsewhere' in your own application."""
    name = "Exercise 3 (your own code)"
    if not isinstance(answer, int) or isinstance(answer, bool):
        return hint(name, "answer with a whole number")
    if 4000 <= answer <= 4999:
        return passed(name, f"{answer} is in 4000-4999, the range for private use by applications")
    if 3000 <= answer <= 3999:
        return hint(name, "3000-3999 is registered with IANA for libraries and frameworks; "
                          "your own application uses another range")
    if is_valid_close_code_on_wire(answer):
        return hint(name, f"{answer} is registered with its own meaning; pick from the range "
                          "RFC 6455 7.4.2 leaves to applications")
    return hint(name, f"{answer} may not even be sent in a Close frame (RFC 6455 7.4)")
