"""Bus envelopes without a socket: sealed with the cluster's key, every malformed shape refused
with a stable kind (wslab.protocol.bus)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

import wslab
from wslab.protocol import bus

KEY = b"k" * 32


def test_a_sealed_broadcast_and_publication_open_to_what_was_sealed():
    for env in (bus.Broadcast("n1", "/echo", "hi"), bus.Broadcast("n1", None, b"\x00\xff"),
                bus.Publication("n1", "news", {"x": [1, 2]}, 7),
                bus.Publication("n1", "news", None, None)):
        assert bus.open_envelope(bus.seal(env, KEY), KEY) == env


def test_an_event_hint_is_plain_json_as_the_numbering_script_publishes_it():
    assert bus.open_envelope(b'{"k":"e","s":12,"d":{"a":1}}', KEY) == bus.EventHint(12)
    assert bus.open_envelope('{"k":"e","s":1}', KEY) == bus.EventHint(1)


def _sealed(obj: object, key: bytes = KEY) -> bytes:
    body = json.dumps(obj).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest().encode() + b"." + body


@pytest.mark.parametrize(("raw", "kind"), [
    (b"[1, 2]", "unsigned"), (b"42", "unsigned"), (b'"s"', "unsigned"), (b"null", "unsigned"),
    (b"\xff\xfe{", "unsigned"), (b"{\xff}", "not_text"), (b"{not json", "not_json"),
    (b'{"k":"b","n":"x","t":"forged"}', "unsigned"),
    (b'{"k":"e","s":"12"}', "bad_field"), (b'{"k":"e","s":1e999}', "bad_field"),
    (b'{"k":"e","s":0}', "bad_field"), (b'{"k":"e","s":true}', "bad_field"),
    (b'{"k":"e","s":9007199254740993}', "bad_field"), (b'{"k":"e"}', "bad_field"),
    (b"[" * 100_000, "unsigned"), (b"{" + b'"a":[' * 100_000, "not_json"),
    (_sealed({"k": "b", "n": "x"}), "bad_field"),                       # no t / b64
    (_sealed({"k": "b", "n": "x", "t": 5}), "bad_field"),              # wrong type
    (_sealed({"k": "b", "n": "x", "b64": "%%%"}), "bad_field"),        # not base64
    (_sealed({"k": "b", "n": "", "t": "x"}), "bad_field"),             # empty node
    (_sealed({"k": "b", "n": "x" * 300, "t": "x"}), "bad_field"),      # long node
    (_sealed({"k": "p", "n": "x", "d": 1}), "bad_field"),              # no channel
    (_sealed({"k": "p", "n": "x", "ch": "c"}), "bad_field"),           # no data
    (_sealed({"k": "p", "n": "x", "ch": "c", "d": 1, "from": 2 ** 70}), "bad_field"),
    (_sealed({"k": "e", "s": 5}), "unknown_kind"),                     # events are not signed
    (_sealed([1]), "not_object"),
    (_sealed({"k": "b", "n": "x", "t": "forged"}, b"other key " * 4), "bad_mac"),
])
def test_every_malformed_or_forged_message_is_refused_with_its_kind(raw, kind):
    with pytest.raises(bus.EnvelopeError) as info:
        bus.open_envelope(raw, KEY)
    assert info.value.kind == kind and kind in bus.ERROR_KINDS
    assert isinstance(info.value, wslab.WSLabError)


def test_a_tampered_body_fails_its_mac():
    sealed = bus.seal(bus.Broadcast("n1", None, "pay 10"), KEY)
    with pytest.raises(bus.EnvelopeError) as info:
        bus.open_envelope(sealed.replace(b"pay 10", b"pay 99"), KEY)
    assert info.value.kind == "bad_mac"


def test_a_huge_message_is_refused_before_it_is_read():
    with pytest.raises(bus.EnvelopeError) as info:
        bus.open_envelope(b"{" + b" " * 2000, KEY, max_bytes=1000)
    assert info.value.kind == "too_big"


def test_a_short_key_is_refused():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        bus.check_key(b"short")
