"""Checks of notebooks 03-04, which run the learner's code against real servers and clients:
the model solution passes, and plausible wrong answers of different kinds each fail with
feedback naming what is wrong and where (the client, the message, the rule, the code)."""

from __future__ import annotations

import random

import pytest

from tests.test_exercises_00_04 import fails, ok, stub1, stub2
from wslab.exercises import ex03, ex04
from wslab.exercises.solutions import ex03 as s03
from wslab.exercises.solutions import ex04 as s04

# -- 03: shout -------------------------------------------------------------------------------


def _crash(conn, message):
    return message.nope


def _ascii_upper(conn, message):
    conn.send("".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in message))


SHOUT_WRONG = [
    ("echo unchanged", lambda conn, m: conn.send(m), ["client 1's 'Hello WebSocket'",
                                                       "unchanged", "message.upper()"]),
    ("an extra '!'", lambda conn, m: conn.send(m.upper() + "!"),
     ["client 1 sent 'Hello WebSocket'", "'HELLO WEBSOCKET!'"]),
    ("title case", lambda conn, m: conn.send(m.title()), ["'Hello Websocket'"]),
    ("ASCII letters only", _ascii_upper,
     ["client 2 sent 'é is for écoute'", "'é IS FOR éCOUTE'", "beyond ASCII"]),
    ("broadcast instead of answering", lambda conn, m: conn.server.broadcast(m.upper()),
     ["client 2 sent", "first received 'HELLO WEBSOCKET'", "only the sender"]),
    ("bytes instead of text", lambda conn, m: conn.send(m.upper().encode()),
     ["binary message", "send a str", "5.6"]),
    ("returns instead of sending", lambda conn, m: m.upper(),
     ["nothing arrived", "returned 'HELLO WEBSOCKET'", "conn.send"]),
    ("sends nothing", lambda conn, m: None, ["nothing arrived within", "client 1 sent"]),
    ("crashes", _crash, ["AttributeError", "line", "1011"]),
]


def test_ex03_shout_passes_the_model():
    assert ok(ex03.check_shout(s03.shout))
    fails(ex03.check_shout(stub2), "not written yet")


@pytest.mark.parametrize("what, fn, words", SHOUT_WRONG, ids=[w[0] for w in SHOUT_WRONG])
def test_ex03_shout_rejects(what, fn, words):
    fails(ex03.check_shout(fn), *words)


# -- 03: chat --------------------------------------------------------------------------------

def _chat_with(*, who=None, nick=None, plain=None):
    """The model chat with one command replaced by a student's version."""
    def chat(conn, message):
        if message.startswith("/nick ") and nick:
            return nick(conn, message)
        if message == "/who" and who:
            return who(conn, message)
        if not message.startswith("/") and plain:
            return plain(conn, message)
        return s03.chat(conn, message)
    return chat


def _me(conn):
    return s03.names.get(conn.id, f"guest{conn.id}")


def _who_unsorted(conn, message):  # joining order (the order of conn.server.clients)
    conn.send("* online: " + ", ".join(s03.names.get(c.id, f"guest{c.id}")
                                       for c in conn.server.clients if c.path == "/chat"))


def _who_reversed(conn, message):
    names = [s03.names.get(c.id, f"guest{c.id}") for c in conn.server.clients
             if c.path == "/chat"]
    conn.send("* online: " + ", ".join(sorted(names, reverse=True)))


def _who_every_route(conn, message):
    conn.send("* online: " + ", ".join(sorted(s03.names.get(c.id, f"guest{c.id}")
                                              for c in conn.server.clients)))


def _who_to_all(conn, message):
    names = [s03.names.get(c.id, f"guest{c.id}") for c in conn.server.clients
             if c.path == "/chat"]
    conn.server.broadcast("* online: " + ", ".join(sorted(names)), path="/chat")


_ever = {}


def _who_never_forgets(conn, message):  # everyone who ever chatted here, gone or not
    seen = _ever.setdefault(id(conn.server), {})
    for c in conn.server.clients:
        if c.path == "/chat":
            seen[c.id] = s03.names.get(c.id, f"guest{c.id}")
    conn.send("* online: " + ", ".join(sorted(seen.values())))


def _nick_no_usage(conn, message):  # accepts an empty name
    old, new = _me(conn), message[len("/nick "):]
    s03.names[conn.id] = new
    conn.server.broadcast(f"* {old} is now {new}", path="/chat")


def _nick_to_sender(conn, message):
    old, new = _me(conn), message[len("/nick "):].strip()
    if not new:
        conn.send("* usage: /nick NAME")
        return
    s03.names[conn.id] = new
    conn.send(f"* {old} is now {new}")


def _plain_every_route(conn, message):
    conn.server.broadcast(f"{_me(conn)}: {message}")


def _plain_to_sender(conn, message):
    conn.send(f"{_me(conn)}: {message}")


CHAT_WRONG = [
    ("no name on plain messages", lambda conn, m: conn.server.broadcast(m, path="/chat"),
     ["sent 'hello'", "received 'hello', expected 'guest", "'NAME: text'"]),
    ("/who unsorted (joining order)", _chat_with(who=_who_unsorted),
     ["sent '/who'", "not sorted"]),
    ("/who sorted backwards", _chat_with(who=_who_reversed), ["sent '/who'", "not sorted"]),
    ("/who lists the /echo client too", _chat_with(who=_who_every_route),
     ["sent '/who'", "a client of /echo, not of the chat", "c.path == '/chat'"]),
    ("/who answered to everyone", _chat_with(who=_who_to_all),
     ["received '* online", "must not have gone to the others"]),
    ("/who lists clients who left", _chat_with(who=_who_never_forgets),
     ["sent '/who'", "left: list only the clients connected now"]),
    ("empty name accepted", _chat_with(nick=_nick_no_usage), ["sent '/nick '", "usage"]),
    ("/nick told only to the sender", _chat_with(nick=_nick_to_sender),
     ["nothing arrived", "/nick NAME tells everyone"]),
    ("plain messages to every route", _chat_with(plain=_plain_every_route),
     ["a client of /echo", "path='/chat'"]),
    ("plain messages only to the sender", _chat_with(plain=_plain_to_sender),
     ["nothing arrived", "sent 'hello'", "was waiting", "goes to everyone on /chat"]),
]


def test_ex03_chat_passes_the_model_twice():
    assert ok(ex03.check_chat(s03.chat))
    assert ok(ex03.check_chat(s03.chat))  # again: left-over names do not confuse the check
    fails(ex03.check_chat(stub2), "not written yet")


@pytest.mark.parametrize("what, fn, words", CHAT_WRONG, ids=[w[0] for w in CHAT_WRONG])
def test_ex03_chat_rejects(what, fn, words):
    fails(ex03.check_chat(fn), *words)


def test_ex03_chat_order_is_never_sorted():
    rng = random.Random(7)
    for _ in range(200):
        names = ex03._three_nicks(rng)
        assert names not in (sorted(names), sorted(names, reverse=True))


# -- 04: close codes, sent in real Close frames ----------------------------------------------

def _but(situation, code):
    return lambda s: code if s == situation else s04.close_code(s)


CLOSE_WRONG = [
    ("1006 for a closing tab (never sent)", _but("tab closing", 1006),
     ["close_code('tab closing')", "1006", "only reported locally", "7.4.1"]),
    ("1005 for a closing tab", _but("tab closing", 1005), ["1005", "reported locally"]),
    ("1004 for a restart (reserved)", _but("server restart", 1004), ["1004", "reserved"]),
    ("5000 (out of range)", _but("logged in elsewhere", 5000),
     ["close_code('logged in elsewhere')", "5000", "cannot be sent"]),
    ("1002 for bad UTF-8", _but("not utf-8", 1002), ["'not utf-8'", "the client read 1002",
                                                     "8.1"]),
    ("1003 for bad UTF-8", _but("not utf-8", 1003), ["'not utf-8'", "1003", "consistent"]),
    ("3001 for an app rule (registered range)", _but("logged in elsewhere", 3001),
     ["3000-3999", "7.4.2"]),
    ("1000 for a closing tab", _but("tab closing", 1000),
     ["'tab closing'", "the server read 1000", "going away"]),
    ("1013 for a rate limit", _but("rate limit", 1013), ["'rate limit'", "policy"]),
    ("1008 for a message too big", _but("too big", 1008), ["'too big'", "too big"]),
    ("a str", _but("chat over", "1000"), ["close_code('chat over')", "int"]),
    ("a situation forgotten", lambda s: {"chat over": 1000}[s], ["KeyError", "line"]),
]


def test_ex04_close_codes_pass_the_model():
    r = ex04.check_close_code(s04.close_code)
    assert ok(r) and "the client read 1012" in r.message and "the server read 1001" in r.message
    restart = ex04.check_close_code(_but("server restart", 1001))
    assert ok(restart) and "a correct answer" in restart.message
    fails(ex04.check_close_code(stub1), "not written yet")


@pytest.mark.parametrize("what, fn, words", CLOSE_WRONG, ids=[w[0] for w in CLOSE_WRONG])
def test_ex04_close_codes_reject(what, fn, words):
    fails(ex04.check_close_code(fn), *words)
