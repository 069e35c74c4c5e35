"""Checks for 04_closing.ipynb (layer 4, exercises).

The close-code check closes real connections with the learner's choice, from the
side that would close in that situation, and reports the code the peer read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..i18n import N_, _, translate
from ..net.client import connect
from ..net.errors import WSLabError
from ..net.server import LabServer, serve
from ..protocol.closecodes import describe_close_code, is_valid_close_code_on_wire
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex04")
TIMEOUT = 2.0


@dataclass(frozen=True)
class Situation:
    """Who closes, why, which codes are right, and a nudge for a wrong one."""

    side: str  # "client" or "server": who sends the Close frame
    text: str
    right: frozenset[int]
    nudge: str
    notes: tuple[tuple[int, str], ...] = ()  # (code, what to add when it is chosen)


SITUATIONS: dict[str, Situation] = {
    "chat over": Situation(
        "client", N_("The user clicks 'Leave': the conversation is over, all is well."),
        frozenset({1000}), N_("nothing went wrong: the connection simply did its job (7.4.1)")),
    "tab closing": Situation(
        "client", N_("The user closes the browser tab: the page goes away."),
        frozenset({1001}), N_("an endpoint is going away, as a page a browser navigates "
                              "away from (7.4.1)")),
    "server restart": Situation(
        "server", N_("The server restarts for an upgrade and will be back in seconds."),
        frozenset({1012, 1001}), N_("look for 'restart' in the IANA registry (1012-1014), or "
                                    "the code for a server going down (7.4.1)"),
        notes=((1012, N_("service restart, IANA: clients know to come back; 1001 is right too")),
               (1001, N_("a correct answer: 7.4.1 names 'a server going down'; 1012, service "
                         "restart, says more precisely that it comes back")))),
    "not utf-8": Situation(
        "server", N_("A client sent a text message whose bytes are not valid UTF-8."),
        frozenset({1007}), N_("the data inside a message is not consistent with its type "
                              "(7.4.1, 8.1)")),
    "too big": Situation(
        "server", N_("A client sent a 50 MB message; this server takes at most 1 MB."),
        frozenset({1009}), N_("there is a code for a message too big to process (7.4.1)")),
    "rate limit": Situation(
        "server", N_("A client sends 500 messages a second; the server's policy allows 20."),
        frozenset({1008}), N_("the client broke the server's policy, and no more specific "
                              "code fits (7.4.1)")),
    "handler bug": Situation(
        "server", N_("The server's own code raised an exception while handling a message."),
        frozenset({1011}), N_("the server met an unexpected condition: its fault, not the "
                              "client's (7.4.1)")),
    "logged in elsewhere": Situation(
        "server", N_("The same user logged in on another device (your application's rule)."),
        frozenset(range(4000, 5000)), N_("no registered code means this: applications "
                                         "define their own in a range of 7.4.2")),
}


def situations_table() -> str:
    """The situations as text, for the notebook."""
    return "\n".join(
        (_("{key:<22} client closes: {text}") if s.side == "client" else
         _("{key:<22} server closes: {text}")).format(key=repr(k), text=translate(s.text))
        for k, s in SITUATIONS.items())


def _peer_saw(server: LabServer, situation: Situation, code: int) -> int | None:
    """Close a fresh connection from ``situation.side`` with ``code``; the code the peer read."""
    client = connect(server.url)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not server.clients and time.monotonic() < deadline:
            time.sleep(0.002)
        cid = server.clients[-1].id
        if situation.side == "client":
            client.close(code, "")
            while time.monotonic() < deadline:
                seen = [e.code for e in server.events.of("close")
                        if e.client_id == cid and e.direction == "in"]
                if seen:
                    return seen[-1]
                time.sleep(0.002)
            return None
        server.close_client(cid, code, "")
        try:
            client.recv(timeout=TIMEOUT)
        except (WSLabError, TimeoutError):
            pass
        return client.close_code
    finally:
        client.stop()


def check_close_code(fn: object) -> Result:
    """Exercise 1: ``fn(situation)`` returns the close code for each of ``SITUATIONS``."""
    name = N_("Exercise 1 (close codes)")
    try:
        takes(fn, 1, what="close_code")
        answers = {key: call(fn, key, what="close_code") for key in SITUATIONS}
    except StudentError as exc:
        return hint(name, exc.hint)
    for key, code in answers.items():
        if isinstance(code, bool) or not isinstance(code, int):
            return hint(name, _("close_code({key!r}) returned {code!r}; return an int such as "
                                "1000").format(key=key, code=code))
        if not is_valid_close_code_on_wire(code):
            return hint(name, _("close_code({key!r}) is {code}. It cannot be sent in a Close "
                                "frame: 1005, 1006 and 1015 are only reported locally and 1004 "
                                "is reserved (RFC 6455 7.4.1, 7.4.2)").format(
                key=key, code=describe_close_code(code)))
    server = serve(name="ex04-check")
    lines = []
    try:
        for key, code in answers.items():
            s = SITUATIONS[key]
            saw = _peer_saw(server, s, code)
            by_client = s.side == "client"
            if saw != code:
                return hint(name, (_("{key!r}: the client closed with {code}, but the server "
                                     "read {saw}; is the code valid on the wire?") if by_client
                                   else _("{key!r}: the server closed with {code}, but the "
                                          "client read {saw}; is the code valid on the "
                                          "wire?")).format(key=key, code=code, saw=saw))
            if code not in s.right:
                return hint(name, (_("{key!r} ({text}) The client closed with {code}; the "
                                     "server read {saw}. Not the best fit: {nudge}.") if by_client
                                   else _("{key!r} ({text}) The server closed with {code}; the "
                                          "client read {saw}. Not the best fit: {nudge}.")).format(
                    key=key, text=translate(s.text), code=describe_close_code(code), saw=saw,
                    nudge=translate(s.nudge)))
            note = translate(dict(s.notes).get(code) or "")
            lines.append((_("{key}: client sent {code}, the server read {saw}") if by_client
                          else _("{key}: server sent {code}, the client read {saw}")).format(
                key=key, code=code, saw=saw) + (f" ({note})" if note else ""))
    finally:
        server.stop()
    return passed(name, _("every code was sent in a real Close frame and read by the peer:")
                  + "\n" + "\n".join(lines))


# -- Exercise 2: predict the code after a dropped connection, then drop one ------------------

DROPPED = N_("Exercise 2 (dropped)")


def predict_drop(answer: object) -> Result:
    """Keep the learner's guess of ``client.close_code`` after the server cuts TCP."""
    if answer is not None and (isinstance(answer, bool) or not isinstance(answer, int)
                               or not 0 <= answer <= 4999):
        _predict.forget(DROPPED)
        return hint(DROPPED, _("{answer!r} is not a close code: write one such as 1000 (an "
                               "int)").format(answer=answer))
    return _predict.record(DROPPED, answer)


def _judge_drop(code: int) -> Callable[[float | str], tuple[bool, str]]:
    def judge(value: float | str) -> tuple[bool, str]:
        said = _("the client reported {code}; you predicted {guess:g}").format(
            code=describe_close_code(code), guess=value)
        if value == code == 1006:
            return True, _("{said}. No Close frame arrived, so no code was sent: the client "
                           "reports 1006 itself, and 1006 never appears in a Close frame "
                           "(RFC 6455 7.1.5, 7.4.1)").format(said=said)
        if value == code:
            return True, f"{said}"
        if value == 1005:
            return False, _("{said}. 1005 means a Close frame arrived *without* a code; here "
                            "no Close frame arrived at all (RFC 6455 7.1.5)").format(said=said)
        if value in (1000, 1001):
            return False, _("{said}. {guess:g} would have to be sent in a Close frame, and "
                            "nobody sent one: the server cut the TCP connection").format(
                said=said, guess=value)
        if value in (1002, 1011):
            return False, _("{said}. The client saw no protocol error and no server error "
                            "message: it saw the TCP connection end without any Close "
                            "frame").format(said=said)
        return False, _("{said}. Look at the close codes table above: which code describes a "
                        "connection that ended without a Close frame?").format(said=said)
    return judge


def compare_drop(client: object, *, measured_at: float) -> Result:
    """Set the guess against the code the client reported after the drop."""
    code = getattr(client, "close_code", None)
    if isinstance(code, bool) or not isinstance(code, int):
        return hint(DROPPED, _("the client has not seen its connection end: run the drop "
                               "cell above again"))
    return _predict.compare(DROPPED, measured_at=measured_at,
                            judge=_judge_drop(code))
