"""Checks for 03_echo_server_and_client.ipynb (layer 4, exercises).

The learner's handler runs on a server of the check's own (``ex03-check``), so
nothing the notebook's server is doing interferes; real clients connect to it.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence

from ..i18n import N_, _, translate
from ..net.client import Client, connect
from ..net.errors import WSLabError
from ..net.server import LabServer, serve
from . import _predict
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
        return _("{what} is not written yet: replace `raise NotImplementedError` with your "
                 "code").format(what=what)
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)', str(e.data))
    mine = [f for f in frames if "/wslab/" not in f[0].replace("\\", "/")]
    where = ""
    if mine:
        file, line, func, code = mine[-1]
        code = "" if code.strip() == e.reason.strip() else f" ({code.strip()})"
        where = _(" at line {line} of {function}(){code}").format(line=line, function=func,
                                                                  code=code)
    return _("{what} raised {error}{where}; the server closed that client with 1011 "
             "(RFC 6455 7.4.1)").format(what=what, error=e.reason, where=where)


def _wait(pred: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


class _Run:
    """A server of the check's own with the learner's handler installed.

    The handler is called through a thin wrapper that keeps what it returned, so a
    handler that returns its answer instead of sending it can be told so.
    """

    def __init__(self, fn: object, what: str) -> None:
        takes(fn, 2, what=what)
        self.what = what
        self.returned: list[object] = []
        self.server = serve(name="ex03-check")
        self.server.number_clients_from(next(_FIRST_IDS))

        def handler(conn: object, message: object) -> object:
            result = fn(conn, message)  # type: ignore[operator]
            if result is not None:
                self.returned.append(result)
            return result

        self.server.on_message(handler)
        self.clients: list[Client] = []

    def join(self, url: str) -> tuple[Client, int]:
        before = {c.id for c in self.server.clients}
        client = connect(url)
        self.clients.append(client)
        _wait(lambda: {c.id for c in self.server.clients} - before)
        new = sorted({c.id for c in self.server.clients} - before)
        return client, new[0] if new else -1

    def recv(self, client: Client, after: str, rule: str = "") -> str | bytes:
        try:
            return client.recv(timeout=TIMEOUT)
        except (TimeoutError, WSLabError) as exc:
            error = _handler_error(self.server, self.what)
            if error:
                raise StudentError(error) from None
            if isinstance(exc, TimeoutError):
                why = _(". Rule: {rule}").format(rule=translate(rule)) if rule else ""
                if self.returned:
                    why = _(": {what} returned {value!r} but sent nothing. The server ignores "
                            "what a handler returns; send with conn.send(...)").format(
                        what=self.what, value=self.returned[-1])
                raise StudentError(_("nothing arrived within {timeout:g} s after {after}"
                                     "{why}").format(timeout=TIMEOUT, after=after,
                                                     why=why)) from None
            raise StudentError(_("the connection closed after {after}: {error}").format(
                after=after, error=exc)) from None

    def stop(self) -> None:
        for c in self.clients:
            c.stop()
        self.server.stop()


def _not_text(got: object) -> str:
    """A hint for a reply that is not a text message ("" when it is one)."""
    if isinstance(got, bytes):
        return _("arrived as a binary message, {got!r}: send a str to answer with a text "
                 "message (bytes become a binary frame, RFC 6455 5.6)").format(got=got)
    return ""


def check_shout(fn: object) -> Result:
    """Exercise 1: ``fn(conn, message)`` answers every message in upper case, to its sender."""
    name = N_("Exercise 1 (shout)")
    try:
        run = _Run(fn, "shout")
    except StudentError as exc:
        return hint(name, exc.hint)
    try:
        one, _one = run.join(run.server.url)
        two, _two = run.join(run.server.url)
        sent: dict[int, str] = {}
        for client, who, text in ((one, _("client 1"), "Hello WebSocket"),
                                  (two, _("client 2"), "é is for écoute"),
                                  (one, _("client 1"), "second message")):
            client.send(text)
            sent[id(client)] = text
            got = run.recv(client, _("{who} sent {text!r}").format(who=who, text=text))
            others = [t.upper() for k, t in sent.items() if k != id(client)]
            if got in others:
                return hint(name, _("{who} sent {text!r} and first received {got!r}, the "
                                    "answer to the other client: conn.send() answers only the "
                                    "sender, server.broadcast() would reach everyone").format(
                    who=who, text=text, got=got))
            if _not_text(got):
                return hint(name, _("{text!r} came back, but it {why}").format(
                    text=text, why=_not_text(got)))
            if got == text:
                return hint(name, _("{who}'s {text!r} came back unchanged: reply with "
                                    "message.upper()").format(who=who, text=text))
            if got != text.upper():
                return hint(name, _("{who} sent {text!r} and received {got!r}; expected "
                                    "{want!r} (str.upper() also knows letters beyond ASCII, "
                                    "like é)").format(who=who, text=text, got=got,
                                                      want=text.upper()))
    except StudentError as exc:
        return hint(name, exc.hint)
    finally:
        run.stop()
    return passed(name, _("two real clients each got their own messages back in upper case, "
                          "é included"))


# -- Exercise 2: the chat --------------------------------------------------------------------

NICKS = ("ann", "bob", "kai", "lea", "mia", "zoe")  # on both sides of "guest..." in sort order


def _three_nicks(rng: random.Random) -> list[str]:
    """Three names in a joining order that is NOT their sorted order (nor its reverse), so
    a /who that lists clients in joining order, by id or reversed cannot pass by luck."""
    while True:
        names = rng.sample(NICKS, 3)
        if names not in (sorted(names), sorted(names, reverse=True)):
            return names


def _who(names: list[str]) -> str:
    return "* online: " + ", ".join(sorted(names))


class _Chat:
    """Three chat clients (a, b, c: joining order) and a silent client of /echo."""

    def __init__(self, run: _Run, nicks: list[str]) -> None:
        self.run, self.nicks = run, dict(zip("abc", nicks, strict=True))
        self.clients: dict[str, Client] = {}
        self.ids: dict[str, int] = {}
        self.names: dict[str, str] = {}  # what each is called now
        self.bystander: Client | None = None  # a silent client of /echo
        self.bystander_id = -1
        self.gone: list[str] = []  # names of clients that left

    def join(self, who: str) -> None:
        self.clients[who], self.ids[who] = self.run.join(self.run.server.chat_url)
        self.names[who] = f"guest{self.ids[who]}"

    def step(self, sender: str, text: str, expect: dict[str, str], rule: str) -> str:
        """Send ``text`` from ``sender``; "" when each receiver got its line, else a hint."""
        self.clients[sender].send(text)
        said = _("{who} sent {text!r}").format(who=self.names[sender], text=text)
        for receiver, want in expect.items():
            got = self.run.recv(self.clients[receiver],
                                _("{said} ({who} was waiting)").format(
                                    said=said, who=self.names[receiver]), rule)
            if got != want:
                return _("{said}; {who} received {got!r}, expected {want!r}. Rule: {rule}"
                         "{why}").format(said=said, who=self.names[receiver], got=got,
                                         want=want, rule=translate(rule),
                                         why=self._why(got, want))
        return ""

    def _why(self, got: object, want: str) -> str:
        if not isinstance(got, str) or not want.startswith("* online: "):
            return _not_text(got) and _("; it {why}").format(why=_not_text(got))
        if not got.startswith("* online: "):
            return ""
        listed, right = got[len("* online: "):].split(", "), want[len("* online: "):].split(", ")
        if sorted(listed) == right:
            return _("; your names are right but not sorted (sorted(...))")
        notes = [self._extra(n) for n in listed if n not in right]
        missing = [n for n in right if n not in listed]
        if missing:
            notes.append(_("{names} is missing").format(names=", ".join(missing)))
        return "; " + "; ".join(notes) if notes else ""

    def _extra(self, listed: str) -> str:
        """Why a name in a /who answer should not be there."""
        for who, cid in self.ids.items():
            if listed == f"guest{cid}" and self.names[who] != listed:
                return _("{listed} is called {name} since its /nick: list the names the "
                         "clients picked").format(listed=listed, name=self.names[who])
        if listed in self.gone:
            return _("{listed} left: list only the clients connected now "
                     "(conn.server.clients)").format(listed=listed)
        if listed == f"guest{self.bystander_id}":
            return _("{listed} is a client of /echo, not of the chat: keep only clients with "
                     "c.path == '/chat'").format(listed=listed)
        return _("{listed} should not be listed").format(listed=listed)

    def rename(self, who: str, new: str) -> None:
        self.names[who] = new


def _play(chat: _Chat) -> str:
    """The conversation; "" when every line arrived as the rules say, else a hint."""
    n = chat.nicks
    chat.join("a")
    chat.bystander, chat.bystander_id = chat.run.join(chat.run.server.url)  # between them
    chat.join("b")
    ga, gb = chat.names["a"], chat.names["b"]
    steps: list[tuple[str, str, dict[str, str], str, tuple[str, str] | None]] = [
        ("a", "hello", {"a": f"{ga}: hello", "b": f"{ga}: hello"},
         N_("a plain message goes to everyone on /chat as 'NAME: text', NAME guest<id> at "
            "first"),
         None),
        ("a", f"/nick {n['a']}", {"a": f"* {ga} is now {n['a']}", "b": f"* {ga} is now {n['a']}"},
         N_("/nick NAME tells everyone on /chat '* OLD is now NAME'"), ("a", n["a"])),
        ("b", "/who", {"b": _who([n["a"], gb])},
         N_("/who answers only the sender: '* online: ' and the names on /chat, sorted"),
         None),
        ("b", f"/nick {n['b']}", {"a": f"* {gb} is now {n['b']}", "b": f"* {gb} is now {n['b']}"},
         N_("/nick NAME tells everyone; /who's answer must not have gone to the others"),
         ("b", n["b"])),
        ("a", "hi there", {"a": f"{n['a']}: hi there", "b": f"{n['a']}: hi there"},
         N_("after /nick, messages carry the new name"), None),
        ("b", "/nick ", {"b": "* usage: /nick NAME"},
         N_("an empty name is refused, to the sender only: '* usage: /nick NAME'"), None),
    ]
    for sender, text, expect, rule, renamed in steps:
        problem = chat.step(sender, text, expect, rule)
        if problem:
            return problem
        if renamed:
            chat.rename(*renamed)
    chat.join("c")
    gc = chat.names["c"]
    later = [
        ("c", "/who", {"c": _who([n["a"], n["b"], gc])},
         N_("a newcomer is guest<id> until they pick a name; /who lists names sorted"),
         None),
        ("c", f"/nick {n['c']}", {w: f"* {gc} is now {n['c']}" for w in "abc"},
         N_("/nick NAME tells everyone on /chat"), ("c", n["c"])),
        ("a", "/who", {"a": _who([n["a"], n["b"], n["c"]])},
         N_("/who lists the names sorted, whatever order the clients joined in"), None),
    ]
    for sender, text, expect, rule, renamed in later:
        problem = chat.step(sender, text, expect, rule)
        if problem:
            return problem
        if renamed:
            chat.rename(*renamed)
    return ""


def _bystander_saw(echo: Client) -> str:
    """What the silent /echo client received (it should be nothing), after a ping: frames
    the server wrote to it before the pong have arrived once the ping returns."""
    echo.ping(b"barrier")
    try:
        return repr(echo.recv(timeout=0))
    except (TimeoutError, WSLabError):
        return ""


def check_chat(fn: object) -> Result:
    """Exercise 2: ``fn(conn, message)`` is a chat with /nick and /who (see the notebook)."""
    name = N_("Exercise 2 (chat commands)")
    try:
        run = _Run(fn, "chat")
    except StudentError as exc:
        return hint(name, exc.hint)
    chat = _Chat(run, _three_nicks(random.Random()))
    try:
        problem = _play(chat)
        if problem:
            return hint(name, problem)
        saw = _bystander_saw(chat.bystander) if chat.bystander else ""
        if saw:
            return hint(name, _("a client of /echo, not of the chat, received {saw}: send "
                                "chat lines only to /chat, conn.server.broadcast(text, "
                                "path='/chat')").format(saw=saw))
        left = chat.names["a"]
        chat.gone.append(left)
        chat.clients["a"].close()
        _wait(lambda: len(run.server.clients) == 3)
        problem = chat.step("c", "/who", {"c": _who([chat.names["b"], chat.names["c"]])},
                            _("after {left} left, /who lists only the clients connected now "
                              "(conn.server.clients)").format(left=left))
        if problem:
            return hint(name, problem)
    except StudentError as exc:
        return hint(name, exc.hint)
    finally:
        run.stop()
    order = ", ".join(chat.nicks.values())
    return passed(name, _("three real clients joined as {order}: broadcasts, /nick, /who "
                          "(sorted, only /chat, only the asker), a refused empty name and a "
                          "departure all behave").format(order=order))


# -- Exercise 3: predict the round trip, then measure it ---------------------------------------

RTT = N_("Exercise 3 (round trips)")
Judge = Callable[[float | str], tuple[bool, str]]


def _name(part: str) -> str:
    return f"{RTT}: {part}"


def predict_rtt(median_ms: object, mean: object) -> Result:
    """Keep two guesses before the measurement: the median round trip in ms, and whether the
    mean will be "above" or "below" the median."""
    number = isinstance(median_ms, (int, float)) and not isinstance(median_ms, bool) \
        and math.isfinite(median_ms) and median_ms > 0
    side = isinstance(mean, str) and mean.strip().lower() in ("above", "below")
    if not (number and side):
        _predict.forget(_name("median"))
        _predict.forget(_name("mean"))
        missing = ([] if number else [_("median_guess: a number of milliseconds above 0")]) \
            + ([] if side else [_("mean_guess: 'above' or 'below'")])
        return hint(RTT, _("write your prediction first (replace None): {missing}. Then run "
                           "this cell, and only then the measurement below").format(
            missing="; ".join(missing)))
    _predict.record(_name("median"), median_ms, unit="ms")
    _predict.record(_name("mean"), mean, choices=("above", "below"))
    above = str(mean).strip().lower() == "above"
    recorded = (_("predictions recorded: median {median:g} ms, mean above the median. Now run "
                  "the measurement; the cell after it compares them with what it measured")
                if above else
                _("predictions recorded: median {median:g} ms, mean below the median. Now run "
                  "the measurement; the cell after it compares them with what it measured"))
    return passed(RTT, recorded.format(median=median_ms))


def _judge_median(median: float) -> Judge:
    def judge(value: float | str) -> tuple[bool, str]:
        g = float(value)
        ratio = g / median
        said = _("measured median {median:.3f} ms; you predicted {guess:g} ms").format(
            median=median, guess=g)
        if 1 / 3 <= ratio <= 3:
            return True, _("{said}: the right order of magnitude").format(said=said)
        if ratio > 3:
            return False, _("{said}, {ratio:.0f} times the real value. On loopback no byte "
                            "crosses a wire: a round trip is two programs and the kernel's "
                            "TCP stack, a fraction of a millisecond").format(said=said,
                                                                             ratio=ratio)
        return False, _("{said}, 1/{ratio:.0f} of the real value: even on loopback each "
                        "message passes through Python, Tornado and the kernel twice").format(
            said=said, ratio=1 / ratio)
    return judge


def _judge_mean(mean: float, median: float, slowest: float, n: int) -> Judge:
    actual = "above" if mean > median else "below"

    def judge(value: float | str) -> tuple[bool, str]:
        said = (_("the mean, {mean:.3f} ms, is above the median; you predicted {guess}. The "
                  "slowest of the {n} round trips took {slowest:.3f} ms") if actual == "above"
                else _("the mean, {mean:.3f} ms, is below the median; you predicted {guess}. "
                       "The slowest of the {n} round trips took {slowest:.3f} ms")).format(
            mean=mean, guess=value, n=n, slowest=slowest)
        if value == actual == "above":
            return True, _("{said}: a few slow round trips pull the mean up, and the median, "
                           "the middle value, does not move").format(said=said)
        if value == actual:
            return True, _("{said}: in this sample no slow outliers pulled the mean up").format(
                said=said)
        if actual == "above":
            return False, _("{said}: a round trip cannot be much faster than the usual one, "
                            "but a few can be much slower, and those pull the mean up; the "
                            "median, the middle value, does not move").format(said=said)
        return False, _("{said}: this time no slow outliers pulled the mean up; run the "
                        "measurement again and compare").format(said=said)
    return judge


def compare_rtt(samples: Sequence[float], *, measured_at: float) -> Result:
    """Set the two guesses against the round trips measured (seconds each)."""
    if not samples or not all(isinstance(x, (int, float)) for x in samples):
        return hint(RTT, _("no round trips were measured: run the measurement cell first"))
    median = statistics.median(samples) * 1e3
    mean = statistics.mean(samples) * 1e3
    results = [_predict.compare(_name("median"), measured_at=measured_at,
                                judge=_judge_median(median)),
               _predict.compare(_name("mean"), measured_at=measured_at,
                                judge=_judge_mean(mean, median, max(samples) * 1e3,
                                                  len(samples)))]
    for which, r in zip(("median", "mean"), results, strict=True):
        g = _predict.guess(_name(which))
        if g is None or g.at > measured_at:  # nothing predicted (in time): say so, once
            return hint(RTT, r.message)
    ok = all(r.ok for r in results)
    return (passed if ok else hint)(RTT, "\n".join(r.message for r in results))
