"""Envelopes on the backplane's Redis channel: sealed, parsed and checked (layer 1, sans-I/O).

The bus is a trust boundary.  Anything that can reach Redis can PUBLISH on it,
so a server believes nothing it reads there until this module has said yes:

* a server's envelope travels as ``<hex HMAC-SHA256>.<JSON object>``; the MAC
  covers the JSON bytes and uses the cluster's key, and it is compared with
  :func:`hmac.compare_digest`.  A process without the key cannot make one;
* the numbering script in Redis publishes plain JSON ``{"k":"e","s":N,...}``
  (Redis cannot compute an HMAC).  Such an envelope is only a *hint* that event
  ``N`` exists: the receiver reads the event itself from the stream, so a forged
  hint can neither invent an event nor skip a real one;
* every field is checked for type and size before use, and anything else (not
  UTF-8, not JSON, a list, a missing field, a huge number, an unknown kind, too
  many bytes) raises :class:`EnvelopeError` with a stable ``kind``, for counting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from .errors import WSLabError

MAX_ENVELOPE_BYTES = 16 * 1024 * 1024  # a bus message larger than this is refused unread
MAX_NAME = 256        # node ids, paths and channel names
MAX_SEQ = 2 ** 53     # event numbers (Redis counts in 64 bits; JSON is exact to 2**53)
MAX_SENDER = 2 ** 63
MAC_HEX = 64          # hex digits of an HMAC-SHA256
KEY_MIN = 16          # bytes of a bus key

#: the kinds of :class:`EnvelopeError`, stable words a counter can use
ERROR_KINDS = ("too_big", "not_text", "not_json", "not_object", "bad_mac", "unsigned",
               "unknown_kind", "bad_field")


class EnvelopeError(WSLabError, ValueError):
    """A bus message that is not a valid envelope; ``kind`` is one of :data:`ERROR_KINDS`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Broadcast:
    """A server's broadcast (``path`` None: every route), to deliver to local clients."""

    node: str
    path: str | None
    message: str | bytes


@dataclass(frozen=True)
class Publication:
    """A server's ``/pubsub`` publication on ``channel``."""

    node: str
    channel: str
    data: Any
    sender: int | None


@dataclass(frozen=True)
class EventHint:
    """Redis numbered event ``seq``: read it from the stream, never from the bus."""

    seq: int


Envelope = Broadcast | Publication | EventHint


def check_key(key: bytes) -> bytes:
    """A bus key is bytes, at least :data:`KEY_MIN` of them."""
    if not isinstance(key, bytes) or len(key) < KEY_MIN:
        raise ValueError(f"a bus key is at least {KEY_MIN} bytes, got "
                         f"{len(key) if isinstance(key, bytes) else type(key).__name__}")
    return key


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def seal(envelope: Broadcast | Publication, key: bytes) -> bytes:
    """The bytes to PUBLISH for ``envelope``: its MAC, a dot, its JSON."""
    obj: dict[str, Any]
    if isinstance(envelope, Broadcast):
        obj = {"k": "b", "n": envelope.node, "path": envelope.path}
        if isinstance(envelope.message, bytes):
            obj["b64"] = base64.b64encode(envelope.message).decode()
        else:
            obj["t"] = envelope.message
    else:
        obj = {"k": "p", "n": envelope.node, "ch": envelope.channel, "d": envelope.data,
               "from": envelope.sender}
    body = json.dumps(obj, separators=(",", ":")).encode()
    return _mac(key, body).encode() + b"." + body


def open_envelope(raw: bytes | str, key: bytes, *,
                  max_bytes: int = MAX_ENVELOPE_BYTES) -> Envelope:
    """Check ``raw`` (one bus message) and return what it says; :class:`EnvelopeError` if bad."""
    if len(raw) > max_bytes:
        raise EnvelopeError("too_big", f"a bus message of {len(raw)} bytes (at most {max_bytes})")
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if raw[:1] == b"{":
        return _event_hint(_json_object(raw))
    mac, dot, body = raw.partition(b".")
    if not dot or len(mac) != MAC_HEX:
        raise EnvelopeError("unsigned", "a bus message without a MAC that is not an event hint")
    if not hmac.compare_digest(mac, _mac(key, body).encode()):
        raise EnvelopeError("bad_mac", "a bus message whose MAC does not match the cluster's key")
    obj = _json_object(body)
    kind = obj.get("k")
    if kind == "b":
        return _broadcast(obj)
    if kind == "p":
        return _publication(obj)
    raise EnvelopeError("unknown_kind", f"a signed envelope of unknown kind {str(kind)[:20]!r}")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvelopeError("not_text", "a bus message that is not UTF-8") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise EnvelopeError("not_json", "a bus message that is not JSON") from None
    if not isinstance(obj, dict):
        raise EnvelopeError("not_object", f"a bus message that is a JSON {type(obj).__name__}, "
                            "not an object")
    return obj


def _field(obj: dict[str, Any], name: str, types: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if not isinstance(value, types) or isinstance(value, bool):
        raise EnvelopeError("bad_field", f"envelope field {name!r} is "
                            f"{type(value).__name__}, not {types}")
    return value


def _name(obj: dict[str, Any], name: str, *, optional: bool = False) -> str | None:
    if optional and obj.get(name) is None:
        return None
    value: str = _field(obj, name, str)
    if not value or len(value) > MAX_NAME:
        raise EnvelopeError("bad_field", f"envelope field {name!r} has {len(value)} characters "
                            f"(1 to {MAX_NAME})")
    return value


def _int(obj: dict[str, Any], name: str, low: int, high: int) -> int:
    value: int = _field(obj, name, int)
    if not low <= value <= high:
        raise EnvelopeError("bad_field", f"envelope field {name!r} is out of range "
                            f"{low}..{high}")
    return value


def _event_hint(obj: dict[str, Any]) -> EventHint:
    if obj.get("k") != "e":
        raise EnvelopeError("unsigned", "an unsigned envelope that is not an event hint")
    return EventHint(_int(obj, "s", 1, MAX_SEQ))


def _broadcast(obj: dict[str, Any]) -> Broadcast:
    node = _name(obj, "n")
    path = _name(obj, "path", optional=True)
    message: str | bytes
    if "b64" in obj:
        try:
            message = base64.b64decode(_field(obj, "b64", str), validate=True)
        except (binascii.Error, ValueError):
            raise EnvelopeError("bad_field", "envelope field 'b64' is not base64") from None
    else:
        message = _field(obj, "t", str)
    assert node is not None
    return Broadcast(node, path, message)


def _publication(obj: dict[str, Any]) -> Publication:
    node = _name(obj, "n")
    channel = _name(obj, "ch")
    if "d" not in obj:
        raise EnvelopeError("bad_field", "envelope field 'd' is missing")
    sender = obj.get("from")
    if sender is not None:
        sender = _int(obj, "from", 0, MAX_SENDER)
    assert node is not None and channel is not None
    return Publication(node, channel, obj["d"], sender)
