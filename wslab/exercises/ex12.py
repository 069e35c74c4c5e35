"""Checks for 12_capstone.ipynb: an authenticated chat with rooms, heartbeats and resume.

Layer 4 (exercises).  The student writes five functions; every check runs them
inside a real server (``wslab.serve(auth=...)`` with ``on_message``/``on_close``)
and talks to it with real clients, some through a :class:`wslab.FaultProxy`.
Where a check needs a part the student is not being checked on, it uses the
model solution for that part, so the parts can be done in any order;
:func:`check_chat` runs everything with the student's own parts.

The chat's messages (JSON text frames):

=========================  ====================================================
client -> server           server -> client
=========================  ====================================================
hello token rooms last_seq welcome user  (or Close 4001 "bad token")
join room                  joined room
leave room                 left room
say room text              said seq room from text  (to every member of room)
(anything wrong)           error text
=========================  ====================================================
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..i18n import N_, _
from ..net import ConnectionClosed, ConnectionFailed, FaultProxy, connect, serve
from ..net.client import Client
from ._constant_time import Watch, insecure
from ._result import Result, hint, passed
from ._solutions import get as _model
from ._solutions import solution_function
from ._student import StudentError, call, takes

solution = solution_function("ex12")

SECRET = b"wslab capstone: the server's signing key"
CLASS_TOKEN = "class-of-2024"   # the handshake gate: serve(auth=CLASS_TOKEN)
BAD_TOKEN_CODE = 4001           # private-use close code (RFC 6455 section 7.4.2)
WAIT = 2.0                      # seconds a check waits for one expected message


def make_token(user: str) -> str:
    """A valid token for ``user``: ``"user.<first 16 hex digits of HMAC-SHA256(SECRET, user)>"``."""
    if not isinstance(user, str) or not user or "." in user:
        raise ValueError(f"a user name is a non-empty string without '.', got {user!r}")
    return f"{user}.{hmac.new(SECRET, user.encode(), hashlib.sha256).hexdigest()[:16]}"


@dataclass
class Chat:
    """The server's state, passed to every part: rooms, who is who, what was said."""

    rooms: dict[str, set[Any]] = field(default_factory=dict)   # room -> set of Connection
    users: dict[int, str] = field(default_factory=dict)        # conn.id -> user name
    history: list[dict[str, Any]] = field(default_factory=list)  # every "said", in seq order
    seq: int = 0                                               # the last seq handed out
    errors: list[str] = field(default_factory=list)            # what the student's code raised

    def run(self, fn: Callable[..., Any], *args: Any, what: str) -> Any:
        try:
            return call(fn, *args, what=what)
        except StudentError as exc:
            self.errors.append(exc.hint)
            raise


PARTS = ("verify_token", "on_command", "on_gone", "resume")


def install(server: Any, *, verify_token: Callable[..., Any], on_command: Callable[..., Any],
            on_gone: Callable[..., Any], resume: Callable[..., Any]) -> Chat:
    """Make ``server`` a chat built from the four server-side parts; returns its :class:`Chat`.

    The first message of a connection must be a hello with a token that
    ``verify_token`` accepts, else the server closes with 4001.  After the
    welcome, ``resume`` joins the hello's rooms and replays what was missed;
    every later message goes to ``on_command``; ``on_gone`` runs on close.
    """
    chat = Chat()

    def handle(conn: Any, message: str | bytes) -> None:
        try:
            msg = json.loads(message)
        except ValueError:
            conn.send(json.dumps({"type": "error", "text": "messages are JSON objects"}))
            return
        if not isinstance(msg, dict):
            conn.send(json.dumps({"type": "error", "text": "messages are JSON objects"}))
            return
        user = chat.users.get(conn.id)
        if user is None:
            if msg.get("type") == "hello":
                user = chat.run(verify_token, msg.get("token"), what="verify_token")
            if not isinstance(user, str) or not user:
                conn.close(BAD_TOKEN_CODE, "bad token")
                return
            chat.users[conn.id] = user
            conn.send(json.dumps({"type": "welcome", "user": user}))
            chat.run(resume, chat, conn, user, msg, what="resume")
            return
        chat.run(on_command, chat, conn, user, msg, what="on_command")

    def closed(conn: Any) -> None:
        try:
            chat.run(on_gone, chat, conn, what="on_gone")
        except StudentError:
            pass  # recorded in chat.errors; the check reports it
        chat.users.pop(conn.id, None)

    server.on_message(handle)
    server.on_close(closed)
    return chat


def sign_in(url: str, token: str, *, rooms: list[str] | tuple[str, ...] = (), last_seq: int = 0,
            class_token: str | None = CLASS_TOKEN, timeout: float = WAIT) -> tuple[Client, dict]:
    """Connect (with the class token at the handshake), say hello, return (client, welcome)."""
    headers = {"Authorization": f"Bearer {class_token}"} if class_token else None
    client = connect(url, headers=headers)
    client.send(json.dumps({"type": "hello", "token": token, "rooms": list(rooms),
                            "last_seq": last_seq}))
    try:
        return client, _json(client.recv(timeout))
    except BaseException:
        client.stop()
        raise


def _json(message: str | bytes) -> dict:
    try:
        msg = json.loads(message)
    except ValueError:
        raise _Fail(_("the server sent {message!r}, which is not JSON").format(
            message=message)) from None
    if not isinstance(msg, dict):
        raise _Fail(_("the server sent {message!r}, not a JSON object").format(message=message))
    return msg


class _Fail(Exception):
    """A failed step of a live scenario; the message is the hint."""


def _parts(**mine: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    """The model parts, with the student's in place of the ones given."""
    parts = {name: _model("ex12", name) for name in PARTS}
    parts.update(mine)
    return parts


def _server(name: str, parts: dict[str, Callable[..., Any]]) -> tuple[Any, Chat]:
    server = serve(name=name, auth=CLASS_TOKEN)
    return server, install(server, **{k: parts[k] for k in PARTS})


def _next(client: Client, who: str, after: str, chat: Chat) -> dict:
    """The next message ``who`` gets; a clear _Fail when none comes."""
    try:
        return _json(client.recv(WAIT))
    except TimeoutError:
        raise _Fail(_("{who} got nothing within {wait:g} s after {after}").format(
                        who=who, wait=WAIT, after=after)) from None
    except ConnectionClosed as exc:
        if chat.errors:
            raise _Fail(chat.errors[0]) from None
        raise _Fail(_("{who}'s connection was closed ({code}) after {after}").format(
                        who=who, code=exc.code, after=after)) from None


def _next_or_none(client: Client, chat: Chat, *, wait: float = WAIT) -> dict | None:
    """The next message, or None when none comes within ``wait``."""
    try:
        return _json(client.recv(wait))
    except TimeoutError:
        return None
    except ConnectionClosed as exc:
        raise _closed(chat, exc) from None


def _send(client: Client, **msg: Any) -> None:
    client.send(json.dumps(msg))


def _expect(got: dict, who: str, after: str, **want: Any) -> None:
    wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    if wrong:
        detail = ", ".join(f"{k} {g!r} instead of {w!r}" for k, (g, w) in wrong.items())
        raise _Fail(_("after {after}, {who} got {got} ({detail})").format(
                        after=after, who=who, got=got, detail=detail))


def _closed(chat: Chat, exc: ConnectionClosed) -> _Fail:
    """A connection closed under a scenario: the student's error if there was one."""
    if chat.errors:
        return _Fail(chat.errors[0])
    return _Fail(_("a connection closed unexpectedly (code {code}): {exc}").format(
                     code=exc.code, exc=exc))


def _stop(*things: Any) -> None:
    for t in things:
        if t is not None:
            t.stop()


# --- (a) the token ------------------------------------------------------------------------

def _token_cases() -> list[tuple[Any, str | None, str]]:
    alice, bob = make_token("alice"), make_token("bob")
    flipped = alice[:-1] + ("0" if alice[-1] != "0" else "1")
    return [
        (alice, "alice", _("alice's own token")),
        (bob, "bob", _("bob's own token")),
        ("alice." + bob.split(".")[1], None, _("alice's name with bob's signature")),
        ("mallory." + "0" * 16, None, _("a made-up signature")),
        (flipped, None, _("alice's token with its last hex digit changed")),
        (alice.split(".")[0] + "." + alice.split(".")[1][:8], None,
         _("a signature cut to 8 digits")),
        ("alice", None, _("a name without a signature")),
        ("." + hmac.new(SECRET, b"", hashlib.sha256).hexdigest()[:16], None,
         _("an empty name with its signature")),
        (alice + "." + alice.split(".")[1], None, _("alice's token with a second signature")),
        ("", None, _("an empty string")),
        (None, None, _("no token at all (None)")),
    ]


def _check_token_pure(verify_token: Callable[..., Any], watch: Watch) -> str | None:
    for token, want, why in _token_cases():
        got = call(verify_token, watch.text(token), what="verify_token")
        if want is None and got is not None:
            return (_("verify_token({token!r}) returned {got!r} for {why}; it must return None "
                      "(a forged token gets in)").format(token=token, got=got, why=why))
        if want is not None and got != want:
            extra = (_(": the signature is the first 16 hex digits of HMAC-SHA256(ex12.SECRET, "
                       "name)") if got is None else "")
            return (_("verify_token({token!r}) returned {got!r} for {why}; expected "
                      "{want!r}{extra}").format(
                        token=token, got=got, why=why, want=want, extra=extra))
    return None


def _scenario_token(parts: dict[str, Callable[..., Any]]) -> str:
    server, chat = _server("ex12-token", parts)
    clients: list[Client] = []
    try:
        try:
            connect(server.chat_url).stop()
            raise _Fail(_("the server let a client without the class token through the handshake"))
        except ConnectionFailed as exc:
            gate = exc.status
        alice, welcome = sign_in(server.chat_url, make_token("alice"))
        clients.append(alice)
        _expect(welcome, "alice", _("her hello with a valid token"), type="welcome", user="alice")
        forged = "alice." + make_token("bob").split(".")[1]
        mallory, reply = None, None
        try:
            mallory, reply = sign_in(server.chat_url, forged)
            clients.append(mallory)
        except ConnectionClosed as exc:
            if exc.code != BAD_TOKEN_CODE:
                raise _Fail(chat.errors[0] if chat.errors else
                            f"a forged token was answered with close {exc.code}") from None
        if reply is not None:
            raise _Fail(_("a hello with a forged token (alice's name, bob's signature) was "
                          "answered with {reply}: it must be refused").format(reply=reply))
        return (_("handshake without the class token: HTTP {gate}; alice signed in; a forged "
                  "token was closed with {bad_token_code}").format(
                    gate=gate, bad_token_code=BAD_TOKEN_CODE))
    except ConnectionClosed as exc:
        raise _closed(chat, exc) from None
    finally:
        _stop(*clients, server)


def _timing(watch: Watch, verify_token: Callable[..., Any]) -> str | None:
    """NOT YET for a signature compared with == (seen running, or in the source)."""
    slow = insecure(watch, verify_token, 0)
    if slow is None:
        return None
    return (_("every token was judged right, but {slow} compares with == or !=, which stops at "
              "the first character that differs: how long a refusal takes tells an attacker how "
              "many leading digits of a forged signature were right, one digit at a time. Compare "
              "signatures with hmac.compare_digest(a, b)").format(slow=slow))


def check_token(verify_token: Callable[..., Any]) -> Result:
    """Part (a): verify_token accepts exactly the tokens the server signed, comparing
    signatures in constant time (security checks never pass the insecure version)."""
    name = N_("Part (a) sign in")
    watch = Watch()
    try:
        takes(verify_token, 1, what="verify_token")
        wrong = _check_token_pure(verify_token, watch) or _timing(watch, verify_token)
        if wrong:
            return hint(name, wrong)
        how = _scenario_token(_parts(verify_token=verify_token))
    except (StudentError, _Fail) as exc:
        return hint(name, str(exc))
    return passed(name, _("every token judged right, signatures compared in constant time; live: "
                          "{how}").format(how=how))


# --- (b) rooms -----------------------------------------------------------------------------

def _scenario_rooms(parts: dict[str, Callable[..., Any]]) -> str:
    server, chat = _server("ex12-rooms", parts)
    clients: list[Client] = []
    try:
        def user(n: str) -> Client:
            c, welcome = sign_in(server.chat_url, make_token(n))
            clients.append(c)
            _expect(welcome, n, _("the hello"), type="welcome")
            return c

        alice, bob, carol = user("alice"), user("bob"), user("carol")
        for c, n, room in ((alice, "alice", "lobby"), (bob, "bob", "lobby"),
                           (carol, "carol", "games")):
            _send(c, type="join", room=room)
            _expect(_next(c, n, _("join {room}").format(room=room), chat), n,
                    _("{who}'s join {room!r}").format(who=n, room=room), type="joined", room=room)
        _send(alice, type="say", room="lobby", text="hi", **{"from": "bob"})
        after = _("alice said 'hi' in lobby (with a forged \"from\": \"bob\")")
        for c, n in ((alice, "alice"), (bob, "bob")):
            _expect(_next(c, n, after, chat), n, after, type="said", seq=1, room="lobby",
                    text="hi", **{"from": "alice"})
        _send(carol, type="say", room="games", text="yo")
        got = _next(carol, "carol", _("carol said 'yo' in games"), chat)
        if got.get("room") == "lobby":
            raise _Fail(_("carol, who is only in 'games', got alice's lobby message {got}").format(
                            got=got))
        _expect(got, "carol", _("carol said 'yo' in games"), type="said", seq=2, room="games",
                **{"from": "carol"})
        _send(carol, type="say", room="lobby", text="let me in")
        after = _("carol said something in lobby without joining it")
        got = _next_or_none(carol, chat)
        if got is None or got.get("type") == "said":
            leaked = _next_or_none(alice, chat, wait=0.2)
            raise _Fail(_("after {after}, carol got {got} and alice (in lobby) got {leaked}: a "
                          "say to a room the sender is not in is answered with an error to the "
                          "sender, delivered to nobody and numbered with no seq").format(
                            after=after, got=got, leaked=leaked))
        _expect(got, "carol", after, type="error")
        if chat.seq != 2:
            raise _Fail(_("a say from outside the room still took a seq (chat.seq is {seq}, "
                          "expected 2)").format(seq=chat.seq))
        _send(bob, type="leave", room="lobby")
        _expect(_next(bob, "bob", _("his leave"), chat), "bob", _("bob's leave lobby"), type="left",
                room="lobby")
        _send(alice, type="say", room="lobby", text="still there?")
        _expect(_next(alice, "alice", _("alice said 'still there?'"), chat), "alice",
                _("alice said 'still there?'"), type="said", seq=3)
        _send(bob, type="say", room="lobby", text="me?")
        got = _next(bob, "bob", _("bob (who left lobby) said something there"), chat)
        if got.get("type") == "said":
            raise _Fail(_("bob left lobby but still got {got}").format(got=got))
        _expect(got, "bob", _("bob (who left lobby) said something there"), type="error")
        # a member who disconnects must leave every room
        _send(carol, type="join", room="lobby")
        _expect(_next(carol, "carol", _("join lobby"), chat), "carol", _("carol's join lobby"),
                type="joined")
        carol_id = next(cid for cid, u in chat.users.items() if u == "carol")
        carol.close()
        clients.remove(carol)
        deadline = time.monotonic() + WAIT
        while carol_id in chat.users and time.monotonic() < deadline:
            time.sleep(0.01)  # no event tells a check when the server has run on_close
        if chat.errors:
            raise _Fail(chat.errors[0])
        stale = [room for room, members in chat.rooms.items()
                 if any(getattr(c, "id", None) == carol_id for c in members)]
        if stale:
            raise _Fail(_("carol disconnected, but chat.rooms still has her connection in "
                          "{stale}: on_gone must remove a closed connection from every "
                          "room").format(
                            stale=stale))
        _send(alice, type="say", room="lobby", text="bye carol")
        _expect(_next(alice, "alice", _("alice said 'bye carol' after carol left"), chat), "alice",
                _("alice said 'bye carol'"), type="said", seq=4)
        kept = [(m.get("seq"), m.get("room")) for m in chat.history if isinstance(m, dict)]
        if kept != [(1, "lobby"), (2, "games"), (3, "lobby"), (4, "lobby")]:
            raise _Fail(_("after four 'said' messages chat.history holds {kept} as (seq, room): "
                          "append every 'said' message to chat.history, in seq order (part d "
                          "replays from it)").format(kept=kept))
        return (_("join/leave answered, 'said' reached exactly the room's members with seq 1, 2, "
                  "3, 4 and went into chat.history, the sender's name came from the token (not "
                  "the message), a closed connection left its rooms"))
    except ConnectionClosed as exc:
        raise _closed(chat, exc) from None
    finally:
        _stop(*clients, server)


def check_rooms(on_command: Callable[..., Any], on_gone: Callable[..., Any]) -> Result:
    """Part (b): join / leave / say, numbered, and cleanup when a connection closes."""
    name = N_("Part (b) rooms")
    try:
        takes(on_command, 4, what="on_command")
        takes(on_gone, 2, what="on_gone")
        how = _scenario_rooms(_parts(on_command=on_command, on_gone=on_gone))
    except (StudentError, _Fail) as exc:
        return hint(name, str(exc))
    return passed(name, how)


# --- (c) the heartbeat ---------------------------------------------------------------------

INTERVAL, TIMEOUT, SLACK = 0.6, 0.3, 1.0  # unequal: swapping them cannot pass by luck


def _heartbeats(client: Client, since_ns: int) -> int:
    """Pings, application pings and other messages the client sent since ``since_ns``."""
    return sum(1 for e in list(client.log)
               if e.direction == "out" and e.kind in ("ping", "text", "binary")
               and e.t_ns >= since_ns)


def _healthy(watch_outcome: dict[str, Any], beats: int, healthy: float) -> None:
    """The verdict on the first, healthy phase (the server answers every heartbeat)."""
    if "error" in watch_outcome:
        raise _Fail(watch_outcome["error"])
    most = round(healthy / INTERVAL) + 1
    if beats > most:  # first: a flood of pings is the error, whatever happened next
        raise _Fail(_("watch sent {beats} heartbeats in {healthy:g} s, about one every "
                      "{value:.2f} s; it should wait interval ({interval:g} s) between them (at "
                      "most {most}) and give each one timeout ({timeout:g} s) to be answered: "
                      "sleep(interval), then ping(timeout=timeout)").format(
                        beats=beats, healthy=healthy, value=healthy / beats, interval=INTERVAL,
                        most=most, timeout=TIMEOUT))
    if "t" in watch_outcome:
        raise _Fail(_("watch returned {watch_outcome!r} while the server was answering (within "
                      "{healthy:g} s): return only when a heartbeat goes unanswered").format(
                        watch_outcome=watch_outcome.get('value'), healthy=healthy))
    if beats == 0:
        raise _Fail(_("watch sent nothing in {healthy:g} s: only a heartbeat that goes "
                      "unanswered tells that the peer is gone (app_ping(timeout=timeout) or "
                      "ping(timeout=timeout) every interval)").format(healthy=healthy))


def _scenario_heartbeat(watch: Callable[..., Any]) -> str:
    server = serve(name="ex12-heartbeat")
    proxy = FaultProxy(server.url)
    client = connect(proxy.url)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call(watch, client, INTERVAL, TIMEOUT, what="watch")
        except StudentError as exc:
            outcome["error"] = exc.hint
            outcome["timeout"] = isinstance(exc.__context__, TimeoutError)
        outcome["t"] = time.monotonic()

    thread = threading.Thread(target=run, name="ex12-watch", daemon=True)
    try:
        since = time.perf_counter_ns()
        thread.start()
        healthy = 4 * INTERVAL
        thread.join(healthy)
        beats = _heartbeats(client, since)
        _healthy(outcome, beats, healthy)
        t0, dark = time.monotonic(), time.perf_counter_ns()
        proxy.set("blackhole")
        bound = INTERVAL + TIMEOUT + SLACK
        thread.join(bound)
        if thread.is_alive():
            unanswered = _heartbeats(client, dark)
            if unanswered >= 2:
                raise _Fail(_("watch sent {unanswered} heartbeats in the {bound:g} s after the "
                              "blackhole and none was answered, yet it kept going: return as soon "
                              "as one gets no answer within timeout ({timeout:g} s)").format(
                                unanswered=unanswered, bound=bound, timeout=TIMEOUT))
            raise _Fail(_("no detection within {bound:g} s of the blackhole (interval "
                          "{interval:g} s + timeout {timeout:g} s + {slack:g} s slack): TCP stays "
                          "open under a blackhole, so only a ping that gets no pong within "
                          "`timeout` tells (app_ping(timeout=timeout) or "
                          "ping(timeout=timeout))").format(
                            bound=bound, interval=INTERVAL, timeout=TIMEOUT, slack=SLACK))
        if "error" in outcome:
            err = outcome["error"]
            if outcome.get("timeout"):
                err += (" -- a missed pong is what watch looks for, not an error: catch "
                        "TimeoutError and return")
            raise _Fail(err)
        took = outcome["t"] - t0
        return (_("quiet while the server answered ({beats} heartbeats in {healthy:g} s, "
                  "interval {interval:g} s); dead peer noticed {took:.2f} s after the blackhole "
                  "(worst case interval + timeout = {value:g} s, {slack:g} s slack "
                  "allowed)").format(
                    beats=beats, healthy=healthy, interval=INTERVAL, took=took,
                    value=INTERVAL + TIMEOUT, slack=SLACK))
    finally:
        if thread.is_alive():
            proxy.reset_all()  # the next ping raises ConnectionClosed and ends the loop
            thread.join(WAIT + TIMEOUT + INTERVAL)
        _stop(proxy, client, server)  # the proxy first: a Close cannot cross a blackhole


def check_heartbeat(watch: Callable[..., Any]) -> Result:
    """Part (c): a client-side heartbeat that notices a silent peer within interval + timeout."""
    name = N_("Part (c) heartbeat")
    try:
        takes(watch, 3, what="watch")
        how = _scenario_heartbeat(watch)
    except (StudentError, _Fail) as exc:
        return hint(name, str(exc))
    return passed(name, how)


# --- (d) resume ----------------------------------------------------------------------------

ROUNDS, BEFORE = 3, 20
AWAY = (5, 40)  # messages said while the reader is away: a new random count each round


def _read_until_closed(reader: Client, got: list[dict]) -> None:
    while True:
        try:
            message = reader.recv(WAIT)
        except (ConnectionClosed, TimeoutError):
            return
        msg = _json(message)
        if msg.get("type") == "said":
            got.append(msg)


def _scenario_resume(parts: dict[str, Callable[..., Any]]) -> str:
    server, chat = _server("ex12-resume", parts)
    proxy = FaultProxy(server.chat_url)
    writer = reader = None
    got: list[dict] = []
    away = [random.randint(*AWAY) for _round in range(ROUNDS)]
    try:
        writer, _welcome = sign_in(server.chat_url, make_token("writer"),
                                   rooms=["lobby", "other"])
        n = 0

        def say(k: int) -> None:
            nonlocal n
            for _i in range(k):
                n += 1
                _send(writer, type="say", room="other" if n % 3 == 0 else "lobby", text=f"m{n}")

        for k in range(ROUNDS):
            last = max((m.get("seq", 0) for m in got), default=0)
            reader, welcome = sign_in(proxy.url, make_token("reader"), rooms=["lobby"],
                                      last_seq=last)
            _expect(welcome, _("the reader"), _("its hello"), type="welcome")
            say(BEFORE)
            proxy.reset_all()          # mid-stream: some frames are still on their way
            say(away[k])               # said while the reader is away
            _read_until_closed(reader, got)
            reader.stop()
            if chat.errors:
                raise _Fail(chat.errors[0])
        last = max((m.get("seq", 0) for m in got), default=0)
        reader, _welcome = sign_in(proxy.url, make_token("reader"), rooms=["lobby"],
                                   last_seq=last)
        _send(writer, type="say", room="lobby", text="end")
        while not any(m.get("text") == "end" for m in got):
            try:
                msg = _json(reader.recv(WAIT))
            except (TimeoutError, ConnectionClosed):
                break
            if msg.get("type") == "said":
                got.append(msg)
        if chat.errors:
            raise _Fail(chat.errors[0])
        want = [m["seq"] for m in chat.history if m["room"] == "lobby"]
        return _compare_stream([m.get("seq") for m in got], want, chat) + (
            f" ({ROUNDS} resets mid-stream, {'/'.join(map(str, away))} messages said while "
            f"the reader was away, {len(want)} lobby messages)")
    except ConnectionClosed as exc:
        raise _closed(chat, exc) from None
    finally:
        _stop(reader, writer, proxy, server)


def _compare_stream(seqs: list[Any], want: list[int], chat: Chat) -> str:
    rooms = {m["seq"]: m["room"] for m in chat.history}
    seen: set[Any] = set()
    for i, s in enumerate(seqs):
        if s in seen:
            raise _Fail(_("seq {s} reached the reader twice (once before a reset, again after it "
                          "resumed): replay only messages with seq > last_seq").format(s=s))
        if rooms.get(s) != "lobby":
            raise _Fail(_("seq {s} from room {rooms!r} reached the reader, which rejoined only "
                          "['lobby']: replay only the rooms in msg['rooms']").format(
                            s=s, rooms=rooms.get(s)))
        if i and seqs[i - 1] is not None and s is not None and s < seqs[i - 1]:
            raise _Fail(_("seq {s} arrived after seq {seqs}: replay in seq order").format(
                            s=s, seqs=seqs[i - 1]))
        seen.add(s)
    missing = [s for s in want if s not in seen]
    if not seqs:
        raise _Fail(_("the reader (hello with rooms ['lobby']) got no 'said' at all: resume must "
                      "add the connection to every room in msg['rooms']"))
    if missing:
        run = f"{missing[0]}" + (f" ... {missing[-1]}" if len(missing) > 1 else "")
        raise _Fail(_("{n} lobby message(s) never reached the reader (seq {run}): after a "
                      "reconnect, send every message of its rooms with seq > last_seq from "
                      "chat.history").format(n=len(missing), run=run))
    return _("every lobby message arrived exactly once and in order (seq {want}-{want2})").format(
               want=want[0], want2=want[-1])


def check_resume(resume: Callable[..., Any]) -> Result:
    """Part (d): after a reconnect nothing is lost and nothing arrives twice."""
    name = N_("Part (d) resume")
    try:
        takes(resume, 4, what="resume")
        how = _scenario_resume(_parts(resume=resume))
    except (StudentError, _Fail) as exc:
        return hint(name, str(exc))
    return passed(name, how)


# --- all together ------------------------------------------------------------------------------

def check_chat(verify_token: Callable[..., Any], on_command: Callable[..., Any],
               on_gone: Callable[..., Any], watch: Callable[..., Any],
               resume: Callable[..., Any]) -> Result:
    """The whole chat with only the student's parts: every scenario above, live.  A
    failure names the part, (a) to (d), it came from."""
    name = N_("Capstone (all parts yours)")
    mine = {"verify_token": verify_token, "on_command": on_command, "on_gone": on_gone,
            "resume": resume}
    scenarios: list[tuple[str, Callable[[], str]]] = [
        (_("part (a) sign in"), lambda: _scenario_token(mine)),
        (_("part (b) rooms"), lambda: _scenario_rooms(mine)),
        (_("part (c) heartbeat"), lambda: _scenario_heartbeat(watch)),
        (_("part (d) resume"), lambda: _scenario_resume(mine)),
    ]
    part = _("the parts")
    try:
        for fn, n in (("verify_token", 1), ("on_command", 4), ("on_gone", 2), ("resume", 4),
                      ("watch", 3)):
            takes({**mine, "watch": watch}[fn], n, what=fn)
        part, stamp = _("part (a) sign in"), Watch()
        wrong = _check_token_pure(verify_token, stamp) or _timing(stamp, verify_token)
        if wrong:
            raise _Fail(wrong)
        done = []
        for label, scenario in scenarios:
            part = label  # named in the hint if this scenario fails
            done.append(scenario())
    except (StudentError, _Fail) as exc:
        return hint(name, _("{part}: {exc}").format(part=part, exc=exc))
    return passed(name, _("your chat, live:") + "\n- " + "\n- ".join(done))
