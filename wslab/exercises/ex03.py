"""Checks for 03_echo_server_and_client.ipynb (layer 4, exercises).

The learner's handler runs on a server of the check's own (``ex03-check``), so
nothing the notebook's server is doing interferes; real clients connect to it.
"""

from __future__ import annotations

import itertools
import re
import statistics
import time
from collections.abc import Callable, Sequence

from ..net.client import Client, connect
from ..net.errors import WSLabError
from ..net.server import LabServer, serve
from ._result import Result, hint, passed
from ._solutions import solution_function
from ._student import StudentError, takes

solution = solution_function("ex03")
TIMEOUT = 2.0
# Each check run numbers its clients from a fresh hundred, so a learner's dict of names
# left over from an earlier run cannot make an old name reappear.
_FIRST_IDS = itertools.count(1, 100)


def _handler_error(server: LabServer, what: str) -> str | None:
    """The learner's exception, from the server's error event (None if there was none)."""
    errors = [e for e in server.events.of("error") if e.data]
    if not errors:
        return None
    e = errors[-1]
    if e.reason.startswith("NotImplementedError"):
        return f"{what} is not written yet: replace `raise NotImplementedError` with your code"
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)', str(e.data))
    mine = [f for f in frames if "/wslab/" not in f[0].replace("\\", "/")]
    where = ""
    if mine:
        file, line, func, code = mine[-1]
        code = "" if code.strip() == e.reason.strip() else f" ({code.strip()})"
        where = f" at line {line} of {func}(){code}"
    return (f"{what} raised {e.reason}{where}; the server closed that client with 1011 "
            "(RFC 6455 7.4.1)")


def _wait(pred: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


class _Run:
    """A server of the check's own with the learner's handler installed."""

    def __init__(self, fn: object, what: str) -> None:
        takes(fn, 2, what=what)
        self.what = what
        self.server = serve(name="ex03-check")
        self.server.number_clients_from(next(_FIRST_IDS))
        self.server.on_message(fn)  # type: ignore[arg-type]
        self.clients: list[Client] = []

    def join(self, url: str) -> tuple[Client, int]:
        before = {c.id for c in self.server.clients}
        client = connect(url)
        self.clients.append(client)
        _wait(lambda: {c.id for c in self.server.clients} - before)
        new = sorted({c.id for c in self.server.clients} - before)
        return client, new[0] if new else -1

    def recv(self, client: Client, after: str) -> str:
        try:
            return client.recv(timeout=TIMEOUT)  # type: ignore[return-value]
        except (TimeoutError, WSLabError) as exc:
            error = _handler_error(self.server, self.what)
            if error:
                raise StudentError(error) from None
            if isinstance(exc, TimeoutError):
                raise StudentError(f"nothing arrived within {TIMEOUT:g} s after {after}") from None
            raise StudentError(f"the connection closed after {after}: {exc}") from None

    def stop(self) -> None:
        for c in self.clients:
            c.stop()
        self.server.stop()


def check_shout(fn: object) -> Result:
    """Exercise 1: ``fn(conn, message)`` answers every message in upper case."""
    name = "Exercise 1 (shout)"
    try:
        run = _Run(fn, "shout")
    except StudentError as exc:
        return hint(name, exc.hint)
    try:
        one, _ = run.join(run.server.url)
        two, _ = run.join(run.server.url)
        for client, text in ((one, "Hello WebSocket"), (two, "é is for écoute"),
                             (one, "second message")):
            client.send(text)
            got = run.recv(client, f"sending {text!r}")
            if got == text:
                return hint(name, f"{text!r} came back unchanged: reply with message.upper()")
            if got != text.upper():
                return hint(name, f"{text!r} came back as {got!r}; expected {text.upper()!r}")
    except StudentError as exc:
        return hint(name, exc.hint)
    finally:
        run.stop()
    return passed(name, "two real clients each got their own messages back in upper case")


def _chat_script(ids: dict[str, int]) -> list[tuple[str, str, dict[str, str], str]]:
    """(sender, text, {receiver: expected}, rule) for alice, bob and carol on /chat."""
    a, b, c = (f"guest{ids[n]}" for n in ("alice", "bob", "carol"))
    return [
        ("alice", "hello", {"alice": f"{a}: hello", "bob": f"{a}: hello"},
         "a plain message goes to everyone on /chat as 'NAME: text', NAME guest<id> at first"),
        ("alice", "/nick alice", {"alice": f"* {a} is now alice", "bob": f"* {a} is now alice"},
         "/nick NAME tells everyone '* OLD is now NAME'"),
        ("bob", "/who", {"bob": f"* online: alice, {b}"},
         "/who answers only the sender: '* online: ' and the sorted names"),
        ("bob", "/nick bob", {"alice": f"* {b} is now bob", "bob": f"* {b} is now bob"},
         "/nick NAME tells everyone; /who's answer must not have gone to alice"),
        ("alice", "hi bob", {"alice": "alice: hi bob", "bob": "alice: hi bob"},
         "after /nick, messages carry the new name"),
        ("bob", "/nick ", {"bob": "* usage: /nick NAME"},
         "an empty name is refused, to the sender only: '* usage: /nick NAME'"),
        ("carol", "/who", {"carol": f"* online: alice, bob, {c}"},
         "a newcomer is guest<id> until they pick a name"),
    ]


def check_chat(fn: object) -> Result:
    """Exercise 2: ``fn(conn, message)`` is a chat with /nick and /who (see the notebook)."""
    name = "Exercise 2 (chat commands)"
    try:
        run = _Run(fn, "chat")
    except StudentError as exc:
        return hint(name, exc.hint)
    try:
        clients, ids = {}, {}
        for who in ("alice", "bob"):
            clients[who], ids[who] = run.join(run.server.chat_url)
        step_carol = 6
        for i, (sender, text, expect, rule) in enumerate(_chat_script({**ids, "carol": 0})):
            if i == step_carol:
                clients["carol"], ids["carol"] = run.join(run.server.chat_url)
                sender, text, expect, rule = _chat_script(ids)[i]
            clients[sender].send(text)
            for receiver, want in expect.items():
                got = run.recv(clients[receiver], f"{sender} sent {text!r}")
                if got != want:
                    return hint(name, f"{sender} sent {text!r}; {receiver} received {got!r}, "
                                      f"expected {want!r}. Rule: {rule}")
        clients["alice"].close()
        _wait(lambda: len(run.server.clients) == 2)
        clients["carol"].send("/who")
        want = f"* online: bob, guest{ids['carol']}"
        got = run.recv(clients["carol"], "alice left and carol sent '/who'")
        if got != want:
            return hint(name, f"after alice left, carol's /who got {got!r}, expected {want!r}: "
                              "list only the clients connected now (conn.server.clients)")
    except StudentError as exc:
        return hint(name, exc.hint)
    finally:
        run.stop()
    return passed(name, "three real clients: broadcasts, /nick, /who, a refused empty name and "
                        "a departure all behave")


def median_ms(answer: object, samples: Sequence[float]) -> Result:
    """Exercise 3: the median round trip in milliseconds."""
    name = "Exercise 3 (median)"
    truth = statistics.median(samples) * 1e3
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return hint(name, "answer with a number of milliseconds")
    if abs(answer - truth * 1e-3) < truth * 1e-5:
        return hint(name, "that looks like seconds: multiply by 1000 for milliseconds")
    if abs(answer - statistics.mean(samples) * 1e3) < 1e-9 and abs(answer - truth) > 1e-9:
        return hint(name, "that is the mean; the median is the middle value "
                          "(statistics.median), far less sensitive to rare slow outliers")
    if abs(answer - truth) > max(truth * 0.01, 1e-6):
        return hint(name, f"{answer:.4f} ms is not the median of these samples")
    return passed(name, f"median {truth:.3f} ms, mean {statistics.mean(samples) * 1e3:.3f} ms: "
                        "a few slow outliers pull the mean up, not the median")
