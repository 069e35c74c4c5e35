"""Checks for 07_broadcast_and_channels.ipynb (layer 4): rooms built on ``on_message``.

``check_rooms(on_message)`` installs the learner's ``on_message(rooms, conn,
message)`` on a fresh server and drives it with real clients: they join and
leave rooms and talk, and every message each client receives is compared with
what it should receive, in order.  WebSocket knows no rooms (RFC 6455 1.1:
a connection is one stream of messages); this is the application's job.
"""

from __future__ import annotations

import json
import time

from ..net.client import connect
from ..net.server import serve
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex07")

NAME = "Exercise 1 (rooms)"
WAIT_S = 3.0


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
    return passed(NAME, "3 real clients: joins answered with the right member counts (joining "
                        "twice counts once), each 'said' reached exactly the room's members, "
                        "the sender too, nobody after leaving, and a stranger got an error")


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
                raise _Failed(f"{self.case}: {who}'s connection closed ({exc})") from None
        if got is None:
            raise _Failed(f"{self.case}: {who} received nothing within {WAIT_S:g} s; "
                          f"expected {json.dumps(want)}")
        try:
            data = json.loads(got)
        except (TypeError, ValueError):
            data = got
        if data != want:
            raise _Failed(f"{self.case}: {who} received {got!r}; expected {json.dumps(want)}")

    def run(self) -> None:
        said = lambda room, text: {"op": "said", "room": room, "text": text}  # noqa: E731
        self.case = "ann joins lab"
        self.send("ann", op="join", room="lab")
        self.expect("ann", {"op": "joined", "room": "lab", "members": 1})
        self.case = "bob joins lab"
        self.send("bob", op="join", room="lab")
        self.expect("bob", {"op": "joined", "room": "lab", "members": 2})
        self.case = "cy joins lobby"
        self.send("cy", op="join", room="lobby")
        self.expect("cy", {"op": "joined", "room": "lobby", "members": 1})
        self.case = "ann joins lab a second time (members: still ann and bob)"
        self.send("ann", op="join", room="lab")
        self.expect("ann", {"op": "joined", "room": "lab", "members": 2})
        self.case = "ann says 'hi' in lab (ann and bob get it once, cy nothing)"
        self.send("ann", op="say", room="lab", text="hi")
        self.expect("ann", said("lab", "hi"))
        self.expect("bob", said("lab", "hi"))
        self.send("cy", op="say", room="lobby", text="anyone?")
        self.case = "cy (lobby only) says 'anyone?' in lobby, after ann's 'hi' in lab"
        self.expect("cy", said("lobby", "anyone?"))
        self.case = "bob leaves lab"
        self.send("bob", op="leave", room="lab")
        self.expect("bob", {"op": "left", "room": "lab"})
        self.case = "ann says 'bye' in lab after bob left (only ann gets it)"
        self.send("ann", op="say", room="lab", text="bye")
        self.expect("ann", said("lab", "bye"))
        self.case = "bob, no longer in lab, says 'back?' in lab (an error, to bob only)"
        self.send("bob", op="say", room="lab", text="back?")
        self.expect("bob", {"op": "error", "reason": "not in room lab"})
        self.case = "ann says 'still here' in lab (ann only: bob's 'back?' reached nobody)"
        self.send("ann", op="say", room="lab", text="still here")
        self.expect("ann", said("lab", "still here"))


def slow_code(answer: object) -> Result:
    """Question: the close code for a client that cannot keep up."""
    name = "Question (slow consumer)"
    if isinstance(answer, bool) or not isinstance(answer, int):
        return hint(name, "answer with a close code (a whole number)")
    if answer == 1013:
        return passed(name, "1013 try again later: the client may come back with an empty buffer")
    if answer == 1008:
        return hint(name, "1008 (policy) is defensible, but look at which code wslab's event shows")
    if answer == 1009:
        return hint(name, "1009 is for one message that is too big, not for a backlog")
    return hint(name, "read slow_server.events.of('error') after the slow-consumer cell")
