"""Layer 4 (exercises): model solutions for 12_capstone.ipynb (shown on request only)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from wslab.exercises import ex12


def verify_token(token):
    """The user name if ``token`` is "name.signature" with a valid signature, else None."""
    if not isinstance(token, str) or token.count(".") != 1:
        return None
    user, signature = token.split(".")
    if not user:
        return None
    expected = hmac.new(ex12.SECRET, user.encode(), hashlib.sha256).hexdigest()[:16]
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    return user


def on_command(chat, conn, user, msg):
    """join / leave / say for one signed-in user."""
    room = msg.get("room")
    kind = msg.get("type")
    if kind == "join":
        chat.rooms.setdefault(room, set()).add(conn)
        conn.send(json.dumps({"type": "joined", "room": room}))
    elif kind == "leave":
        chat.rooms.get(room, set()).discard(conn)
        conn.send(json.dumps({"type": "left", "room": room}))
    elif kind == "say":
        members = chat.rooms.get(room, set())
        if conn not in members:
            conn.send(json.dumps({"type": "error",
                                  "text": f"join {room!r} before you say something"}))
            return
        chat.seq += 1
        said = {"type": "said", "seq": chat.seq, "room": room, "from": user,
                "text": msg.get("text")}
        chat.history.append(said)
        for member in members:
            member.send(json.dumps(said))
    else:
        conn.send(json.dumps({"type": "error", "text": f"unknown type {kind!r}"}))


def on_gone(chat, conn):
    """A connection closed: it is in no room any more."""
    for members in chat.rooms.values():
        members.discard(conn)


def watch(client, interval, timeout):
    """Return once the server has not answered a heartbeat within ``timeout``."""
    while True:
        time.sleep(interval)
        try:
            client.app_ping(timeout=timeout)
        except TimeoutError:
            return "dead"


def resume(chat, conn, user, msg):
    """After a (re)connect: join the rooms again and replay what was missed, once, in order."""
    rooms = msg.get("rooms", [])
    last_seq = msg.get("last_seq", 0)
    for room in rooms:
        chat.rooms.setdefault(room, set()).add(conn)
    for said in chat.history:
        if said["seq"] > last_seq and said["room"] in rooms:
            conn.send(json.dumps(said))
