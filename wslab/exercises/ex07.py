"""Checks for 07_broadcast_and_channels.ipynb (layer 4): rooms built on ``on_message``.

``check_rooms(on_message)`` installs the learner's ``on_message(rooms, conn,
message)`` on a fresh server and drives it with real clients: they join and
leave rooms and talk, and every message each client receives is compared with
what it should receive, in order, and nothing else (a member of another room
speaks in a room it is not in, too).  WebSocket knows no rooms (RFC 6455 1.5:
a connection is one stream of messages); this is the application's job.

The prediction (:func:`predict_lazy`, :func:`lazy_client`) is asked before the
notebook's slow-consumer demo and compared with what its server recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from ..i18n import N_, _
from ..net.client import connect
from ..net.server import LabServer, serve
from . import _predict
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex07")

NAME = N_("Exercise 1 (rooms)")
WAIT_S = 3.0
QUIET_S = 0.15  # a message that was not for a client would arrive within this


class _Failed(Exception):
    pass


def check_rooms(on_message: object) -> Result:
    """Run ``on_message(rooms, conn, message)`` on a live server with three real clients."""
    try:
        takes(on_message, 3, what="on_message(rooms, conn, message)")
    except StudentError as exc:
        return hint(NAME, exc.hint)
    rooms: dict = {}
    errors: list[str] = []
    server = serve(name="ex07-check")

    @server.on_message
    def student(conn, message):  # noqa: ANN001, ANN202
        try:
            call(on_message, rooms, conn, message, what="on_message()")
        except StudentError as exc:
            errors.append(exc.hint)

    users = {}
    try:
        users = {name: connect(server.url) for name in ("ann", "bob", "cy")}
        steps = _Steps(users, errors)
        steps.run()
    except _Failed as exc:
        return hint(NAME, str(exc))
    finally:
        for c in users.values():
            c.stop()
        server.stop()
    return passed(NAME, _("3 real clients: joins answered with the right member counts (joining "
                          "twice counts once), each 'said' reached exactly the room's members, "
                          "the sender too, nobody after leaving; a member of another room and a "
                          "client that left got an error, and nobody else heard them"))


class _Steps:
    def __init__(self, users: dict, errors: list[str]) -> None:
        self.users, self.errors, self.case = users, errors, ""

    def send(self, who: str, **msg: object) -> None:
        self.users[who].send(json.dumps(msg))

    def expect(self, who: str, want: dict) -> None:
        """The next message ``who`` receives must be ``want``."""
        deadline = time.monotonic() + WAIT_S
        got = None
        while time.monotonic() < deadline and got is None:
            if self.errors:
                raise _Failed(f"{self.case}: {self.errors[0]}")
            try:
                got = self.users[who].recv(timeout=0.05)
            except TimeoutError:
                continue
            except Exception as exc:  # noqa: BLE001 - closed: say so
                raise _Failed(_("{case}: {who}'s connection closed ({error})").format(
                    case=self.case, who=who, error=exc)) from None
        if got is None:
            raise _Failed(_("{case}: {who} received nothing within {wait:g} s; expected "
                            "{want}{meanwhile}").format(case=self.case, who=who, wait=WAIT_S,
                                                         want=json.dumps(want),
                                                         meanwhile=self.meanwhile(who)))
        try:
            data = json.loads(got)
        except (TypeError, ValueError):
            data = got
        if data != want:
            raise _Failed(_("{case}: {who} received {got!r}; expected {want}").format(
                case=self.case, who=who, got=got, want=json.dumps(want)))

    def meanwhile(self, but: str) -> str:
        """What the other clients received instead, as the end of a hint."""
        seen = []
        for name, client in self.users.items():
            if name == but:
                continue
            try:
                seen.append(_("{name} received {got!r}").format(
                    name=name, got=client.recv(timeout=0.02)))
            except Exception:  # noqa: BLE001 - nothing there (or closed): nothing to add
                continue
        return _(" (meanwhile {seen})").format(seen=_(" and ").join(seen)) if seen else ""

    def nothing(self, *who: str, wait: float = QUIET_S) -> None:
        """``who`` receive nothing more within ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.errors:
                raise _Failed(f"{self.case}: {self.errors[0]}")
            for name in who:
                try:
                    got = self.users[name].recv(timeout=0.01)
                except TimeoutError:
                    continue
                except Exception:  # noqa: BLE001 - a closed connection is reported by expect()
                    continue
                raise _Failed(_("{case}: {name} also received {got!r}, which was not for "
                                "{name}").format(case=self.case, name=name, got=got))

    def run(self) -> None:
        said = lambda room, text: {"op": "said", "room": room, "text": text}  # noqa: E731
        self.case = _("ann joins lab")
        self.send("ann", op="join", room="lab")
        self.expect("ann", {"op": "joined", "room": "lab", "members": 1})
        self.case = _("bob joins lab")
        self.send("bob", op="join", room="lab")
        self.expect("bob", {"op": "joined", "room": "lab", "members": 2})
        self.case = _("cy joins lobby")
        self.send("cy", op="join", room="lobby")
        self.expect("cy", {"op": "joined", "room": "lobby", "members": 1})
        self.case = _("ann joins lab a second time (members: still ann and bob)")
        self.send("ann", op="join", room="lab")
        self.expect("ann", {"op": "joined", "room": "lab", "members": 2})
        self.case = _("ann says 'hi' in lab (ann and bob get it once, cy nothing)")
        self.send("ann", op="say", room="lab", text="hi")
        self.expect("ann", said("lab", "hi"))
        self.expect("bob", said("lab", "hi"))
        self.nothing("ann", "bob", "cy")
        self.case = _("cy (lobby only) says 'anyone?' in lobby")
        self.send("cy", op="say", room="lobby", text="anyone?")
        self.expect("cy", said("lobby", "anyone?"))
        self.nothing("ann", "bob")
        self.case = _("cy, a member of lobby but not of lab, says 'psst' in lab (an error, to "
                      "cy only)")
        self.send("cy", op="say", room="lab", text="psst")
        self.expect("cy", {"op": "error", "reason": "not in room lab"})
        self.nothing("ann", "bob", "cy")
        self.case = _("bob leaves lab")
        self.send("bob", op="leave", room="lab")
        self.expect("bob", {"op": "left", "room": "lab"})
        self.case = _("ann says 'bye' in lab after bob left (only ann gets it)")
        self.send("ann", op="say", room="lab", text="bye")
        self.expect("ann", said("lab", "bye"))
        self.nothing("bob", "cy")
        self.case = _("bob, no longer in lab, says 'back?' in lab (an error, to bob only)")
        self.send("bob", op="say", room="lab", text="back?")
        self.expect("bob", {"op": "error", "reason": "not in room lab"})
        self.nothing("ann", "bob", "cy")
        self.case = _("ann says 'still here' in lab (ann only: bob's 'back?' reached nobody)")
        self.send("ann", op="say", room="lab", text="still here")
        self.expect("ann", said("lab", "still here"))
        self.nothing("ann", "bob", "cy")


# --- predict, then observe: one client that never reads ---------------------------------------

LAZY = N_("Prediction (a client that never reads)")
OUTCOMES = ("slow", "pile", "drop")


def predict_lazy(answer: object) -> Result:
    """Keep the guess: what happens when one client of a broadcast never reads?"""
    return _predict.record(LAZY, answer, choices=OUTCOMES)


def lazy_client(server: LabServer, received: Sequence[int], *, sent: int = 120) -> Result:
    """Compare the guess with what happened: ``received`` is how many of the ``sent``
    broadcasts each fast client got; the server's events say whether it dropped the lazy
    one, with which code."""
    events = list(server.events) if isinstance(server, LabServer) else []
    if not events:
        return hint(LAZY, _("pass the demo's server and the fast clients' counts (run the demo "
                            "cell first)"))
    measured_at = min(e.t_ns for e in events) / 1e9
    errors = [e for e in events if e.kind == "error"]
    everyone = all(n == sent for n in received)
    outcome = "slow" if not everyone else ("drop" if errors else "pile")

    def judge(value: float | str) -> tuple[bool, str]:
        fast = _("the {n} fast clients received {value} of {sent}").format(
                   n=len(received), value=list(received), sent=sent)
        lazy = (_("the server closed the lazy client with {code} ({reason})").format(
                    code=errors[0].code, reason=errors[0].reason)
                if errors else _("the server did not close the lazy client"))
        text = _("measured: {fast}; {lazy}; you said {value!r}").format(
                   fast=fast, lazy=lazy, value=value)
        if outcome == "drop":
            text += (". Each client has its own send buffer: the fast ones never waited, and "
                     "the lazy one was dropped once its backlog passed send_buffer_max")
        return value == outcome, text

    return _predict.compare(LAZY, measured_at=measured_at, judge=judge)
