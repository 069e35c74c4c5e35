"""Model solutions for 07_broadcast_and_channels.ipynb (shown by ``ex07.solution(name)``)."""

from __future__ import annotations

import json


def on_message(rooms, conn, message):
    msg = json.loads(message)
    op, room = msg.get("op"), msg.get("room")
    members = rooms.setdefault(room, set())       # a set: joining twice adds nobody
    if op == "join":
        members.add(conn)
        conn.send(json.dumps({"op": "joined", "room": room, "members": len(members)}))
    elif op == "leave":
        members.discard(conn)
        conn.send(json.dumps({"op": "left", "room": room}))
    elif op == "say":
        if conn not in members:
            conn.send(json.dumps({"op": "error", "reason": f"not in room {room}"}))
            return
        out = json.dumps({"op": "said", "room": room, "text": msg.get("text")})
        for member in members:                    # the members only, the sender too
            member.send(out)
