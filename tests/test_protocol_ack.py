"""The ``/ack`` protocol without a socket: parsing, bounds, replies, event fan-out
(wslab.protocol.ack over the memory store; the stores themselves: test_ack_stores.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

import wslab
from wslab.net.server.ack import MemoryAckStore
from wslab.protocol.ack import (
    SEQ_MAX,
    AckConnState,
    AckError,
    AckLimits,
    AckProtocol,
    Hello,
    Msg,
    event_message,
    parse_message,
)

LIMITS = AckLimits()


def run(proto: AckProtocol, state: AckConnState, message: str | bytes) -> list[dict]:
    return [json.loads(r) for r in asyncio.run(proto.handle(state, message))]


@pytest.mark.parametrize("text,parsed", [
    ('{"op": "hello", "session": "s-1:@x", "last_seen": 4}', Hello("s-1:@x", 4)),
    ('{"op": "hello", "session": "s"}', Hello("s", 0)),
    ('{"op": "hello", "session": "s", "last_seen": null}', Hello("s", 0)),
    (f'{{"op": "hello", "session": "s", "last_seen": {SEQ_MAX}}}', Hello("s", SEQ_MAX)),
    ('{"op": "msg", "seq": 1, "data": {"a": [1, "\u00e9"]}}',
     Msg(1, {"a": [1, "\u00e9"]}, '{"a":[1,"\\u00e9"]}')),
    ('{"op": "msg", "seq": 2}', Msg(2, None, "null")),
])
def test_good_messages_parse(text, parsed):
    assert parse_message(text, LIMITS) == parsed


@pytest.mark.parametrize("message,attached,rule", [
    (b'{"op": "hello", "session": "s"}', False, "not binary"),
    ("{", False, "expected JSON"),
    ("[" * 100_000, False, "expected JSON"),  # too deep for json: still a clear error
    ('"op"', False, "JSON object"),
    ('{"op": "hello", "session": "' + "x" * 129 + '"}', False, "1-128 printable ASCII"),
    ('{"op": "hello", "session": "a b"}', False, "session id"),
    ('{"op": "hello", "session": "s", "last_seen": -1}', False, "last_seen"),
    ('{"op": "hello", "session": "s", "last_seen": 1e3}', False, "last_seen"),
    ('{"op": "msg", "seq": 1}', False, "send hello first"),
    ('{"op": "msg", "seq": 0}', True, "seq"),
    ('{"op": "msg", "seq": false}', True, "seq"),
    ('{"op": "bye"}', False, "send hello first"),
    ('{"op": "bye"}', True, "unknown op 'bye'"),
    ('{"op": ["hello"]}', True, "op is a string"),
])
def test_bad_messages_name_their_rule(message, attached, rule):
    with pytest.raises(AckError, match=rule) as info:
        parse_message(message, LIMITS, attached=attached)
    assert isinstance(info.value, wslab.WSLabError)


@pytest.mark.parametrize("changes", [{"replay_max": 0}, {"sessions_max": True},
                                     {"keep_delivered_bytes": 1.5}, {"session_ttl": 0},
                                     {"session_ttl": "600"}, {"session_id_max": -3}])
def test_limits_are_checked_once_where_they_are_made(changes):
    with pytest.raises(ValueError, match=next(iter(changes)).replace("session_ttl",
                                                                     "ack_session_ttl")):
        AckLimits(**changes)


def test_a_session_over_a_hello_a_duplicate_and_a_gap():
    proto = AckProtocol(MemoryAckStore())
    delivered = []
    proto.on_deliver = lambda sid, data: delivered.append((sid, data))
    st = AckConnState()
    assert run(proto, st, '{"op": "hello", "session": "s", "last_seen": 0}') \
        == [{"op": "welcome", "next": 1, "replayed": 0, "lost": 0, "new": True}]
    assert run(proto, st, '{"op": "msg", "seq": 1, "data": "a"}') == [{"op": "ack", "seq": 1}]
    assert run(proto, st, '{"op": "msg", "seq": 1, "data": "a"}') == [{"op": "ack", "seq": 1}]
    assert run(proto, st, '{"op": "msg", "seq": 3, "data": "c"}') == []
    assert delivered == [("s", "a")]


def test_replay_and_lost_come_from_one_rule():
    store = MemoryAckStore(replay_max=2)
    proto = AckProtocol(store)
    for i in range(5):
        store.add_event_now(json.dumps(i))
    st = AckConnState()
    got = run(proto, st, '{"op": "hello", "session": "s", "last_seen": 1}')
    assert got == [{"op": "welcome", "next": 1, "replayed": 2, "lost": 2, "new": True},
                   {"op": "event", "seq": 4, "data": 3}, {"op": "event", "seq": 5, "data": 4}]
    assert st.last_event == 5


def test_events_go_once_in_order_and_wait_for_a_hello_in_progress():
    proto = AckProtocol(MemoryAckStore())
    st = AckConnState()
    assert proto.event_for(st, 1, event_message(1, "1")) is None  # no hello yet
    run(proto, st, '{"op": "hello", "session": "s", "last_seen": 0}')
    assert proto.event_for(st, 2, "two") == "two"
    assert proto.event_for(st, 2, "two") is None  # never twice
    assert proto.event_for(st, 1, "one") is None  # never backwards
    st.syncing = []  # a hello is reading the store: events wait for it
    assert proto.event_for(st, 3, "three") is None
    assert st.syncing == [(3, "three")]


def test_a_full_store_refuses_a_new_session_with_an_error_reply():
    proto = AckProtocol(MemoryAckStore(sessions_max=1))
    a, b = AckConnState(), AckConnState()
    run(proto, a, '{"op": "hello", "session": "a"}')
    assert run(proto, b, '{"op": "hello", "session": "b"}') \
        == [{"op": "error", "error": "too many sessions (1); try again later"}]
    assert b.session is None and b.syncing is None
