"""Two subprotocols for one chat, and a server that translates between them (layer 3, labs).

A subprotocol is the application's language on top of WebSocket frames; the
client offers names in ``Sec-WebSocket-Protocol`` and the server picks one
(RFC 6455 sections 1.9 and 4.2.2).  Here the same chat message travels in two
languages:

``chat.json.v1`` (:data:`JSON_CHAT`): a text message holding one JSON object::

    {"type": "say", "room": "lobby", "user": "ada", "text": "hi"}

``chat.bin.v1`` (:data:`BINARY_CHAT`): a binary message packed with
:mod:`struct`, network byte order: a 1-byte type code (``!B``), then three
UTF-8 fields, each after its length in bytes as a 2-byte unsigned integer
(``!H``, so at most 65,535 bytes per field)::

     0        1        2        3               3+R      4+R      5+R
    +--------+--------+--------+---- ... ----+--------+--------+---- ... ----+
    |  type  |   room length   |  room bytes |   user length   |  user bytes |
    |  (!B)  |      (!H)       | (R, UTF-8)  |      (!H)       | (U, UTF-8)  |
    +--------+--------+--------+---- ... ----+--------+--------+---- ... ----+
       5+R+U    6+R+U    7+R+U
    +--------+--------+---- ... ----+
    |   text length   |  text bytes |      total: 7 + R + U + T bytes
    |      (!H)       | (T, UTF-8)  |
    +--------+--------+---- ... ----+

    type codes: 0x01 = say, 0x02 = error (sent by the server)

``{"type":"say","room":"lobby","user":"ada","text":"hi"}`` is 54 bytes of JSON;
the same message is ``01 0005 6c6f626279 0003 616461 0002 6869``: 17 bytes.

:func:`install_chat` makes a :class:`~wslab.net.server.LabServer` relay each
"say" to every other chat client *in that client's own subprotocol*, so a JSON
client and a binary client talk to each other; malformed input is answered
with an "error" message in the sender's format, never dropped in silence.
Standard library and wslab only.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..net.errors import ConnectionClosed
from ..protocol import frames as fr

__all__ = ["BINARY_CHAT", "JSON_CHAT", "SUBPROTOCOLS", "ChatMessage", "decode", "encode",
           "error_message", "install_chat", "wire_sizes"]

JSON_CHAT = "chat.json.v1"
BINARY_CHAT = "chat.bin.v1"
SUBPROTOCOLS = (JSON_CHAT, BINARY_CHAT)

TYPES = {"say": 0x01, "error": 0x02}
_TYPE_NAMES = {code: name for name, code in TYPES.items()}
FIELDS = ("room", "user", "text")
MAX_FIELD = 0xFFFF  # bytes of UTF-8 per field in chat.bin.v1 (a !H length)
_TYPE = struct.Struct("!B")
_LEN = struct.Struct("!H")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat message: ``type`` is "say" (from a user) or "error" (from the server)."""

    room: str
    user: str
    text: str
    type: str = "say"

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"type is one of {', '.join(map(repr, TYPES))}, got {self.type!r}")
        for name in FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"{name} is a str, got {type(value).__name__}")


def error_message(reason: str, *, room: str = "") -> ChatMessage:
    """The message the server answers malformed input with."""
    return ChatMessage(room=room, user="server", text=reason, type="error")


def _check_subprotocol(subprotocol: object) -> str:
    if subprotocol not in SUBPROTOCOLS:
        raise ValueError(f"unknown chat subprotocol {subprotocol!r}; "
                         f"known: {JSON_CHAT!r}, {BINARY_CHAT!r}")
    return subprotocol  # type: ignore[return-value]


def _utf8(name: str, value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode text (it holds a lone surrogate, which "
                         "UTF-8 cannot carry)") from None


def encode(msg: ChatMessage, subprotocol: str) -> str | bytes:
    """``msg`` in ``subprotocol``: a ``str`` (text message) for JSON, ``bytes`` (binary) for bin."""
    if not isinstance(msg, ChatMessage):
        raise ValueError(f"encode() takes a ChatMessage, got {type(msg).__name__}")
    _check_subprotocol(subprotocol)
    raw = {name: _utf8(name, getattr(msg, name)) for name in FIELDS}
    if subprotocol == JSON_CHAT:
        return json.dumps({"type": msg.type, "room": msg.room, "user": msg.user,
                           "text": msg.text}, ensure_ascii=False, separators=(",", ":"))
    out = bytearray(_TYPE.pack(TYPES[msg.type]))
    for name in FIELDS:
        data = raw[name]
        if len(data) > MAX_FIELD:
            raise ValueError(f"{name} is {len(data):,} bytes of UTF-8; {BINARY_CHAT} carries at "
                             f"most {MAX_FIELD:,} per field (a 2-byte length)")
        out += _LEN.pack(len(data)) + data
    return bytes(out)


def _decode_json(data: object) -> ChatMessage:
    if not isinstance(data, str):
        raise ValueError(f"{JSON_CHAT} messages are text (JSON), got a binary message "
                         f"of {len(data)} bytes")  # type: ignore[arg-type]
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"a {JSON_CHAT} message is a JSON object, got {type(obj).__name__}")
    wanted = ("type",) + FIELDS
    missing = [k for k in wanted if k not in obj]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}; a message has exactly "
                         f"{', '.join(wanted)}")
    extra = sorted(k for k in obj if k not in wanted)
    if extra:
        raise ValueError(f"unknown key(s) {', '.join(map(repr, extra))}; a message has exactly "
                         f"{', '.join(wanted)}")
    for k in wanted:
        if not isinstance(obj[k], str):
            raise ValueError(f"{k!r} is a JSON string, got {json.dumps(obj[k])[:40]}")
        _utf8(k, obj[k])
    if obj["type"] not in TYPES:
        raise ValueError(f"unknown type {obj['type'][:40]!r}; known: {', '.join(TYPES)}")
    return ChatMessage(room=obj["room"], user=obj["user"], text=obj["text"], type=obj["type"])


def _decode_binary(data: object) -> ChatMessage:
    if isinstance(data, str):
        raise ValueError(f"{BINARY_CHAT} messages are binary, got a text message")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"a message is bytes, got {type(data).__name__}")
    buf = bytes(data)
    if not buf:
        raise ValueError("empty message: it needs at least the 1-byte type code")
    code = buf[0]
    if code not in _TYPE_NAMES:
        known = ", ".join(f"0x{c:02x} {n}" for c, n in _TYPE_NAMES.items())
        raise ValueError(f"unknown type code 0x{code:02x} at offset 0; known: {known}")
    pos = 1
    values = {}
    for name in FIELDS:
        if pos + 2 > len(buf):
            raise ValueError(f"truncated: the {name} length needs 2 bytes at offset {pos}, "
                             f"the message is only {len(buf)} bytes long")
        (n,) = _LEN.unpack_from(buf, pos)
        pos += 2
        if pos + n > len(buf):
            raise ValueError(f"truncated: {name} is {n} bytes from offset {pos}, but only "
                             f"{len(buf) - pos} are left")
        try:
            values[name] = buf[pos:pos + n].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name} (offset {pos}) is not valid UTF-8: {exc.reason} at its "
                             f"byte {exc.start}") from None
        pos += n
    if pos != len(buf):
        raise ValueError(f"{len(buf) - pos} unexpected byte(s) after the text field "
                         f"(offset {pos})")
    return ChatMessage(type=_TYPE_NAMES[code], **values)


def decode(data: str | bytes, subprotocol: str) -> ChatMessage:
    """Parse one received message; ValueError says what is wrong with malformed input."""
    _check_subprotocol(subprotocol)
    if subprotocol == JSON_CHAT:
        return _decode_json(data)
    return _decode_binary(data)


def wire_sizes(msg: ChatMessage, *, masked: bool = True) -> dict[str, int]:
    """Bytes on the wire of ``msg`` in each subprotocol: frame header + payload.

    ``masked=True``: as a client sends it (4 bytes of masking key more, RFC
    6455 section 5.3); ``False``: as a server sends it.  No compression.
    """
    out = {}
    for sub in SUBPROTOCOLS:
        payload = encode(msg, sub)
        opcode = fr.Opcode.TEXT if isinstance(payload, str) else fr.Opcode.BINARY
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        frame = fr.Frame(opcode, data, mask_key=b"\x00\x00\x00\x00" if masked else None)
        out[sub] = len(fr.encode_frame(frame))
    return out


def install_chat(server: Any) -> Callable[[Any, str | bytes], None]:
    """Make ``server`` a chat that translates between :data:`JSON_CHAT` and :data:`BINARY_CHAT`.

    The server must offer them: ``serve(subprotocols=[JSON_CHAT, BINARY_CHAT])``
    (its order is its preference).  Each "say" a client sends is decoded with
    the subprotocol that client negotiated and re-encoded, once per
    subprotocol, for every *other* chat client on the same path.  Malformed
    input, a non-"say" message or a client that negotiated no chat
    subprotocol gets an "error" message back (in its own format; JSON text
    when it has none).  Returns the handler (``server.on_message(None)``
    restores the echo).
    """
    offered = [s for s in getattr(server, "subprotocols", ()) if s in SUBPROTOCOLS]
    if not offered:
        raise ValueError(f"the server offers none of the chat subprotocols; start it with "
                         f"serve(subprotocols=[{JSON_CHAT!r}, {BINARY_CHAT!r}])")

    def reply_error(conn: Any, sub: str | None, reason: str, room: str = "") -> None:
        msg = error_message(reason, room=room)
        try:
            conn.send(encode(msg, sub if sub in SUBPROTOCOLS else JSON_CHAT))
        except ConnectionClosed:
            pass  # the sender left meanwhile

    def chat(conn: Any, message: str | bytes) -> None:
        sub = conn.subprotocol
        if sub not in SUBPROTOCOLS:
            reply_error(conn, None, f"no chat subprotocol was negotiated; offer {JSON_CHAT!r} "
                                    f"or {BINARY_CHAT!r} in Sec-WebSocket-Protocol")
            return
        try:
            msg = decode(message, sub)
        except ValueError as exc:
            reply_error(conn, sub, f"malformed {sub} message: {exc}")
            return
        if msg.type != "say":
            reply_error(conn, sub, f"clients send 'say' messages, not {msg.type!r}", msg.room)
            return
        encoded: dict[str, str | bytes] = {}
        for info in server.clients:
            if info.id == conn.id or info.subprotocol not in SUBPROTOCOLS \
                    or info.path != conn.path:
                continue
            if info.subprotocol not in encoded:
                encoded[info.subprotocol] = encode(msg, info.subprotocol)
            try:
                server.send(info.id, encoded[info.subprotocol])
            except (ValueError, ConnectionClosed):
                pass  # that client disconnected since server.clients was read

    server.on_message(chat)
    return chat
