"""Notebook 12's checks: the model solutions pass, plausible wrong answers fail with a
specific hint, unwritten stubs say so.  Every check runs live (real server, clients, proxy)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from wslab.exercises import ex12
from wslab.exercises._solutions import get, names

MODEL = {n: get("ex12", n) for n in ("verify_token", "on_command", "on_gone", "watch", "resume")}


def stub(*_args):
    raise NotImplementedError


def assert_hint(result, *words):
    assert not result.ok, result
    for w in words:
        assert w in result.message, result.message


def test_solutions_are_listed():
    assert set(MODEL) <= set(names("ex12"))
    assert "verify_token" in str(ex12.solution("verify_token"))


# --- (a) ----------------------------------------------------------------------------------

def test_token_model_passes():
    r = ex12.check_token(MODEL["verify_token"])
    assert r.ok, r
    assert "HTTP 401" in r.message and "4001" in r.message
    assert "constant time" in r.message


def test_token_stub_not_written():
    assert_hint(ex12.check_token(stub), "not written yet")


def test_token_that_trusts_the_name_fails():
    def trusting(token):
        return token.split(".")[0] if token and "." in token else None
    assert_hint(ex12.check_token(trusting), "bob's signature", "forged token gets in")


def test_token_with_plain_equality_is_not_yet_whatever_the_comments_say():
    def plain(token):
        # compare_digest would be better (a comment proves nothing)
        if not isinstance(token, str) or token.count(".") != 1:
            return None
        user, sig = token.split(".")
        good = hmac.new(ex12.SECRET, user.encode(), hashlib.sha256).hexdigest()[:16]
        return user if user and sig == good else None
    assert_hint(ex12.check_token(plain), "sig == good", "hmac.compare_digest")


def test_token_prefix_match_fails():
    def prefix(token):
        if not isinstance(token, str) or "." not in token:
            return None
        user, sig = token.split(".", 1)
        good = hmac.new(ex12.SECRET, user.encode(), hashlib.sha256).hexdigest()[:16]
        return user if sig and good.startswith(sig) else None
    assert_hint(ex12.check_token(prefix), "cut to 8 digits")


def test_token_returning_false_fails():
    def falsy(token):
        return MODEL["verify_token"](token) or False
    assert_hint(ex12.check_token(falsy), "returned False", "must return None")


# --- (b) ----------------------------------------------------------------------------------

def test_rooms_model_passes():
    r = ex12.check_rooms(MODEL["on_command"], MODEL["on_gone"])
    assert r.ok, r


def test_rooms_stub_not_written():
    assert_hint(ex12.check_rooms(stub, MODEL["on_gone"]), "on_command is not written yet")


def test_rooms_trusting_from_fails():
    def trusting(chat, conn, user, msg):
        if msg.get("type") == "say" and "from" in msg:
            msg = dict(msg)
            user = msg["from"]
        MODEL["on_command"](chat, conn, user, msg)
    assert_hint(ex12.check_rooms(trusting, MODEL["on_gone"]), "from 'bob' instead of 'alice'")


def test_rooms_say_to_everyone_fails():
    def everyone(chat, conn, user, msg):
        if msg.get("type") != "say":
            return MODEL["on_command"](chat, conn, user, msg)
        chat.seq += 1
        said = {"type": "said", "seq": chat.seq, "room": msg["room"], "from": user,
                "text": msg.get("text")}
        chat.history.append(said)
        for members in chat.rooms.values():
            for m in members:
                m.send(json.dumps(said))
    assert_hint(ex12.check_rooms(everyone, MODEL["on_gone"]), "carol, who is only in 'games'")


def test_rooms_without_cleanup_fails():
    def forgetful(chat, conn):
        pass
    assert_hint(ex12.check_rooms(MODEL["on_command"], forgetful), "on_gone must remove")


# --- (c) ----------------------------------------------------------------------------------

def test_heartbeat_model_passes():
    r = ex12.check_heartbeat(MODEL["watch"])
    assert r.ok, r
    assert "after the blackhole" in r.message


def test_heartbeat_stub_not_written():
    assert_hint(ex12.check_heartbeat(stub), "watch is not written yet")


def test_heartbeat_without_timeout_is_too_slow():
    def patient(client, interval, timeout):
        while True:
            time.sleep(interval)
            try:
                client.app_ping()  # the default 5 s wait, not `timeout`
            except TimeoutError:
                return "dead"
    assert_hint(ex12.check_heartbeat(patient), "no detection within", "blackhole")


def test_heartbeat_watching_state_never_notices():
    def by_state(client, interval, timeout):
        while client.state.name == "OPEN":
            time.sleep(interval)
        return "dead"
    assert_hint(ex12.check_heartbeat(by_state), "sent nothing", "unanswered")


def test_heartbeat_that_raises_is_told_to_catch():
    def raising(client, interval, timeout):
        while True:
            time.sleep(interval)
            client.app_ping(timeout=timeout)
    assert_hint(ex12.check_heartbeat(raising), "TimeoutError", "catch")


def test_heartbeat_that_returns_at_once_fails():
    def hasty(client, interval, timeout):
        return "dead"
    assert_hint(ex12.check_heartbeat(hasty), "while the server was answering")


# --- (d) ----------------------------------------------------------------------------------

def test_resume_model_passes():
    r = ex12.check_resume(MODEL["resume"])
    assert r.ok, r
    assert "exactly once" in r.message


def test_resume_stub_not_written():
    assert_hint(ex12.check_resume(stub), "resume is not written yet")


def _resume_with(keep):
    def resume(chat, conn, user, msg):
        rooms, last = msg.get("rooms", []), msg.get("last_seq", 0)
        for room in rooms:
            chat.rooms.setdefault(room, set()).add(conn)
        for said in chat.history:
            if keep(said, rooms, last):
                conn.send(json.dumps(said))
    return resume


def test_resume_off_by_one_duplicates():
    r = ex12.check_resume(_resume_with(
        lambda s, rooms, last: s["seq"] >= last and s["room"] in rooms))
    assert_hint(r, "twice", "seq > last_seq")


def test_resume_without_replay_loses_messages():
    r = ex12.check_resume(_resume_with(lambda s, rooms, last: False))
    assert_hint(r, "never reached the reader")


def test_resume_replaying_every_room_fails():
    r = ex12.check_resume(_resume_with(lambda s, rooms, last: s["seq"] > last))
    assert_hint(r, "from room 'other'")


def test_resume_that_does_not_rejoin_fails():
    def no_join(chat, conn, user, msg):
        pass
    assert_hint(ex12.check_resume(no_join), "got no 'said' at all")


# --- all together -------------------------------------------------------------------------------

def test_check_chat_model_passes_and_names_the_failing_part():
    parts = [MODEL[n] for n in ("verify_token", "on_command", "on_gone", "watch", "resume")]
    r = ex12.check_chat(*parts)
    assert r.ok, r
    parts[4] = stub
    assert_hint(ex12.check_chat(*parts), "resume is not written yet")


@pytest.mark.parametrize("user", ["", "a.b", None])
def test_make_token_rejects_bad_names(user):
    with pytest.raises(ValueError, match="user name"):
        ex12.make_token(user)
